/**
 * The client: submits tasks to a scheduler and fetches results from workers.
 *
 * @module
 */
import type {
  ClientOperations,
  SchedulerOperations,
  TaskArg,
  TaskErrorInfo,
  TaskSpec,
  TaskStreamRecord,
  TaskStreamRequest,
  WorkerDescription,
} from "../protocol/mod.ts";
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  PROTOCOL_VERSION,
} from "../protocol/version.ts";
import { checkAuthToken } from "../comm/handshake.ts";
import { Batcher } from "../comm/batcher.ts";
import { connect } from "../comm/server.ts";
import type { TlsOptions } from "../comm/tls.ts";
import type { RpcPeer } from "../comm/rpc.ts";
import { type LogFunction, roleLog } from "../comm/log.ts";
import {
  ConnectionClosedError,
  RemoteError,
  RequestTimeoutError,
} from "../comm/errors.ts";
import { fetchFromHolders } from "../transfer/fetch_loop.ts";
import { WorkerPeers } from "../transfer/peers.ts";
import { deserialize, serialize } from "../serialize/serialize.ts";
import { framesByteLength } from "../serialize/frames.ts";
import { Future, type FutureOwner } from "./future.ts";
import { type ProgressOptions, showProgress } from "./progress.ts";
import { cancelledInfo, taskErrorFor } from "./cancelled_error.ts";
import { checkTaskOptions, type TaskOptions } from "./task_options.ts";
import {
  callName,
  checkedTaskArgs,
  futuresIn,
  replaceFutures,
} from "./nested.ts";
import {
  heartbeatTimeoutOf,
  SchedulerLostError,
  type SchedulerWatch,
  watchScheduler,
} from "./liveness.ts";

/**
 * An argument of a task function, as a proxy call takes it: for a
 * parameter of type `T`, a `T`, a {@linkcode Future} of it, or, when `T` is
 * an array, a plain object, a `Map` or a `Set`, the same container whose
 * elements may themselves be futures (to any depth). Typed arrays,
 * `ArrayBuffer`s, `Date`s and functions are taken as they are.
 *
 * @example
 * ```ts
 * import type { Future, MaybeFuture } from "@spillway/spillway";
 * declare const f: Future<number>;
 * const args: MaybeFuture<number>[] = [1, f]; // a value or a future of it
 * const list: MaybeFuture<number[]> = [1, f, 3]; // futures inside an array
 * const byName: MaybeFuture<{ a: number; b: Map<string, number> }> = {
 *   a: f,
 *   b: new Map([["x", f]]),
 * };
 * ```
 */
export type MaybeFuture<T> = Future<T> | FuturesInside<T>;

/**
 * `T`, or, when `T` is an array, a tuple, a plain object, a `Map` or a
 * `Set`, the same container whose elements may be futures (see
 * {@linkcode MaybeFuture}). Typed arrays, `ArrayBuffer`s, `Date`s and
 * functions are `T` itself.
 *
 * @example
 * ```ts
 * import type { Future, FuturesInside } from "@spillway/spillway";
 * declare const f: Future<number>;
 * const pair: FuturesInside<[number, string]> = [f, "b"];
 * ```
 */
export type FuturesInside<T> = T extends Opaque ? T
  : T extends ReadonlyMap<infer K, infer V>
    ? ReadonlyMap<MaybeFuture<K>, MaybeFuture<V>>
  : T extends ReadonlySet<infer E> ? ReadonlySet<MaybeFuture<E>>
  : T extends readonly unknown[] ? { [I in keyof T]: MaybeFuture<T[I]> }
  : T extends object ? { [K in keyof T]: MaybeFuture<T[K]> }
  : T;

/**
 * A module's exports as task submitters: each exported function takes the
 * same parameters (any of them may be a {@linkcode Future}) and returns a
 * `Future` of its awaited result. Nothing runs on the client.
 * `withOptions(options)` returns a proxy whose calls submit with those
 * {@linkcode TaskOptions} (over the proxy's own); an export named
 * `withOptions` is hidden by it.
 *
 * @example
 * ```ts
 * import type { Client, Future, ModuleProxy } from "@spillway/spillway";
 * type Ops = { inc(x: number): number };
 * declare const client: Client;
 * const ops: ModuleProxy<Ops> = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * const two: Future<number> = ops.inc(ops.inc(0));
 * const urgent: Future<number> = ops.withOptions({ priority: 10, retries: 2 }).inc(1);
 * ```
 */
export type ModuleProxy<M> =
  & {
    [
      // deno-lint-ignore no-explicit-any
      K in keyof M as M[K] extends (...args: any[]) => unknown
        ? K extends "withOptions" ? never : K
        : never
    ]: M[K] extends (...args: infer A) => infer R
      ? (...args: { [I in keyof A]: MaybeFuture<A[I]> }) => Future<Awaited<R>>
      : never;
  }
  & {
    /**
     * The same module's functions, submitting with `options` over this
     * proxy's own.
     *
     * @throws {RangeError | TypeError} For malformed options.
     */
    withOptions(options: TaskOptions): ModuleProxy<M>;
  };

/**
 * What {@linkcode Client.gather} resolves to for `T`: each future's value
 * in its place, in the same containers.
 *
 * @example
 * ```ts
 * import type { Future, Gathered } from "@spillway/spillway";
 * const values: Gathered<{ a: Future<number>; b: [Future<string>, boolean] }> = {
 *   a: 1,
 *   b: ["two", true],
 * };
 * ```
 */
export type Gathered<T> = T extends Future<infer R> ? R
  : T extends Opaque ? T
  : T extends ReadonlyMap<infer K, infer V> ? Map<Gathered<K>, Gathered<V>>
  : T extends ReadonlySet<infer E> ? Set<Gathered<E>>
  : T extends readonly unknown[] ? { -readonly [I in keyof T]: Gathered<T[I]> }
  : T extends object ? { -readonly [K in keyof T]: Gathered<T[K]> }
  : T;

/**
 * Values never looked into for futures: binary data, dates, functions.
 *
 * @example
 * ```ts
 * import type { Opaque } from "./client.ts";
 * const bytes: Opaque = new Uint8Array(8);
 * ```
 */
export type Opaque =
  | ArrayBufferLike
  | ArrayBufferView
  | Date
  | ((...args: never[]) => unknown);

/** The client whose module proxy made each submitting function. */
const proxyOwners = new WeakMap<object, Client>();

/**
 * Options of {@linkcode Client.connect}.
 *
 * @example
 * ```ts
 * import { Client, type ClientOptions } from "@spillway/spillway";
 * const options: ClientOptions = { log: (line) => console.log(`[client] ${line}`) };
 * await using client = await Client.connect("tcp://127.0.0.1:8786", options);
 * ```
 */
export interface ClientOptions {
  /**
   * Log lines go here (the message, its level, its fields). Default: the
   * process's log, as `client` (see `configureLogging`).
   */
  log?: LogFunction;
  /**
   * How long (ms) the scheduler may stay silent (its connection open but
   * no reply to the client's pings) before the client gives it up: every
   * pending `result()` then rejects with a `SchedulerLostError` naming its
   * address, and the client is closed. A closed connection (a killed
   * scheduler) is noticed at once. Also the longest `connect` waits for
   * the scheduler's hello. Default 30 000.
   */
  heartbeatTimeout?: number;
  /**
   * TLS (PEM text) for a `tls://` scheduler and its workers: `ca` verifies
   * their certificates; `cert` and `key` are this client's, for a cluster
   * that requires client certificates (mutual TLS). A `LocalCluster`
   * started with `tls: true` gives them as `cluster.tls`.
   */
  tls?: TlsOptions;
  /**
   * The cluster's shared secret, proven in the handshake with the
   * scheduler and with each worker results are fetched from; null or
   * absent for none. `Client.connect(cluster)` takes the cluster's.
   */
  authToken?: string | null;
  /**
   * The largest message accepted from the scheduler and workers, in
   * bytes. Default `DEFAULT_MAX_MESSAGE_SIZE` (16 GiB).
   */
  maxMessageSize?: number;
}

/**
 * Where a cluster is and how to prove oneself to it: what
 * `Client.connect(cluster)` takes from a `LocalCluster` (or any object
 * with these fields).
 *
 * @example
 * ```ts
 * import { Client, type ClusterCredentials } from "@spillway/spillway";
 * const cluster: ClusterCredentials = {
 *   address: "tcp://10.0.0.5:8786",
 *   authToken: Deno.env.get("SPILLWAY_AUTH_TOKEN") ?? null,
 * };
 * await using client = await Client.connect(cluster);
 * ```
 */
export interface ClusterCredentials {
  /** The scheduler's address, `tcp://host:port` (or `tls://host:port`). */
  readonly address: string;
  /** The cluster's auth token, or null for none. */
  readonly authToken: string | null;
  /** TLS material for a `tls://` cluster, if any. */
  readonly tls?: TlsOptions | null;
}

/** `options`, with what `target` (a cluster) says where they do not. */
function withCredentials(
  target: string | ClusterCredentials,
  options: ClientOptions,
): ClientOptions {
  if (typeof target === "string") return options;
  const tls = options.tls ?? target.tls ?? undefined;
  return {
    ...options,
    authToken: options.authToken !== undefined
      ? options.authToken
      : target.authToken,
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** How long a result that no worker can give is waited for (a recompute). */
const FETCH_PATIENCE_MS = 10 * 60_000;

interface PendingFetch {
  key: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface KeyStatus {
  settled: "done" | "erred" | null;
  error?: TaskErrorInfo;
  /** Where the scheduler said the value was, when it said it was done. */
  who?: string[];
  waiters: Array<() => void>;
}

/**
 * A connection to a Spillway cluster.
 *
 * @example
 * ```ts
 * import { Client, LocalCluster } from "@spillway/spillway";
 * // The task module's type; a real program writes `typeof import("./ops.ts")`.
 * type Ops = {
 *   chunk(seed: number, n: number): Float64Array;
 *   dot(a: Float64Array, b: Float64Array): number;
 * };
 * await using cluster = await LocalCluster.start({ workers: 2, memoryLimit: "1GiB" });
 * await using client = await Client.connect(cluster.address);
 * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * const s = ops.dot(ops.chunk(0, 1_000_000), ops.chunk(1, 1_000_000));
 * const total: number = await s.result();
 * ```
 */
export class Client implements FutureOwner, AsyncDisposable {
  readonly #scheduler: RpcPeer<SchedulerOperations, ClientOperations>;
  readonly #log: LogFunction;
  readonly #keys = new Map<string, KeyStatus>();
  /** Connections to the workers results are fetched from. */
  readonly #workers: WorkerPeers;
  #pending: TaskSpec[] = [];
  #pendingWanted: string[] = [];
  #flush: Promise<void> | null = null;
  #counter = 0;
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  #closed = false;
  /** Why the client closed on its own: the scheduler was lost. */
  /**
   * Why the client ended, once it has: the scheduler was lost, or
   * `close()` was called. Pending and later calls reject with it.
   */
  #ended: Error | null = null;
  #watch: SchedulerWatch | null = null;
  /** Futures dropped without `release()` are released when collected. */
  readonly #collected = new FinalizationRegistry<string>((key) =>
    this.releaseKey(key)
  );
  readonly #releases = new Batcher<string>((keys) => this.#releaseMany(keys));
  readonly #releasing = new Set<Promise<void>>();
  /** Results asked for in one turn are fetched together: one get-data per worker. */
  readonly #fetches = new Batcher<PendingFetch>((batch) =>
    this.#fetchMany(batch)
  );

  private constructor(
    scheduler: RpcPeer<SchedulerOperations, ClientOperations>,
    log: LogFunction,
    tls?: TlsOptions,
    auth: { authToken: string | null; maxMessageBytes: number } = {
      authToken: null,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_SIZE,
    },
  ) {
    this.#scheduler = scheduler;
    this.#log = log;
    this.#workers = new WorkerPeers({ log, ...(tls ? { tls } : {}), ...auth });
  }

  /**
   * Connects to the scheduler at `address` (`tcp://host:port`), or to a
   * cluster (a `LocalCluster`, or any {@linkcode ClusterCredentials}),
   * taking its address, auth token and TLS material (`options` given
   * explicitly win). Fails at once, naming the address, when nothing
   * listens there, when it is a worker's address, when the handshake
   * fails ("authentication failed": the two sides do not hold the same
   * `authToken`; or another protocol version, both named), or when it
   * does not answer within the heartbeat timeout. From then on the client
   * watches the scheduler (see {@linkcode ClientOptions.heartbeatTimeout}).
   */
  static async connect(
    target: string | ClusterCredentials,
    clientOptions: ClientOptions = {},
  ): Promise<Client> {
    const address = typeof target === "string" ? target : target.address;
    const options = withCredentials(target, clientOptions);
    const auth = {
      authToken: checkAuthToken(options.authToken),
      maxMessageBytes: maxMessageSizeOf(options.maxMessageSize),
    };
    const log = options.log ?? roleLog("client");
    const heartbeatTimeout = heartbeatTimeoutOf(options.heartbeatTimeout);
    // The handlers run once the client exists: notifications only come
    // after register-client.
    const ready: { client?: Client } = {};
    let peer: RpcPeer<SchedulerOperations, ClientOperations>;
    try {
      peer = await connect<SchedulerOperations, ClientOperations>(address, {
        log,
        ...auth,
        protocolVersion: PROTOCOL_VERSION,
        // A scheduler that does not answer is lost within the heartbeat
        // timeout, the handshake included.
        handshakeTimeout: heartbeatTimeout,
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
        handlers: {
          "task-done": ({ keys, who }) => {
            for (const key of keys) {
              if (ready.client) {
                ready.client.#settle(key, "done", undefined, who?.[key]);
              }
            }
          },
          "task-erred": ({ key, error }) => {
            if (ready.client) ready.client.#settle(key, "erred", error);
          },
        },
      });
    } catch (error) {
      if (
        error instanceof ConnectionClosedError &&
        / not completed within \d+ ms$/.test(error.message)
      ) {
        throw new SchedulerLostError(
          address,
          `no reply to the handshake within ${heartbeatTimeout} ms`,
          { cause: error },
        );
      }
      throw new Error(
        `could not connect to the scheduler at ${address}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const client = new Client(peer, log, options.tls, auth);
    ready.client = client;
    try {
      await peer.request("register-client", {}, {
        timeout: heartbeatTimeout,
      });
    } catch (error) {
      peer.close();
      throw notASchedulerError(address, error);
    }
    client.#watch = watchScheduler({
      address,
      heartbeatTimeout,
      closed: peer.closed,
      ping: (timeout) => peer.request("ping", undefined, { timeout }),
      onLost: (error) => client.#schedulerLost(error),
    });
    return client;
  }

  /**
   * The scheduler is gone: every pending `result()` rejects with `error`,
   * and so does every later call; connections are closed.
   */
  #schedulerLost(error: SchedulerLostError): void {
    if (this.#closed) return;
    this.#log(error.message, "error");
    this.#ended = error;
    this.#closed = true;
    this.#scheduler.close();
    this.#workers.close();
    for (const status of this.#keys.values()) {
      for (const wake of status.waiters.splice(0)) wake();
    }
  }

  /**
   * The exports of the module at `url` as task submitters, typed after
   * `M` (`typeof import("./ops.ts")`). Workers import the module by URL, so
   * it must be reachable from them (`file:` on a shared filesystem, or
   * `https:`). `options` ({@linkcode TaskOptions}: `retries`, `priority`)
   * apply to every call through the proxy; `proxy.withOptions(options)`
   * gives a proxy with more.
   *
   * @throws {RangeError | TypeError} For malformed options.
   *
   * @example
   * ```ts
   * import type { Client } from "@spillway/spillway";
   * type Ops = { load(path: string): Float64Array; sum(a: Float64Array): number };
   * declare const client: Client;
   * const url = new URL("./ops.ts", import.meta.url);
   * const ops = client.module<Ops>(url, { retries: 2 }); // flaky loads retried
   * const total = ops.withOptions({ priority: 10 }).sum(ops.load("/data/a"));
   * ```
   */
  module<M>(url: URL | string, options: TaskOptions = {}): ModuleProxy<M> {
    return this.#moduleProxy<M>(moduleUrl(url), checkTaskOptions(options));
  }

  #moduleProxy<M>(href: string, options: TaskOptions): ModuleProxy<M> {
    return new Proxy({}, {
      get: (_target, name) => {
        if (typeof name !== "string" || name === "then") return undefined;
        if (name === "withOptions") {
          return (more: TaskOptions) =>
            this.#moduleProxy<M>(href, {
              ...options,
              ...checkTaskOptions(more),
            });
        }
        return this.#proxyFunction((...args: unknown[]) =>
          this.#submit(href, name, args, options)
        );
      },
    }) as ModuleProxy<M>;
  }

  /** Submits one call of `exportName` of the module at `url`; untyped. */
  submit<T = unknown>(
    url: URL | string,
    exportName: string,
    ...args: unknown[]
  ): Future<T> {
    return this.#submit(moduleUrl(url), exportName, args);
  }

  /** Queues one task; `module` is an already checked URL, `options` checked. */
  #submit<T>(
    module: string,
    exportName: string,
    args: unknown[],
    options: TaskOptions = {},
  ): Future<T> {
    this.#assertOpen();
    // A bad argument fails this call only, before anything is queued.
    const taskArgs: TaskArg[] = checkedTaskArgs(
      args,
      callName(module, exportName),
    );
    const key = `${exportName}-${this.#prefix}-${++this.#counter}`;
    this.#pending.push({
      key,
      module,
      exportName,
      args: taskArgs,
      ...options,
    });
    this.#want(key);
    return this.#track(new Future<T>(key, this));
  }

  /**
   * Marks `fn` as a submitter of this client's module proxies (what
   * {@linkcode Client.map} accepts) and returns it.
   */
  #proxyFunction<F extends (...args: never[]) => unknown>(fn: F): F {
    proxyOwners.set(fn, this);
    return fn;
  }

  /**
   * Calls `fn`, a function of a module proxy of this client, once per
   * element: several iterables are zipped, and the calls stop at the
   * shortest (as Python's `zip`). Returns the futures, in order. Dask's
   * `client.map`.
   *
   * @param fn a function of `client.module(...)`, e.g. `ops.inc`
   * @param iterables one per parameter of `fn`
   * @throws {TypeError} if `fn` is not a function of this client's proxies
   * @throws {SerializationError} for an element that cannot be sent (the
   *   futures made before it are released)
   *
   * @example
   * ```ts
   * import type { Client, Future } from "@spillway/spillway";
   * type Ops = { add(x: number, y: number): number };
   * declare const client: Client;
   * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
   * const sums: Future<number>[] = client.map(ops.add, [1, 2, 3], [10, 20, 30]);
   * console.log(await client.gather(sums)); // [11, 22, 33]
   * ```
   */
  map<A extends readonly unknown[], R>(
    fn: (...args: A) => Future<R>,
    ...iterables: { [I in keyof A]: Iterable<A[I]> }
  ): Future<R>[] {
    this.#assertOpen();
    if (proxyOwners.get(fn) !== this) {
      throw new TypeError(
        "client.map takes a function of one of this client's module proxies (ops.fn from client.module(url)), not a local function",
      );
    }
    if (iterables.length === 0) {
      throw new TypeError("client.map needs at least one iterable");
    }
    const iterators = (iterables as readonly Iterable<unknown>[]).map((it) =>
      it[Symbol.iterator]()
    );
    const futures: Future<R>[] = [];
    try {
      for (;;) {
        const args: unknown[] = [];
        for (const iterator of iterators) {
          const next = iterator.next();
          if (next.done) return futures;
          args.push(next.value);
        }
        try {
          futures.push(fn(...args as unknown as A));
        } catch (error) {
          if (error instanceof Error) {
            error.message =
              `client.map, element ${futures.length} (from 0): ${error.message}`;
          }
          throw error;
        }
      }
    } catch (error) {
      for (const future of futures) future.release();
      throw error;
    } finally {
      for (const iterator of iterators) iterator.return?.();
    }
  }

  /**
   * The values of futures, in the shape they were given: a future gives its
   * value; an array, a plain object, a `Map` or a `Set` gives the same
   * container with each future inside (to any depth) replaced by its value.
   * Rejects if one of them failed.
   *
   * @example
   * ```ts
   * import type { Client, Future } from "@spillway/spillway";
   * declare const client: Client;
   * declare const a: Future<number>, b: Future<string>;
   * const [x, y] = await client.gather([a, b]); // x: number, y: string
   * const { n, names } = await client.gather({ n: a, names: new Map([["b", b]]) });
   * ```
   */
  async gather<const T>(futures: T): Promise<Gathered<T>> {
    const all = futuresIn(futures);
    const values = await Promise.all(all.map((f) => f.result()));
    const byFuture = new Map<Future, unknown>();
    all.forEach((f, i) => byFuture.set(f, values[i]));
    return replaceFutures(futures, (f) => byFuture.get(f)) as Gathered<T>;
  }

  /**
   * Puts a value into the cluster without a task: it goes to the worker
   * with the least managed memory (or to every worker with `broadcast`).
   */
  async scatter<T>(
    value: T,
    options: { broadcast?: boolean } = {},
  ): Promise<Future<T>> {
    this.#assertOpen();
    const frames = serialize(value);
    const workers = await this.workers();
    if (workers.length === 0) throw new Error("no workers to scatter to");
    workers.sort((a, b) => (a.store?.managed ?? 0) - (b.store?.managed ?? 0));
    const targets = options.broadcast ? workers : workers.slice(0, 1);
    const key = `scatter-${this.#prefix}-${++this.#counter}`;
    await Promise.all(targets.map(async (w) => {
      const peer = await this.#workers.get(w.address);
      await peer.request("put-data", { data: { [key]: frames } });
    }));
    this.#want(key);
    await this.#scheduler.request("add-data", {
      key,
      workers: targets.map((w) => w.address),
      nbytes: framesByteLength(frames),
    });
    return this.#track(new Future<T>(key, this));
  }

  /** Per worker: address, host, memory limit, store metrics and process memory. */
  async workers(): Promise<WorkerDescription[]> {
    this.#assertOpen();
    return await this.#scheduler.request("workers");
  }

  /**
   * What the workers recorded of recent tasks (Dask's `get_task_stream`):
   * for each task, oldest first, its key, function name, worker and
   * executor thread, and the time of each phase there (`queued`,
   * `memory-wait`, `transfer`, `disk-read`, `deserialize`, `compute`,
   * `store`, `disk-write`; start and stop in epoch milliseconds, with the
   * bytes moved where there are some). The scheduler keeps the latest
   * 100,000 tasks.
   *
   * @param options `since`: only tasks whose last phase ended at or after
   *   this time (epoch milliseconds, e.g. `Date.now()` before a run).
   * @example
   * ```ts
   * import type { Client } from "./client.ts";
   * // Seconds of compute per function, over the tasks since `since`.
   * async function computeSeconds(client: Client, since: number) {
   *   const seconds = new Map<string, number>();
   *   for (const task of await client.taskStream({ since })) {
   *     for (const s of task.startstops) {
   *       if (s.action !== "compute") continue;
   *       seconds.set(task.name, (seconds.get(task.name) ?? 0) + (s.stop - s.start) / 1000);
   *     }
   *   }
   *   return seconds;
   * }
   * ```
   */
  async taskStream(
    options: TaskStreamRequest = {},
  ): Promise<TaskStreamRecord[]> {
    this.#assertOpen();
    return await this.#scheduler.request("task-stream", options);
  }

  /**
   * Shows the futures' progress until every one has settled (Dask's
   * `progress`): per task function, a bar with done / total (and how many
   * failed), and the bytes on the workers' disks, spilled and moved
   * between workers meanwhile. Redrawn in place when stdout is a terminal;
   * otherwise a plain line each time another tenth has settled. Resolves
   * once all have finished or failed; never rejects.
   *
   * @param futures The futures to follow.
   * @param options `write` (default stdout), `tty`, `interval` (ms).
   * @returns When every future has settled.
   * @example
   * ```ts
   * import type { Client } from "@spillway/spillway";
   * type Ops = { inc(x: number): number };
   * declare const client: Client;
   * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
   * const futures = Array.from({ length: 100 }, (_, i) => ops.inc(i));
   * await client.progress(futures);
   * // inc [##############################] 100/100
   * // on disk 0 B, spilled 0 B, moved between workers 0 B · 2 s
   * ```
   */
  progress(
    futures: Future | Iterable<Future>,
    options: ProgressOptions = {},
  ): Promise<void> {
    return showProgress(this, futures, options);
  }

  /** @internal Resolves with the value of `key` once computed. */
  async resultOf(key: string): Promise<unknown> {
    await this.#flushNow();
    const status = this.#status(key);
    if (status.settled === null && this.#ended === null) {
      await new Promise<void>((resolve) => status.waiters.push(resolve));
    }
    if (this.#ended !== null) throw this.#ended;
    if (status.settled === "erred") {
      throw taskErrorFor(key, status.error!);
    }
    return await new Promise((resolve, reject) =>
      this.#fetches.push({ key, resolve, reject })
    );
  }

  /** @internal Whether `key`'s task finished, failed (or the scheduler was lost), or neither. */
  outcome(key: string): "done" | "erred" | null {
    const settled = this.#keys.get(key)?.settled ?? null;
    if (settled === null && this.#ended !== null) return "erred";
    return settled;
  }

  /** @internal Resolves once `key`'s task finished or failed (or the scheduler was lost). */
  async whenSettled(key: string): Promise<void> {
    await this.#flushNow().catch(() => {});
    const status = this.#status(key);
    while (status.settled === null && this.#ended === null) {
      await new Promise<void>((resolve) => status.waiters.push(resolve));
    }
  }

  /** @internal A future released by hand needs no release when collected. */
  forget(future: Future): void {
    this.#collected.unregister(future);
  }

  /**
   * Cancels the futures' tasks (Dask's `client.cancel`): a task that has
   * not started is dropped, a running one is stopped (its executor is
   * terminated and replaced; the worker goes on), a result is released;
   * so are the keys only they needed. Each future's `result()` then
   * rejects with a `CancelledError`, and so do those of the tasks that
   * depend on them. The futures keep their claims until released. Resolves
   * once the scheduler has done it.
   *
   * @example
   * ```ts
   * import { CancelledError, type Client } from "@spillway/spillway";
   * type Ops = { spin(ms: number): number };
   * declare const client: Client;
   * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
   * const slow = [ops.spin(60_000), ops.spin(60_000)];
   * await client.cancel(slow);
   * await slow[0].result().catch((e) => console.log(e instanceof CancelledError)); // true
   * ```
   */
  async cancel(futures: Future | Iterable<Future>): Promise<void> {
    const keys = futures instanceof Future
      ? [futures.key]
      : [...futures].map((future) => {
        if (!(future instanceof Future)) {
          throw new TypeError(
            `client.cancel takes futures, got ${String(future)}`,
          );
        }
        return future.key;
      });
    await this.cancelKeys(keys);
  }

  /** @internal Cancels `keys` (after this turn's submissions). */
  async cancelKeys(keys: readonly string[]): Promise<void> {
    this.#assertOpen();
    if (keys.length === 0) return;
    await this.#flushNow();
    await this.#scheduler.request("cancel", { keys: [...keys] });
    // The scheduler's task-erred came first; a key it did not report on
    // (unknown to it, or forgotten) is settled here all the same.
    for (const key of keys) {
      const status = this.#status(key);
      if (status.settled !== "erred") {
        this.#settle(key, "erred", cancelledInfo(key));
      }
    }
  }

  /** @internal Drops one claim on `key`. */
  releaseKey(key: string): void {
    if (this.#closed) return;
    this.#releases.push(key);
  }

  /** Sends the releases of one turn in one message (after pending submissions). */
  #releaseMany(keys: string[]): void {
    const sent: Promise<void> = this.#flushNow()
      .then(() => this.#scheduler.request("release", { keys }))
      .then(
        () => {},
        (e) =>
          this.#log(
            `release of ${keys.length} keys failed: ${(e as Error).message}`,
            "warn",
          ),
      )
      .finally(() => this.#releasing.delete(sent));
    this.#releasing.add(sent);
  }

  /** Disconnects; the cluster forgets what only this client wanted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flushNow().catch(() => {});
    await Promise.resolve(); // let releases of this turn leave
    await Promise.all(this.#releasing);
    if (this.#closed) return; // the scheduler was lost meanwhile
    this.#watch?.stop();
    this.#closed = true;
    // Results still awaited cannot arrive now: say so rather than hang.
    this.#ended = new Error(
      "the client is closed: results it had not received will not arrive",
    );
    for (const status of this.#keys.values()) {
      for (const wake of status.waiters.splice(0)) wake();
    }
    this.#workers.close();
    this.#scheduler.close();
    await this.#scheduler.closed;
  }

  /** Closes the client at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #track<T>(future: Future<T>): Future<T> {
    this.#collected.register(future, future.key, future);
    return future;
  }

  #want(key: string): void {
    this.#pendingWanted.push(key);
    this.#status(key);
    // Submissions made in one turn of the event loop go in one message.
    this.#flush ??= Promise.resolve().then(() => this.#send());
  }

  async #send(): Promise<void> {
    const tasks = this.#pending;
    const wanted = this.#pendingWanted;
    this.#pending = [];
    this.#pendingWanted = [];
    this.#flush = null;
    if (tasks.length === 0 && wanted.length === 0) return;
    try {
      if (tasks.length > 0) {
        await this.#scheduler.request("submit", { tasks, wanted });
      }
    } catch (error) {
      for (const task of tasks) {
        this.#settle(task.key, "erred", {
          key: task.key,
          name: (error as Error).name,
          message: `could not submit ${task.key}: ${(error as Error).message}`,
        });
      }
    }
  }

  async #flushNow(): Promise<void> {
    while (this.#flush !== null) await this.#flush;
  }

  #status(key: string): KeyStatus {
    let status = this.#keys.get(key);
    if (status === undefined) {
      status = { settled: null, waiters: [] };
      this.#keys.set(key, status);
    }
    return status;
  }

  #settle(
    key: string,
    settled: "done" | "erred",
    error?: TaskErrorInfo,
    who?: string[],
  ): void {
    const status = this.#status(key);
    status.settled = settled;
    status.error = error;
    status.who = who;
    for (const wake of status.waiters.splice(0)) wake();
  }

  async #fetchMany(batch: PendingFetch[]): Promise<void> {
    const got = new Map<string, unknown>();
    const keys = [...new Set(batch.map((p) => p.key))];
    // Holders came with the task-done notification; ask only for the rest.
    const who: Record<string, string[]> = {};
    for (const key of keys) {
      const known = this.#keys.get(key)?.who;
      if (known !== undefined && known.length > 0) who[key] = known;
    }
    // One round: what it could not get goes through the one-key path,
    // which waits for recomputations.
    await fetchFromHolders(keys, {
      who,
      whoHas: (keys) => this.#scheduler.request("who-has", { keys }),
      has: (key) => got.has(key),
      fetchFrom: (holder, keys) => this.#getData(holder, keys, got),
      maxRounds: 0,
    }).catch((error) => this.#log(`who-has failed: ${error.message}`, "warn"));
    for (const pending of batch) {
      if (got.has(pending.key)) pending.resolve(got.get(pending.key));
      else {
        this.#fetch(pending.key).then(
          pending.resolve,
          (error) => pending.reject(this.#ended ?? error),
        );
      }
    }
  }

  /**
   * Fetches one key from whichever worker holds it. When none can give it
   * (its holder died), the scheduler recomputes it: wait for its next
   * task-done (or task-erred), re-asking who has it every second, for as
   * long as `FETCH_PATIENCE_MS`.
   */
  async #fetch(key: string): Promise<unknown> {
    const start = performance.now();
    const got = new Map<string, unknown>();
    const status = this.#status(key);
    const settledOrOpen = () => {
      this.#assertOpen();
      if (status.settled === "erred") {
        throw taskErrorFor(key, status.error!);
      }
    };
    settledOrOpen();
    await fetchFromHolders([key], {
      whoHas: (keys) => {
        settledOrOpen();
        return this.#scheduler.request("who-has", { keys });
      },
      has: (key) => got.has(key),
      fetchFrom: (holder, keys) => this.#getData(holder, keys, got),
      maxRounds: Infinity,
      pause: async (round) => {
        if (performance.now() - start > FETCH_PATIENCE_MS) {
          throw new Error(
            `could not fetch ${key} from any worker for ${
              FETCH_PATIENCE_MS / 60_000
            } minutes`,
          );
        }
        // Wait for the recomputed key's task-done, or re-ask after a while.
        if (status.settled === "done") status.settled = null;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          status.waiters.push(resolve);
          timer = setTimeout(resolve, Math.min(1000, 50 * round));
        });
        clearTimeout(timer);
        settledOrOpen();
      },
    });
    return got.get(key);
  }

  /** One `get-data` request to `address`; what it brings goes in `got`. */
  async #getData(
    address: string,
    keys: string[],
    got: Map<string, unknown>,
  ): Promise<void> {
    try {
      const peer = await this.#workers.get(address);
      const reply = await peer.request("get-data", { keys });
      for (const [key, frames] of Object.entries(reply.data)) {
        let value: unknown;
        try {
          value = deserialize(frames);
        } catch (error) {
          // Undecodable here (a codec this process lacks): asking another
          // holder would get the same frames. The result rejects with it.
          const failed = Promise.reject(error);
          failed.catch(() => {});
          value = failed;
        }
        got.set(key, value);
      }
    } catch (error) {
      this.#workers.drop(address);
      this.#log(
        `fetching ${keys.join(", ")} from ${address} failed: ${
          (error as Error).message
        }`,
        "warn",
      );
    }
  }

  #assertOpen(): void {
    if (this.#ended !== null) throw this.#ended;
    if (this.#closed) throw new Error("the client is closed");
  }
}

function moduleUrl(url: URL | string): string {
  const hint =
    'pass the module\'s URL: new URL("./ops.ts", import.meta.url), which workers can import wherever they run';
  if (typeof url === "function") {
    throw new TypeError(
      `a task module is given by its URL, not by a function (${
        (url as { name?: string }).name || "anonymous"
      }): ${hint}`,
    );
  }
  if (!(url instanceof URL) && typeof url !== "string") {
    throw new TypeError(
      `a task module is given by its URL, got ${
        url === null ? "null" : typeof url
      }: ${hint}`,
    );
  }
  if (typeof url === "string" && !URL.canParse(url)) {
    throw new TypeError(
      `task module ${
        JSON.stringify(url)
      } is a path, not a URL (workers import by URL, and a relative path means nothing to them): ${hint}`,
    );
  }
  const parsed = new URL(url);
  if (
    parsed.protocol !== "file:" && parsed.protocol !== "https:" &&
    parsed.protocol !== "http:"
  ) {
    throw new TypeError(
      `task modules are imported by URL (file: or https:), got ${parsed.href}`,
    );
  }
  return parsed.href;
}

/**
 * Why `register-client` failed, in the user's terms: the address is a
 * worker's, or not a Spillway scheduler, or did not answer in time.
 */
function notASchedulerError(address: string, error: unknown): Error {
  if (error instanceof RemoteError) {
    if (error.remoteName === "NotASchedulerError") {
      return new Error(`${address}: ${error.remoteMessage}`, { cause: error });
    }
    if (/unknown operation/.test(error.remoteMessage)) {
      return new Error(
        `${address} is not a Spillway scheduler (it does not serve register-client)`,
        { cause: error },
      );
    }
  }
  if (error instanceof RequestTimeoutError) {
    return new SchedulerLostError(
      address,
      `no reply to register-client within ${error.timeout} ms`,
      { cause: error },
    );
  }
  return new Error(
    `could not register with the scheduler at ${address}: ${
      (error as Error).message
    }`,
    { cause: error },
  );
}

/** The `maxMessageSize` option, checked. */
function maxMessageSizeOf(size: number | undefined): number {
  if (size === undefined) return DEFAULT_MAX_MESSAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 4096) {
    throw new RangeError(
      `maxMessageSize must be an integer number of bytes >= 4096, got ${size}`,
    );
  }
  return size;
}

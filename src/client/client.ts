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
import { Batcher } from "../comm/batcher.ts";
import { connect } from "../comm/server.ts";
import type { RpcPeer } from "../comm/rpc.ts";
import { fetchFromHolders } from "../transfer/fetch_loop.ts";
import { WorkerPeers } from "../transfer/peers.ts";
import { deserialize, serialize } from "../serialize/serialize.ts";
import { framesByteLength } from "../serialize/frames.ts";
import { Future, type FutureOwner, RemoteTaskError } from "./future.ts";

/**
 * An argument of a task function, or a future of it.
 *
 * @example
 * ```ts
 * import type { Future, MaybeFuture } from "@spillway/spillway";
 * declare const f: Future<number>;
 * const args: MaybeFuture<number>[] = [1, f]; // a value or a future of it
 * ```
 */
export type MaybeFuture<T> = T | Future<T>;

/**
 * A module's exports as task submitters: each exported function takes the
 * same parameters (any of them may be a {@linkcode Future}) and returns a
 * `Future` of its awaited result. Nothing runs on the client.
 *
 * @example
 * ```ts
 * import type { Client, Future, ModuleProxy } from "@spillway/spillway";
 * type Ops = { inc(x: number): number };
 * declare const client: Client;
 * const ops: ModuleProxy<Ops> = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * const two: Future<number> = ops.inc(ops.inc(0));
 * ```
 */
export type ModuleProxy<M> = {
  // deno-lint-ignore no-explicit-any
  [K in keyof M as M[K] extends (...args: any[]) => unknown ? K : never]:
    M[K] extends (...args: infer A) => infer R
      ? (...args: { [I in keyof A]: MaybeFuture<A[I]> }) => Future<Awaited<R>>
      : never;
};

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
  /** Log lines go here. Default `console.error`. */
  log?: (message: string) => void;
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
  readonly #log: (message: string) => void;
  readonly #keys = new Map<string, KeyStatus>();
  /** Connections to the workers results are fetched from. */
  readonly #workers: WorkerPeers;
  #pending: TaskSpec[] = [];
  #pendingWanted: string[] = [];
  #flush: Promise<void> | null = null;
  #counter = 0;
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  #closed = false;
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
    log: (message: string) => void,
  ) {
    this.#scheduler = scheduler;
    this.#log = log;
    this.#workers = new WorkerPeers({ log });
  }

  /** Connects to the scheduler at `address` (`tcp://host:port`). */
  static async connect(
    address: string,
    options: ClientOptions = {},
  ): Promise<Client> {
    const log = options.log ?? ((m: string) => console.error(`[client] ${m}`));
    // The handlers run once the client exists: notifications only come
    // after register-client.
    const ready: { client?: Client } = {};
    const peer = await connect<SchedulerOperations, ClientOperations>(address, {
      log,
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
    const client = new Client(peer, log);
    ready.client = client;
    await peer.request("register-client", {});
    return client;
  }

  /**
   * The exports of the module at `url` as task submitters, typed after
   * `M` (`typeof import("./ops.ts")`). Workers import the module by URL, so
   * it must be reachable from them (`file:` on a shared filesystem, or
   * `https:`).
   */
  module<M>(url: URL | string): ModuleProxy<M> {
    const href = moduleUrl(url);
    return new Proxy({}, {
      get: (_target, name) => {
        if (typeof name !== "string" || name === "then") return undefined;
        return (...args: unknown[]) => this.#submit(href, name, args);
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

  /** Queues one task; `module` is an already checked URL. */
  #submit<T>(module: string, exportName: string, args: unknown[]): Future<T> {
    this.#assertOpen();
    const key = `${exportName}-${this.#prefix}-${++this.#counter}`;
    const taskArgs: TaskArg[] = args.map((arg) =>
      arg instanceof Future ? { key: arg.key } : { value: arg }
    );
    this.#pending.push({
      key,
      module,
      exportName,
      args: taskArgs,
    });
    this.#want(key);
    return this.#track(new Future<T>(key, this));
  }

  /** The results of several futures, in order. */
  gather<T extends readonly Future[]>(
    futures: T,
  ): Promise<{ [I in keyof T]: T[I] extends Future<infer R> ? R : never }> {
    return Promise.all(futures.map((f) => f.result())) as Promise<
      { [I in keyof T]: T[I] extends Future<infer R> ? R : never }
    >;
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

  /** @internal Resolves with the value of `key` once computed. */
  async resultOf(key: string): Promise<unknown> {
    await this.#flushNow();
    const status = this.#status(key);
    if (status.settled === null) {
      await new Promise<void>((resolve) => status.waiters.push(resolve));
    }
    if (status.settled === "erred") {
      throw new RemoteTaskError(key, status.error!);
    }
    return await new Promise((resolve, reject) =>
      this.#fetches.push({ key, resolve, reject })
    );
  }

  /** @internal A future released by hand needs no release when collected. */
  forget(future: Future): void {
    this.#collected.unregister(future);
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
    this.#closed = true;
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
    }).catch((error) => this.#log(`who-has failed: ${error.message}`));
    for (const pending of batch) {
      if (got.has(pending.key)) pending.resolve(got.get(pending.key));
      else this.#fetch(pending.key).then(pending.resolve, pending.reject);
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
        throw new RemoteTaskError(key, status.error!);
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
        got.set(key, deserialize(frames));
      }
    } catch (error) {
      this.#workers.drop(address);
      this.#log(
        `fetching ${keys.join(", ")} from ${address} failed: ${
          (error as Error).message
        }`,
      );
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the client is closed");
  }
}

function moduleUrl(url: URL | string): string {
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

/**
 * The worker role: holds data in a {@linkcode SpillBuffer}, runs tasks in
 * Web Worker executors, serves its data to peers and clients, and reports to
 * the scheduler.
 *
 * Data for compute lives in SharedArrayBuffers: spill files are read back
 * into them, messages from peers are received into them, and executors copy
 * their results into them (off this thread). So an input reaches an
 * executor with no copy and nothing lent, and the control loop never
 * clones a large buffer.
 *
 * @module
 */
import { Batcher } from "../comm/batcher.ts";
import { connect, RpcServer } from "../comm/server.ts";
import { ReplyThen, type RpcPeer } from "../comm/rpc.ts";
import {
  decodeFrames,
  type Frames,
  framesByteLength,
} from "../serialize/frames.ts";
import { SpillBuffer } from "../store/spill_buffer.ts";
import { MemoryManager, type MemoryReport } from "../memory/manager.ts";
import { Collector } from "./collector.ts";
import {
  type ComputeMessage,
  type DataReply,
  type GetData,
  type GetSlice,
  type Heartbeat,
  type RegisterWorker,
  SLICE_BYTES,
  type SlicedFile,
  type SpilledFileRef,
  type TaskErredMessage,
  type TaskFinished,
  type TransferFigures,
} from "../scheduler/protocol.ts";
import type { WorkerStatus } from "../scheduler/types.ts";
import { ExecutorPool, TaskError } from "./executor_pool.ts";
import { Room } from "./room.ts";
import { privateMemory } from "./private_memory.ts";
import { SharedTier } from "../store/shared_tier.ts";
import { checkSharedSpillRoot, type SharedSpillRoot } from "../store/tmpfs.ts";
import { reachableBuffers } from "./lend.ts";
import { epochMs, Timeline } from "./timeline.ts";
import { BufferPool } from "./buffer_pool.ts";

/** Spilled keys larger than this go to peers in slices (`get-slice`). */
const SLICE_ABOVE = 4 * 2 ** 20;
/** `get-slice` requests in flight per key fetched. */
const SLICES_IN_FLIGHT = 4;

/** Options of {@linkcode WorkerNode.start}. */
export interface WorkerNodeOptions {
  /** The scheduler's address, `tcp://host:port`. */
  scheduler: string;
  /** Interface to listen on for peers and clients. Default `127.0.0.1`. */
  hostname?: string;
  /** Port; default 0 (a free one). */
  port?: number;
  /** Executor threads. Default 1. */
  nthreads?: number;
  /** Memory limit in bytes; null for none. */
  memoryLimit: number | null;
  /** This worker's spill directory (created; removed on close). */
  spillDir: string;
  /** Host identity. Default `Deno.hostname()`. */
  host?: string;
  /** Heartbeat period, ms. Default 1000. */
  heartbeatInterval?: number;
  /**
   * Bytes of data fetched from peers at once. Default 10% of the memory
   * limit (256 MiB without a limit); one fetch always proceeds.
   */
  transferLimit?: number;
  /**
   * Shared-memory mode: `root` is the host's shared spill root, a tmpfs
   * that `spillDir` lies in. Spilled keys are mapped instead of read,
   * executors map their inputs themselves, and a peer on the same host and
   * tmpfs gets a hard link instead of the bytes. Needs `--allow-ffi`.
   */
  sharedMemory?: { root: string };
  /**
   * Fraction of the memory limit the store keeps in memory before it
   * spills (Dask's target). Default 0.6; 0 spills every result at once
   * (recommended in shared-memory mode for large arrays).
   */
  target?: number;
  /** Log lines go here. Default `console.error`. */
  log?: (message: string) => void;
}

/**
 * A worker process's state and services.
 *
 * @example
 * ```ts ignore
 * import { WorkerNode } from "./worker_node.ts";
 * await using worker = await WorkerNode.start({
 *   scheduler: "tcp://127.0.0.1:8786",
 *   memoryLimit: 2 ** 30,
 *   spillDir: "/tmp/spillway-worker",
 * });
 * ```
 */
export class WorkerNode implements AsyncDisposable {
  readonly store: SpillBuffer;
  /**
   * Shared memory for spill files read back and messages received (see
   * buffer_pool.ts): reused, since fresh memory is slow to fault in here.
   */
  readonly #buffers: BufferPool;
  readonly #options: WorkerNodeOptions;
  readonly #log: (message: string) => void;
  readonly #manager: MemoryManager;
  readonly #pool: ExecutorPool;
  readonly #peers = new Map<string, Promise<RpcPeer>>();
  readonly #running = new Map<string, AbortController>();
  /** Tasks received while paused, with when they came. */
  readonly #waiting: { message: ComputeMessage; received: number }[] = [];
  #server!: RpcServer;
  #scheduler!: RpcPeer;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #status: WorkerStatus = "running";
  /**
   * Bytes of slices received and copied (garbage at once), for the
   * collector: V8 does not count them.
   */
  #sliceBytes = 0;
  /** Bytes of fetches in flight, bounded by the transfer limit. */
  #fetchingBytes = 0;
  readonly #transferLimit: number;
  readonly #fetchQueue: Array<() => void> = [];
  /** Keys being fetched, and the request bringing each. */
  readonly #fetching = new Map<string, Promise<void>>();
  #closed = false;
  /** Collects garbage the store dropped (see collector.ts). */
  readonly #collector = new Collector();
  /** The shared spill root, in shared-memory mode. */
  readonly #shared: SharedSpillRoot | null;
  /** Links that failed, by reason: logged once each. */
  readonly #linkFailures = new Set<string>();
  /** Memory reserved by tasks and fetches under way (see room.ts). */
  readonly #room: Room;
  /** The size of the last result of each function (`module#export`). */
  readonly #resultSizes = new Map<string, number>();
  readonly #transfers: TransferFigures = {
    fetchedKeys: 0,
    fetchedBytes: 0,
    servedKeys: 0,
    servedBytes: 0,
  };
  /**
   * Results go to the scheduler in one notification per batch: while the
   * executors still have tasks, a result waits (at most 2 ms) for the next,
   * so that a worker running many short tasks sends one message per batch,
   * not per task, and a lone result (a chain) goes at once.
   */
  readonly #finished = new Batcher<TaskFinished>((tasks) => {
    this.#scheduler.notify("task-finished", { tasks }).catch(() => {});
  }, { holdWhile: () => this.#pool.busy + this.#pool.queued > 0 });
  /** Resolves when the worker has closed (e.g. after losing its scheduler). */
  readonly finished: Promise<void>;
  #finish!: () => void;

  private constructor(options: WorkerNodeOptions) {
    this.#options = options;
    this.#log = options.log ?? ((m) => console.error(`[worker] ${m}`));
    // Checked first: a wrong root is a clear error, before anything starts.
    this.#shared = options.sharedMemory === undefined
      ? null
      : checkSharedSpillRoot(
        options.sharedMemory.root,
        options.memoryLimit ?? 0,
      );
    for (const warning of this.#shared?.warnings ?? []) this.#log(warning);
    const limit = options.memoryLimit;
    const ownMemory = this.#shared === null
      ? () => Deno.memoryUsage().rss
      : privateMemory; // mapped tmpfs pages are the tmpfs's
    // What the memory manager and the room count: not the free pooled
    // buffers, which the next reads take. Those may fill the memory up to
    // the spill threshold, and are let go of past the pause threshold.
    const counted = () => ownMemory() - this.#buffers.freeBytes;
    this.#buffers = new BufferPool({
      maxFreeBytes: limit === null
        ? 256 * 2 ** 20
        : () => 0.7 * limit - counted(),
    });
    this.store = new SpillBuffer({
      ...(this.#shared === null
        ? { directory: options.spillDir }
        : { spillTier: new SharedTier({ directory: options.spillDir }) }),
      target: Infinity,
      sharedBuffers: true,
      allocate: (n) => this.#readBuffer(n),
      log: this.#log,
    });
    this.#manager = new MemoryManager({
      limit: options.memoryLimit,
      store: this.store,
      ...(options.target === undefined
        ? {}
        : { thresholds: { target: options.target } }),
      sampleProcessMemory: counted,
    });
    this.#room = new Room({
      limit: options.memoryLimit,
      store: this.store,
      processMemory: counted,
    });
    this.#manager.addEventListener("sample", (event) => {
      const report = (event as CustomEvent<MemoryReport>).detail;
      if (limit !== null && ownMemory() > 0.8 * limit) this.#buffers.trim();
      this.#collector.sample(report, this.#letGo());
    });
    this.#manager.addEventListener("pause", () => this.#updateStatus());
    this.#manager.addEventListener("resume", () => this.#updateStatus());
    this.#transferLimit = options.transferLimit ??
      (options.memoryLimit !== null
        ? Math.max(1, 0.1 * options.memoryLimit)
        : 256 * 2 ** 20);
    this.#pool = new ExecutorPool({
      threads: options.nthreads ?? 1,
      buffers: this.#buffers,
    });
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  /** Starts the worker and registers it with the scheduler. */
  static async start(options: WorkerNodeOptions): Promise<WorkerNode> {
    const node = new WorkerNode(options);
    try {
      node.#server = await RpcServer.listen({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        handlers: node.#peerHandlers(),
        allocate: node.#buffers.allocate,
        log: node.#log,
      });
      node.#scheduler = await connect(options.scheduler, {
        handlers: node.#schedulerHandlers(),
        allocate: node.#buffers.allocate,
        log: node.#log,
      });
      const registration: RegisterWorker = {
        address: node.address,
        host: node.#host,
        nthreads: options.nthreads ?? 1,
        memoryLimit: options.memoryLimit,
        spillDir: options.spillDir,
        ...(node.#shared === null
          ? {}
          : { shared: { dev: node.#shared.dev, root: node.#shared.path } }),
      };
      await node.#scheduler.request("register-worker", registration);
    } catch (error) {
      await node.close();
      throw error;
    }
    node.#scheduler.closed.then(() => {
      if (!node.#closed) {
        node.#log("lost the scheduler; closing");
        node.close();
      }
    });
    node.#manager.start();
    node.#heartbeat = setInterval(
      () => node.#sendHeartbeat(),
      options.heartbeatInterval ?? 1000,
    );
    node.#sendHeartbeat();
    return node;
  }

  /** Bytes this worker let go of since it started (see collector.ts). */
  #letGo(): number {
    return this.store.releasedBytes + this.store.handedOutBytes +
      this.#sliceBytes;
  }

  /**
   * A buffer for a spill file read back: reused memory from the pool,
   * after a collection when none is free but the store let go of enough
   * since the last one (the finalizers that return buffers run a turn
   * after it).
   */
  async #readBuffer(byteLength: number): Promise<Uint8Array> {
    if (
      !this.#buffers.hasFree(byteLength) &&
      this.#collector.collectFor(byteLength, this.#letGo())
    ) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return this.#buffers.allocate(byteLength);
  }

  /** Where peers and clients reach this worker: `tcp://host:port`. */
  get address(): string {
    return this.#server.url;
  }

  /** Running, or paused by memory pressure. */
  get status(): WorkerStatus {
    return this.#status;
  }

  /** Stops everything and removes the spill directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#manager.stop();
    for (const controller of this.#running.values()) {
      controller.abort(new Error("worker closing"));
    }
    this.#scheduler?.close();
    for (const peer of this.#peers.values()) {
      peer.then((p) => p.close(), () => {});
    }
    await this.#server?.close();
    await this.#pool.close();
    await this.store.close();
    this.#finish();
  }

  /** Closes the worker at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #peerHandlers() {
    return {
      "get-data": async (
        body: unknown,
      ): Promise<DataReply | ReplyThen<DataReply>> => {
        const { keys, link, slices } = body as GetData;
        if (this.#linksTo(link)) return await this.#links(keys);
        // Large keys on disk that would not fit in memory now go in slices
        // to a peer that takes them so: they are never read back whole
        // here. (Slices cost round trips: a key that fits is read whole.)
        const sliced = new Map<string, SlicedFile>();
        if (slices === true) {
          let whole = 0;
          for (const key of keys) {
            const file = this.store.spilledFileOf(key);
            if (file === undefined) continue;
            if (
              file.bytes > SLICE_ABOVE && !this.#room.fits(whole + file.bytes)
            ) {
              sliced.set(key, file);
            } else whole += file.bytes;
          }
        }
        // Keys read back from disk to be served take room until sent.
        let reading = 0;
        for (const key of keys) {
          if (this.store.state(key) === "spilled" && !sliced.has(key)) {
            reading += this.store.nbytes(key);
          }
        }
        const release = await this.#room.reserve(reading, { wait: false });
        const data: Record<string, Frames> = {};
        try {
          for (const key of keys) {
            if (!this.store.has(key) || sliced.has(key)) continue;
            const frames = await this.store.getFrames(key);
            data[key] = frames;
            this.#transfers.servedKeys++;
            this.#transfers.servedBytes += framesByteLength(frames);
          }
        } catch (error) {
          release();
          throw error;
        }
        for (const file of sliced.values()) {
          this.#transfers.servedKeys++;
          this.#transfers.servedBytes += file.bytes;
        }
        return new ReplyThen(
          sliced.size === 0
            ? { data }
            : { data, sliced: Object.fromEntries(sliced) },
          release,
        );
      },
      "get-slice": async (body: unknown): Promise<{ bytes: Uint8Array }> => {
        const { key, file, offset, length } = body as GetSlice;
        if (
          !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) ||
          offset < 0 || length < 0 || length > SLICE_BYTES
        ) {
          throw new RangeError(
            `get-slice: offset and length must be integers, 0 ≤ length ≤ ${SLICE_BYTES}; got ${offset} and ${length}`,
          );
        }
        const bytes = new Uint8Array(length);
        await this.store.readSpilledRange(key, file, offset, bytes);
        return { bytes };
      },
      "put-data": (body: unknown) => {
        const nbytes: Record<string, number> = {};
        for (const [key, frames] of Object.entries((body as DataReply).data)) {
          this.store.setFrames(key, frames);
          nbytes[key] = framesByteLength(frames);
        }
        return { nbytes };
      },
      // Copy keys from their holders into this worker (a peer transfer on
      // request: replication, and bench/peer_transfer.ts).
      "replicate": async (body: unknown) => {
        const { keys, who, sizes } = body as
          & Pick<ComputeMessage, "who" | "sizes">
          & {
            keys: string[];
          };
        const start = performance.now();
        await this.#fetchInputs(
          { who, sizes: sizes ?? {} },
          keys,
          new AbortController().signal,
          true,
        );
        return { seconds: (performance.now() - start) / 1000 };
      },
      "ping": () => "pong",
    };
  }

  #schedulerHandlers() {
    return {
      "compute": (body: unknown) => {
        for (const message of (body as { tasks: ComputeMessage[] }).tasks) {
          const received = epochMs();
          if (this.#status === "paused") {
            this.#waiting.push({ message, received });
          } else this.#execute(message, received);
        }
      },
      "release": (body: unknown) => {
        for (const key of (body as { keys: string[] }).keys) {
          this.store.delete(key);
        }
      },
      "cancel": (body: unknown) => {
        const { key } = body as { key: string };
        this.#running.get(key)?.abort(new Error(`task ${key} cancelled`));
        const i = this.#waiting.findIndex((w) => w.message.key === key);
        if (i >= 0) this.#waiting.splice(i, 1);
      },
      "ping": () => "pong",
    };
  }

  async #execute(message: ComputeMessage, received: number): Promise<void> {
    const timeline = new Timeline();
    timeline.add("queued", received, epochMs());
    let thread = 0;
    const controller = new AbortController();
    this.#running.set(message.key, controller);
    const { signal } = controller;
    const inputs = [
      ...new Set(message.args.flatMap((a) => "key" in a ? [a.key] : [])),
    ];
    const pinned: string[] = [];
    let release = () => {};
    const fn = `${message.module}#${message.exportName}`;
    try {
      // Room first, for the inputs to fetch or read back from disk and for
      // the result (twice: the executor's copy and the shared one, for a
      // moment), as big as this function's last one. Fetched inputs are
      // pinned: fetching before the room is there filled the memory with
      // the pinned inputs of tasks that could not run yet.
      let expected = 2 * (this.#resultSizes.get(fn) ?? 0);
      for (const key of inputs) {
        const state = this.store.state(key);
        if (state === undefined) expected += message.sizes?.[key] ?? 0;
        else if (state === "spilled" && this.#shared === null) {
          expected += this.store.nbytes(key); // read back (mapped if shared)
        }
      }
      release = await this.#room.reserve(expected, { timeline });
      signal.throwIfAborted();
      const fetching = epochMs();
      const fetched = await this.#fetchInputs(message, inputs, signal, false);
      timeline.add("transfer", fetching, epochMs(), fetched);
      for (const key of inputs) {
        this.store.pin(key);
        pinned.push(key);
      }
      // Inputs on disk in shared-memory mode: the executor maps them.
      const values = new Map<string, unknown>();
      const files = new Map<string, string>();
      for (const key of inputs) {
        const state = this.store.state(key);
        if (
          this.#shared !== null && (state === "spilled" || state === "mapped")
        ) {
          files.set(key, (await this.store.spilledFile(key)).path);
          continue;
        }
        if (state === "spilled") {
          await timeline.time(
            "disk-read",
            () => this.store.load(key),
            this.store.nbytes(key),
          );
        }
        const wasLive = this.store.state(key) === "live";
        const start = epochMs();
        values.set(key, await this.store.get(key));
        if (!wasLive) timeline.add("deserialize", start, epochMs());
      }
      const mapped: Record<number, string> = {};
      const args = message.args.map((a, at) => {
        if (!("key" in a)) return a.value;
        const path = files.get(a.key);
        if (path === undefined) return values.get(a.key);
        mapped[at] = path;
        return undefined;
      });
      // Shared-memory mode with target 0: the executor writes a large
      // result to the tmpfs itself and frees it, so it never passes through
      // this thread (nor stays here as garbage until a collection).
      const prepared = this.#shared !== null && this.#options.target === 0
        ? await this.store.prepareSpillFile(message.key)
        : null;
      let outcome;
      const running = epochMs();
      try {
        outcome = await this.#pool.run(
          {
            module: message.module,
            exportName: message.exportName,
            args,
            ...(files.size > 0 ? { mapped } : {}),
          },
          // Inputs not in shared memory (rare: data set by hand) are
          // copied, never lent, so the store's values are never detached.
          // With target 0 the result is spilled at once and later tasks
          // read (or map) it from its file: a shared copy would be one more
          // copy, and garbage V8 does not see.
          {
            signal,
            keep: reachableBuffers(args),
            shareResult: this.#options.target !== 0,
            ...(prepared === null ? {} : { spillTo: prepared.path }),
          },
        );
      } catch (error) {
        timeline.add("compute", running, epochMs());
        await prepared?.abandon();
        throw error;
      }
      thread = outcome.thread;
      timeline.add("queued", running, outcome.started);
      timeline.startstops.push(...outcome.phases);
      if (this.#closed) {
        await prepared?.abandon().catch(() => {});
        return;
      }
      const storing = epochMs();
      if (outcome.spilled !== undefined && prepared !== null) {
        await prepared.adopt();
      } else {
        await prepared?.abandon();
        this.store.set(message.key, outcome.value);
      }
      const nbytes = this.store.nbytes(message.key);
      timeline.add("store", storing, epochMs(), nbytes);
      this.#resultSizes.set(fn, nbytes);
      // The store measured the value when it took it: no second walk.
      this.#finished.push({
        key: message.key,
        nbytes,
        seconds: outcome.seconds,
        name: message.exportName,
        thread,
        startstops: timeline.startstops,
      });
    } catch (error) {
      if (signal.aborted || this.#closed) return;
      const e = error as Error;
      const reported = error instanceof TaskError
        ? {
          name: error.remoteName,
          message: error.message,
          stack: error.remoteStack,
        }
        : {
          name: e.name ?? "Error",
          message: e.message ?? String(error),
          stack: e.stack,
        };
      this.#scheduler.notify(
        "task-erred",
        {
          key: message.key,
          error: reported,
          name: message.exportName,
          thread,
          startstops: timeline.startstops,
        } satisfies TaskErredMessage,
      ).catch(() => {});
    } finally {
      release();
      if (!this.#closed) {
        for (const key of pinned) {
          if (this.store.has(key)) this.store.unpin(key);
        }
      }
      this.#running.delete(message.key);
    }
  }

  /** Whether a peer that says `link` shares this worker's host and tmpfs. */
  #linksTo(link: GetData["link"]): boolean {
    return this.#shared !== null && link !== undefined &&
      link.dev === this.#shared.dev && link.host === this.#host;
  }

  /** The spill files of `keys` (spilled first if they are not yet). */
  async #links(keys: string[]): Promise<DataReply> {
    const links: Record<string, SpilledFileRef> = {};
    for (const key of keys) {
      if (!this.store.has(key)) continue;
      const file = await this.store.spilledFile(key);
      links[key] = { path: file.path, bytes: file.bytes };
      this.#transfers.servedKeys++;
    }
    return { data: {}, links };
  }

  get #host(): string {
    return this.#options.host ?? Deno.hostname();
  }

  /**
   * Takes the keys a same-host peer offered as files, by hard link. The
   * keys whose link failed are returned, for a byte transfer.
   */
  async #adoptLinks(
    holder: string,
    links: Record<string, SpilledFileRef>,
  ): Promise<string[]> {
    const failed: string[] = [];
    for (const [key, file] of Object.entries(links)) {
      if (this.store.has(key)) continue;
      try {
        await this.store.linkFrom(key, file.path, this.#shared!.path, {
          bytes: file.bytes,
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? "error";
        if (!this.#linkFailures.has(code)) {
          this.#linkFailures.add(code);
          this.#log(
            `linking ${key} from ${holder} failed (${code}): ${
              (error as Error).message
            }; sending bytes instead (logged once per reason)`,
          );
        }
        failed.push(key);
        continue;
      }
      this.#transfers.linkedKeys = (this.#transfers.linkedKeys ?? 0) + 1;
      this.#transfers.linkedBytes = (this.#transfers.linkedBytes ?? 0) +
        file.bytes;
      this.#scheduler.notify("add-replica", { key, nbytes: file.bytes })
        .catch(() => {});
    }
    return failed;
  }

  /**
   * Fetches the inputs this worker lacks from the peers that hold them;
   * `reserve`: each request reserves room for its bytes first (a task
   * reserves for all its inputs itself). Resolves with the bytes its own
   * requests brought (keys another task was already fetching are awaited,
   * not counted).
   */
  async #fetchInputs(
    message: Pick<ComputeMessage, "who" | "sizes">,
    inputs: string[],
    signal: AbortSignal,
    reserve: boolean,
  ): Promise<number> {
    let who: Readonly<Record<string, readonly string[]>> = message.who;
    let fetched = 0;
    for (let attempt = 0;; attempt++) {
      const missing = inputs.filter((key) => !this.store.has(key));
      if (missing.length === 0) return fetched;
      signal.throwIfAborted();
      if (attempt > 0) {
        // A holder died or dropped the key: ask where it is now.
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(1000, 50 * attempt))
        );
        signal.throwIfAborted();
        who = await this.#scheduler.request("who-has", {
          keys: missing,
        }) as Record<string, string[]>;
      }
      if (attempt > 200) {
        throw new Error(
          `could not fetch inputs ${missing.join(", ")} from any holder`,
        );
      }
      // Keys another task is already fetching are awaited, not fetched twice.
      const pending = missing.flatMap((key) => this.#fetching.get(key) ?? []);
      const byHolder = new Map<string, string[]>();
      for (const key of missing) {
        if (this.#fetching.has(key)) continue;
        const holders = (who[key] ?? []).filter((h) => h !== this.address);
        if (holders.length === 0) continue;
        const holder = holders[attempt % holders.length];
        byHolder.set(holder, [...(byHolder.get(holder) ?? []), key]);
      }
      const requests: Promise<number>[] = [];
      for (const [holder, keys] of byHolder) {
        // Several keys go in one request, up to the transfer limit.
        let group: string[] = [];
        let bytes = 0;
        const flush = () => {
          if (group.length === 0) return;
          const request = this.#fetch(holder, group, bytes, reserve);
          for (const key of group) {
            this.#fetching.set(key, request.then(() => {}));
          }
          requests.push(request);
          group = [];
          bytes = 0;
        };
        for (const key of keys) {
          const size = message.sizes?.[key] ?? 0;
          if (group.length > 0 && bytes + size > this.#transferLimit) flush();
          group.push(key);
          bytes += size;
        }
        flush();
      }
      const [brought] = await Promise.all([
        Promise.all(requests),
        Promise.all(pending),
      ]);
      for (const bytes of brought) fetched += bytes;
    }
  }

  /**
   * One `get-data` request. Waits while other fetches hold the transfer
   * limit's bytes (one fetch always proceeds) or the worker is paused.
   * Resolves with the bytes it brought (received or linked); a failure is
   * logged and brings nothing.
   */
  async #fetch(
    holder: string,
    keys: string[],
    bytes: number,
    reserve: boolean,
  ): Promise<number> {
    let brought = 0;
    try {
      while (
        (this.#fetchingBytes > 0 &&
          this.#fetchingBytes + bytes > this.#transferLimit) ||
        this.#status === "paused"
      ) {
        await new Promise<void>((resolve) => this.#fetchQueue.push(resolve));
      }
      this.#fetchingBytes += bytes;
      // Shared mode: a same-host peer answers with a link, which needs no room.
      const release = reserve && this.#shared === null
        ? await this.#room.reserve(bytes)
        : () => {};
      try {
        const peer = await this.#peer(holder);
        const link = this.#shared === null
          ? undefined
          : { host: this.#host, dev: this.#shared.dev };
        let reply = await peer.request(
          "get-data",
          { keys, link, slices: true } satisfies GetData,
        ) as DataReply;
        for (const [key, file] of Object.entries(reply.sliced ?? {})) {
          if (this.store.has(key)) continue;
          const frames = await this.#fetchSlices(peer, key, file);
          this.#stored(key, frames);
          brought += framesByteLength(frames);
        }
        if (reply.links !== undefined) {
          const failed = await this.#adoptLinks(holder, reply.links);
          for (const [key, file] of Object.entries(reply.links)) {
            if (!failed.includes(key)) brought += file.bytes;
          }
          reply = failed.length === 0 ? { data: {} } : await peer.request(
            "get-data",
            { keys: failed } satisfies GetData,
          ) as DataReply;
        }
        for (const [key, frames] of Object.entries(reply.data)) {
          if (this.store.has(key)) continue;
          this.#stored(key, frames);
          brought += framesByteLength(frames);
        }
      } catch (error) {
        this.#log(
          `fetching ${keys.join(", ")} from ${holder} failed: ${
            (error as Error).message
          }`,
        );
        this.#peers.delete(holder);
      } finally {
        release();
        this.#fetchingBytes -= bytes;
        for (const wake of this.#fetchQueue.splice(0)) wake();
      }
    } finally {
      for (const key of keys) this.#fetching.delete(key);
    }
    return brought;
  }

  /** Keeps frames fetched from a peer, and tells the scheduler. */
  #stored(key: string, frames: Frames): void {
    this.store.setFrames(key, frames);
    const nbytes = framesByteLength(frames);
    this.#transfers.fetchedKeys++;
    this.#transfers.fetchedBytes += nbytes;
    this.#scheduler.notify("add-replica", { key, nbytes }).catch(() => {});
  }

  /**
   * Takes a peer's spilled key in slices (a few requests in flight) into
   * one buffer of this worker's pool, and decodes it (checked like any
   * frames received).
   */
  async #fetchSlices(
    peer: RpcPeer,
    key: string,
    file: SlicedFile,
  ): Promise<Frames> {
    const into = this.#buffers.allocate(file.bytes);
    let next = 0;
    let failed = false;
    const take = async (): Promise<void> => {
      while (!failed && next < file.bytes) {
        const offset = next;
        const length = Math.min(SLICE_BYTES, file.bytes - offset);
        next += length;
        const { bytes } = await peer.request(
          "get-slice",
          { key, file: file.file, offset, length } satisfies GetSlice,
        ).catch((error) => {
          failed = true; // the other requests stop too
          throw error;
        }) as { bytes: Uint8Array };
        if (bytes.byteLength !== length) {
          throw new Error(
            `a slice of ${key} came with ${bytes.byteLength} bytes, not ${length}`,
          );
        }
        into.set(bytes, offset);
        this.#sliceBytes += length;
      }
    };
    await Promise.all(Array.from({ length: SLICES_IN_FLIGHT }, take));
    return decodeFrames(into);
  }

  #peer(address: string): Promise<RpcPeer> {
    let peer = this.#peers.get(address);
    if (peer === undefined) {
      peer = connect(address, {
        allocate: this.#buffers.allocate,
        log: this.#log,
      });
      peer.then(
        (p) => p.closed.then(() => this.#peers.delete(address)),
        () => this.#peers.delete(address),
      );
      this.#peers.set(address, peer);
    }
    return peer;
  }

  /** Re-reads the memory state; pauses or resumes; returns whether the status changed. */
  #refreshStatus(): boolean {
    const limit = this.#options.memoryLimit;
    // The disk lagging far behind is memory pressure too (backpressure).
    const backlog = limit !== null && this.store.pressure > 0.1 * limit;
    const status: WorkerStatus = this.#manager.paused || backlog
      ? "paused"
      : "running";
    if (status === this.#status) return false;
    this.#status = status;
    if (status === "running") {
      for (const { message, received } of this.#waiting.splice(0)) {
        this.#execute(message, received);
      }
      for (const wake of this.#fetchQueue.splice(0)) wake();
    }
    return true;
  }

  #updateStatus(): void {
    if (this.#refreshStatus()) this.#sendHeartbeat();
  }

  #sendHeartbeat(): void {
    if (this.#closed) return;
    this.#refreshStatus();
    const report = this.#manager.report();
    const buffers = this.#buffers.stats;
    const beat: Heartbeat = {
      status: this.#status,
      transfers: { ...this.#transfers },
      store: this.store.metrics(),
      // The manager leaves free pooled buffers out; they are resident all
      // the same, and users see all of it.
      memory: {
        process: report.process + buffers.freeBytes,
        managed: report.managed,
        unmanaged: report.unmanaged + buffers.freeBytes,
        collections: this.#collector.collections,
        collectionSeconds: this.#collector.seconds,
        buffers: {
          reused: buffers.reused,
          fresh: buffers.fresh,
          dropped: buffers.dropped,
          freeBytes: buffers.freeBytes,
        },
      },
    };
    this.#scheduler.notify("heartbeat", beat).catch(() => {});
  }
}

/**
 * The worker role: holds data in a {@linkcode PeerSpillBuffer}, runs tasks in
 * Web Worker executors, serves its data to peers and clients, and reports to
 * the scheduler. This module wires the parts and keeps the worker's status
 * (running or paused) and heartbeat; the parts are the task runner
 * (`task_runner.ts`), the input fetcher (`input_fetcher.ts`), the peer
 * service (`peer_service.ts`) and the mode (`mode.ts`: private or shared
 * memory, chosen at start).
 *
 * Data for compute lives in SharedArrayBuffers: spill files are read back
 * into them, messages from peers are received into them, and executors copy
 * their results into them (off this thread). So an input reaches an
 * executor with no copy and nothing lent, and the control loop never
 * clones a large buffer.
 *
 * @module
 */
import type {
  ComputeMessage,
  Heartbeat,
  RegisterWorker,
  SchedulerOperations,
  TaskFinished,
  ThresholdFractions,
  WorkerControlOperations,
  WorkerOperations,
  WorkerStatus,
  WorkerTransferFigures,
} from "../protocol/mod.ts";
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  PROTOCOL_VERSION,
} from "../protocol/version.ts";
import { Batcher } from "../comm/batcher.ts";
import { connect, RpcServer } from "../comm/server.ts";
import type { RpcHandlers, RpcPeer } from "../comm/rpc.ts";
import { type LogFunction, roleLog } from "../comm/log.ts";
import type { TlsOptions } from "../comm/tls.ts";
import { formatBytes } from "../memory/bytes.ts";
import { PeerSpillBuffer } from "../store/peer_files.ts";
import { MemoryManager, type MemoryReport } from "../memory/manager.ts";
import { WorkerPeers } from "../transfer/peers.ts";
import { Collector } from "./collector.ts";
import { EventLoopMonitor } from "./event_loop.ts";
import { type ExecutorPermissions, ExecutorPool } from "./executor_pool.ts";
import { Room } from "./room.ts";
import { epochMs } from "./timeline.ts";
import { BufferPool } from "./buffer_pool.ts";
import type { WorkerConfig } from "./config.ts";
import { PrivateMode, SharedMode, type WorkerMode } from "./mode.ts";
import { InputFetcher } from "./input_fetcher.ts";
import { TaskRunner } from "./task_runner.ts";
import { peerHandlers } from "./peer_service.ts";

/**
 * Options of {@linkcode WorkerNode.start}: the worker's configuration
 * (`spillDir` is this worker's own directory, created and removed on
 * close), and what only a running worker takes.
 */
export interface WorkerNodeOptions
  extends
    Pick<WorkerConfig, "scheduler" | "memoryLimit" | "spillDir" | "target">,
    Partial<Pick<WorkerConfig, "hostname" | "port" | "nthreads" | "codecs">> {
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
   * How long (ms) a worker that lost its scheduler tries to reach it again
   * (a scheduler restarted on the same address gets its workers back);
   * then it closes. 0: close at once. Default 60 000.
   */
  reconnectTimeout?: number;
  /**
   * Log lines go here (the message, its level, its fields). Default: the
   * process's log, as `worker <address>` (see `configureLogging`).
   */
  log?: LogFunction;
  /**
   * How many times a nanny restarted this worker before (0: its first
   * process), said in the registration. Default 0.
   */
  restarts?: number;
  /** The address of the worker process this one replaces, if known. */
  replaces?: string;
  /** The process it replaces was killed by its nanny for memory at this RSS. */
  replacedAfterMemoryKill?: number;
  /**
   * The shared secret of the cluster: proven to the scheduler, and asked
   * of every peer and client that connects (`--auth-token`, or
   * `SPILLWAY_AUTH_TOKEN`). Null or absent for none. Default none.
   */
  authToken?: string | null;
  /**
   * The largest message accepted after the handshake, in bytes
   * (`--max-message-size`). Default `DEFAULT_MAX_MESSAGE_SIZE` (16 GiB).
   */
  maxMessageSize?: number;
  /**
   * The executors' sandbox (see `executorSandbox` in
   * `task_permissions.ts`). Giving it says that this process runs with
   * `--unstable-worker-options` (without it, the first executor exits the
   * process with code 70). Default: none, tasks run with this process's
   * permissions.
   */
  sandbox?: ExecutorPermissions;
  /**
   * TLS (PEM text): with `cert` and `key` the worker listens with TLS and
   * registers a `tls://` address, so peers and clients connect with TLS;
   * with `ca` too it requires their certificates signed by `ca` (mutual
   * TLS). `ca` verifies a `tls://` scheduler and peers; `cert` and `key`
   * are presented to them. Default: plain TCP.
   */
  tls?: TlsOptions;
  /**
   * How long (ms) a worker paused with its spill space exhausted (memory
   * past the pause threshold and spills failing for want of space) waits
   * for memory to free before the tasks waiting on it fail with a
   * {@linkcode SPILL_EXHAUSTED_ERROR} error (`--spill-exhausted-timeout`).
   * Tasks already computing finish; keys held stay held. Default
   * {@linkcode DEFAULT_SPILL_EXHAUSTED_TIMEOUT} (60 s).
   */
  spillExhaustedTimeout?: number;
}

/**
 * Default of {@linkcode WorkerNodeOptions.spillExhaustedTimeout}, ms.
 *
 * @example
 * ```ts
 * import { DEFAULT_SPILL_EXHAUSTED_TIMEOUT } from "./worker_node.ts";
 * DEFAULT_SPILL_EXHAUSTED_TIMEOUT; // 60000
 * ```
 */
export const DEFAULT_SPILL_EXHAUSTED_TIMEOUT = 60_000;

/**
 * The name of the error tasks fail with when the worker they wait on has
 * had its spill space exhausted for longer than its
 * `spillExhaustedTimeout`.
 *
 * @example
 * ```ts
 * import { SPILL_EXHAUSTED_ERROR } from "./worker_node.ts";
 * SPILL_EXHAUSTED_ERROR; // "SpillExhaustedError"
 * ```
 */
export const SPILL_EXHAUSTED_ERROR = "SpillExhaustedError";

/** An episode of exhausted spill space on a worker. */
interface ExhaustedEpisode {
  timer: ReturnType<typeof setTimeout> | undefined;
  expired: boolean;
}

/** How long a spill failure for want of space marks a worker `spillExhausted`, ms. */
const EXHAUSTED_WINDOW = 60_000;

/** Default of {@linkcode WorkerNodeOptions.reconnectTimeout}, ms. */
export const DEFAULT_RECONNECT_TIMEOUT = 60_000;

/**
 * A worker process's state and services.
 *
 * @example
 * ```ts
 * import { WorkerNode } from "./worker_node.ts";
 * await using worker = await WorkerNode.start({
 *   scheduler: "tcp://127.0.0.1:8786",
 *   memoryLimit: 2 ** 30,
 *   spillDir: "/tmp/spillway-worker",
 * });
 * ```
 */
export class WorkerNode implements AsyncDisposable {
  readonly store: PeerSpillBuffer;
  /**
   * Shared memory for spill files read back and messages received (see
   * buffer_pool.ts): reused, since fresh memory is slow to fault in here.
   */
  readonly #buffers: BufferPool;
  readonly #options: WorkerNodeOptions;
  readonly #log: LogFunction;
  readonly #manager: MemoryManager;
  readonly #pool: ExecutorPool;
  /** Connections to peers this worker fetches from. */
  readonly #peers: WorkerPeers;
  /** Private or shared-memory mode. */
  readonly #mode: WorkerMode;
  readonly #fetcher: InputFetcher;
  readonly #runner: TaskRunner;
  /** Tasks received while paused, with when they came. */
  readonly #waiting: { message: ComputeMessage; received: number }[] = [];
  #server!: RpcServer<WorkerOperations>;
  #scheduler!: RpcPeer<SchedulerOperations, WorkerControlOperations>;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #status: WorkerStatus = "running";
  #closed = false;
  /** Event-loop lag of this thread, for the heartbeats. */
  readonly #eventLoop = new EventLoopMonitor();
  /** Spill failures for want of space so far, and when they last grew. */
  #noSpace = { count: 0, at: -Infinity };
  /**
   * The current episode of exhausted spill space (paused, spills failing
   * for want of space): its timer, and whether it ran out (then tasks
   * waiting here fail at once).
   */
  #exhausted: ExhaustedEpisode | null = null;
  /** Collects garbage the store dropped (see collector.ts). */
  readonly #collector = new Collector();
  /** Memory reserved by tasks and fetches under way (see room.ts). */
  readonly #room: Room;
  readonly #transfers: WorkerTransferFigures = {
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
    this.#log = options.log ??
      roleLog(() =>
        this.#server === undefined ? "worker" : `worker ${this.address}`
      );
    // Checked first: a wrong root is a clear error, before anything starts.
    const mode: WorkerMode = this.#mode = options.sharedMemory === undefined
      ? new PrivateMode()
      : new SharedMode(
        options.sharedMemory.root,
        options.memoryLimit ?? 0,
        this.#host,
        this.#log,
      );
    const limit = options.memoryLimit;
    const ownMemory = () => mode.ownMemory();
    // What the memory manager and the room count: not the free pooled
    // buffers, which the next reads take. Those may fill the memory up to
    // the spill threshold, and are let go of past the pause threshold.
    const counted = () => ownMemory() - this.#buffers.freeBytes;
    this.#buffers = new BufferPool({
      maxFreeBytes: limit === null
        ? 256 * 2 ** 20
        : () => 0.7 * limit - counted(),
    });
    this.store = new PeerSpillBuffer({
      ...mode.spillTo(options.spillDir),
      target: Infinity,
      sharedBuffers: true,
      allocate: (n) => this.#readBuffer(n),
      // The store speaks only of failures (spill, tmpfs): warnings.
      log: (message) => this.#log(message, "warn"),
      // User classes stay encoded here: the executors decode them.
      keepCodecValues: true,
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
    this.#peers = new WorkerPeers({
      allocate: this.#buffers.allocate,
      log: this.#log,
      authToken: options.authToken ?? null,
      maxMessageBytes: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
    });
    this.#pool = new ExecutorPool({
      threads: options.nthreads ?? 1,
      buffers: this.#buffers,
      ...(options.codecs === undefined ? {} : { codecs: options.codecs }),
      ...(options.sandbox === undefined ? {} : {
        permissions: options.sandbox,
        workerOptionsEnabled: true,
      }),
    });
    this.#fetcher = new InputFetcher({
      store: this.store,
      peers: this.#peers,
      scheduler: () => this.#scheduler,
      room: this.#room,
      mode,
      allocate: this.#buffers.allocate,
      transfers: this.#transfers,
      paused: () => this.#status === "paused",
      transferLimit: options.transferLimit ??
        (options.memoryLimit !== null
          ? Math.max(1, 0.1 * options.memoryLimit)
          : 256 * 2 ** 20),
      address: () => this.address,
      log: this.#log,
    });
    this.#runner = new TaskRunner({
      store: this.store,
      room: this.#room,
      pool: this.#pool,
      mode,
      fetcher: this.#fetcher,
      target: options.target,
      closed: () => this.#closed,
      finished: (task) => this.#finished.push(task),
      erred: (task) => {
        this.#scheduler.notify("task-erred", task).catch(() => {});
      },
    });
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  /** Starts the worker and registers it with the scheduler. */
  static async start(options: WorkerNodeOptions): Promise<WorkerNode> {
    const node = new WorkerNode(options);
    try {
      node.#server = await RpcServer.listen<WorkerOperations>({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        handlers: {
          ...peerHandlers({
            store: node.store,
            room: node.#room,
            mode: node.#mode,
            transfers: node.#transfers,
            fetcher: node.#fetcher,
          }),
          "register-client": () => {
            const error = new Error(
              `this is a Spillway worker, not a scheduler: connect the client to the scheduler's address (this worker's scheduler is ${options.scheduler})`,
            );
            error.name = "NotASchedulerError";
            throw error;
          },
        },
        allocate: node.#buffers.allocate,
        log: node.#log,
        ...(options.tls !== undefined ? { tls: options.tls } : {}),
        authToken: options.authToken ?? null,
        protocolVersion: PROTOCOL_VERSION,
        maxMessageBytes: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      });
      await node.#register();
    } catch (error) {
      await node.close();
      throw error;
    }
    node.#manager.start();
    node.#eventLoop.start();
    node.#heartbeat = setInterval(
      () => node.#sendHeartbeat(),
      options.heartbeatInterval ?? 1000,
    );
    node.#sendHeartbeat();
    return node;
  }

  /**
   * Connects to the scheduler and registers; from then on, losing the
   * connection starts {@linkcode WorkerNode.#reconnect}.
   */
  async #register(): Promise<void> {
    const scheduler = await connect<
      SchedulerOperations,
      WorkerControlOperations
    >(this.#options.scheduler, {
      handlers: this.#schedulerHandlers(),
      allocate: this.#buffers.allocate,
      log: this.#log,
      ...(this.#options.tls !== undefined ? { tls: this.#options.tls } : {}),
      authToken: this.#options.authToken ?? null,
      protocolVersion: PROTOCOL_VERSION,
      maxMessageBytes: this.#options.maxMessageSize ??
        DEFAULT_MAX_MESSAGE_SIZE,
    });
    this.#scheduler = scheduler;
    const registration: RegisterWorker = {
      address: this.address,
      host: this.#host,
      nthreads: this.#options.nthreads ?? 1,
      memoryLimit: this.#options.memoryLimit,
      spillDir: this.#options.spillDir,
      ...this.#mode.registration,
      restarts: this.#options.restarts ?? 0,
      ...(this.#options.replaces !== undefined
        ? { replaces: this.#options.replaces }
        : {}),
      ...(this.#options.replacedAfterMemoryKill !== undefined
        ? { replacedAfterMemoryKill: this.#options.replacedAfterMemoryKill }
        : {}),
      thresholds: this.#thresholds(),
    };
    try {
      await scheduler.request("register-worker", registration);
    } catch (error) {
      scheduler.close();
      throw error;
    }
    scheduler.closed.then(() => {
      if (!this.#closed && this.#scheduler === scheduler) this.#reconnect();
    });
  }

  /**
   * The scheduler is gone: forget everything it gave this worker (a
   * scheduler restarted on the same address knows none of it), and try to
   * register again, with a growing pause (up to 1 s), for as long as the
   * reconnect timeout; then close.
   */
  async #reconnect(): Promise<void> {
    const window = this.#options.reconnectTimeout ?? DEFAULT_RECONNECT_TIMEOUT;
    const where = this.#options.scheduler;
    this.#forgetAll();
    if (window <= 0) {
      this.#log(`lost the scheduler at ${where}; closing`, "warn");
      await this.close();
      return;
    }
    this.#log(
      `lost the scheduler at ${where}; trying to reconnect for ${
        window / 1000
      } s`,
      "warn",
    );
    const deadline = Date.now() + window;
    let pause = 50;
    let last: unknown;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now())))
      );
      pause = Math.min(1000, pause * 2);
      if (this.#closed) return;
      try {
        await this.#register();
        this.#log(`registered again with the scheduler at ${where}`);
        this.#sendHeartbeat();
        return;
      } catch (error) {
        last = error;
      }
    }
    if (this.#closed) return;
    this.#log(
      `could not reconnect to the scheduler at ${where} within ${
        window / 1000
      } s${last === undefined ? "" : ` (${(last as Error).message})`}; closing`,
      "error",
    );
    await this.close();
  }

  /**
   * Drops what the lost scheduler gave: running and waiting tasks, and
   * every key held. A late result of a stopped task is released by the next
   * scheduler, which does not know its key.
   */
  #forgetAll(): void {
    this.#runner.abortAll(new Error("the scheduler was lost"));
    this.#waiting.splice(0);
    for (const key of [...this.store.keys()]) this.store.delete(key);
  }

  /** The memory thresholds as fractions of the limit (all null without one). */
  #thresholds(): ThresholdFractions {
    const t = this.#manager.thresholds;
    const on = (f: number | false) =>
      this.#options.memoryLimit === null || f === false ? null : f;
    return {
      target: on(t.target),
      spill: on(t.spill),
      pause: on(t.pause),
      terminate: on(t.terminate),
    };
  }

  /** Whether a spill failed for want of space in the last minute. */
  #spillExhausted(failures: Heartbeat["store"]["failures"]): boolean {
    const count = (failures["disk-full"] ?? 0) + (failures["max-spill"] ?? 0);
    const now = Date.now();
    if (count > this.#noSpace.count) this.#noSpace = { count, at: now };
    return now - this.#noSpace.at < EXHAUSTED_WINDOW;
  }

  /** Bytes this worker let go of since it started (see collector.ts). */
  #letGo(): number {
    return this.store.releasedBytes + this.store.handedOutBytes +
      this.#fetcher.sliceBytes;
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

  /** Host identity: the option, or the machine's hostname. */
  get #host(): string {
    return this.#options.host ?? Deno.hostname();
  }

  /** Where peers and clients reach this worker: `tcp://host:port` (`tls://host:port` with TLS). */
  get address(): string {
    return this.#server.url;
  }

  /** Whether every connection must present a client certificate signed by the CA (mutual TLS). */
  get mutualTls(): boolean {
    return this.#server.mutualTls;
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
    clearTimeout(this.#exhausted?.timer);
    this.#eventLoop.stop();
    this.#manager.stop();
    this.#runner.abortAll(new Error("worker closing"));
    this.#scheduler?.close();
    this.#peers.close();
    await this.#server?.close();
    await this.#pool.close();
    await this.store.close();
    this.#finish();
  }

  /** Closes the worker at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #schedulerHandlers(): RpcHandlers<
    WorkerControlOperations,
    SchedulerOperations
  > {
    return {
      "compute": ({ tasks }) => {
        for (const message of tasks) {
          const received = epochMs();
          if (this.#exhausted?.expired) {
            this.#failSpillExhausted(message, received);
          } else if (this.#status === "paused") {
            this.#waiting.push({ message, received });
          } else this.#runner.run(message, received);
        }
      },
      "release": ({ keys }) => {
        for (const key of keys) {
          this.store.delete(key);
        }
      },
      "cancel": ({ key }) => {
        this.#runner.cancel(key);
        const i = this.#waiting.findIndex((w) => w.message.key === key);
        if (i >= 0) this.#waiting.splice(i, 1);
      },
      "ping": () => "pong",
    };
  }

  /** Re-reads the memory state; pauses or resumes; returns whether the status changed. */
  #refreshStatus(): boolean {
    const limit = this.#options.memoryLimit;
    // The disk lagging far behind is memory pressure too (backpressure).
    const backlog = limit !== null && this.store.pressure > 0.1 * limit;
    const status: WorkerStatus = this.#manager.paused || backlog
      ? "paused"
      : "running";
    this.#checkExhausted(status);
    if (status === this.#status) return false;
    this.#status = status;
    const rss = formatBytes(this.#manager.report().process);
    this.#log(
      status === "running"
        ? `resumed (process memory ${rss})`
        : `paused: ${
          this.#manager.paused
            ? "process memory past the pause threshold"
            : "spilling lags behind"
        } (process memory ${rss}, limit ${formatBytes(limit ?? 0)})`,
      status === "running" ? "info" : "warn",
      { status },
    );
    if (status === "running") {
      for (const { message, received } of this.#waiting.splice(0)) {
        this.#runner.run(message, received);
      }
      this.#fetcher.wake();
    }
    return true;
  }

  /**
   * Starts or ends an episode of exhausted spill space: paused while spills
   * fail for want of space. Its start is logged once; if it outlasts
   * `spillExhaustedTimeout`, the tasks waiting here fail.
   */
  #checkExhausted(status: WorkerStatus): void {
    const exhausted = status === "paused" &&
      this.#spillExhausted(this.store.metrics().failures);
    if (!exhausted) {
      if (this.#exhausted !== null) {
        clearTimeout(this.#exhausted.timer);
        this.#exhausted = null;
        this.#log("spill space available again", "info");
      }
      return;
    }
    if (this.#exhausted !== null || this.#closed) return;
    const timeout = this.#options.spillExhaustedTimeout ??
      DEFAULT_SPILL_EXHAUSTED_TIMEOUT;
    const episode: ExhaustedEpisode = {
      timer: undefined,
      expired: false,
    };
    this.#exhausted = episode;
    this.#log(
      `spill space exhausted: memory past the pause threshold and spills fail for want of space; ` +
        `paused, tasks waiting here fail unless memory frees within ${timeout} ms`,
      "warn",
      { status: "paused" },
    );
    episode.timer = setTimeout(() => {
      if (this.#exhausted !== episode || this.#closed) return;
      episode.expired = true;
      episode.timer = undefined;
      const waiting = this.#waiting.splice(0);
      for (const { message, received } of waiting) {
        this.#failSpillExhausted(message, received);
      }
      const started = this.#runner.failWaiting(this.#spillExhaustedError());
      this.#log(
        `spill space exhausted for ${timeout} ms: ${
          waiting.length + started
        } waiting tasks failed`,
        "warn",
      );
      this.#sendHeartbeat();
    }, timeout);
  }

  /** The error of a task that waited on exhausted spill space too long. */
  #spillExhaustedError(): Error {
    const error = new Error(
      `spill space exhausted on worker ${this.address}: its memory is past the pause threshold, ` +
        `its spill directory is full, and nothing freed within ${
          this.#options.spillExhaustedTimeout ?? DEFAULT_SPILL_EXHAUSTED_TIMEOUT
        } ms (release keys, add workers, or give the spill directory more space)`,
    );
    error.name = SPILL_EXHAUSTED_ERROR;
    return error;
  }

  /** Reports a task waiting here as failed for want of spill space. */
  #failSpillExhausted(message: ComputeMessage, _received: number): void {
    const error = this.#spillExhaustedError();
    this.#scheduler.notify("task-erred", {
      key: message.key,
      error: { name: error.name, message: error.message },
      name: message.exportName,
    }).catch(() => {});
  }

  #updateStatus(): void {
    if (this.#refreshStatus()) this.#sendHeartbeat();
  }

  #sendHeartbeat(): void {
    if (this.#closed) return;
    this.#refreshStatus();
    const report = this.#manager.report();
    const buffers = this.#buffers.stats;
    const store = this.store.metrics();
    const executing = this.#pool.busy;
    const ready = this.#pool.queued;
    const beat: Heartbeat = {
      // Past the spill-exhausted timeout the worker takes tasks again, to
      // fail them at once: the scheduler holds none back for it.
      status: this.#exhausted?.expired ? "running" : this.#status,
      transfers: { ...this.#transfers },
      store,
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
      eventLoop: this.#eventLoop.report(),
      tasks: {
        executing,
        ready,
        waiting: Math.max(0, this.#runner.running - executing - ready),
        paused: this.#waiting.length,
        memory: this.store.size,
      },
      spillExhausted: this.#spillExhausted(store.failures),
    };
    this.#scheduler.notify("heartbeat", beat).catch(() => {});
  }
}

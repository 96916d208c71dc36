/**
 * The messages between the cluster's roles, by operation name. Every
 * message is an RPC request or notification of `src/comm/rpc.ts`; bodies are
 * plain values, serialized in the frame layout (so `Frames` inside a body
 * travel as they are, never decoded).
 *
 * Scheduler ← worker: `register-worker` (request), `heartbeat`,
 * `task-finished`, `task-erred`, `add-replica` (notifications).
 * Scheduler → worker: `compute`, `release`, `cancel` (notifications on the
 * worker's own connection).
 * Scheduler ← client: `register-client`, `submit`, `release`, `who-has`,
 * `workers`, `add-data`, `task-stream` (requests). Scheduler → client: `task-done`,
 * `task-erred` (notifications).
 * Worker ← peer or client: `get-data`, `get-slice`, `put-data`, `ping`
 * (requests).
 *
 * @module
 */
import type { Frames } from "../serialize/frames.ts";
import type { StoreMetrics } from "../store/metrics.ts";
import type { TaskArg, TaskError, TaskSpec, WorkerStatus } from "./types.ts";

/** A worker's registration. `address` is where peers and clients reach it. */
export interface RegisterWorker {
  /** The worker's own RPC address, `tcp://host:port`; also its id. */
  address: string;
  /** Host identity (same host: same value). */
  host: string;
  /** Executor threads. */
  nthreads: number;
  /** Memory limit in bytes, or null for none. */
  memoryLimit: number | null;
  /** The worker's spill directory. */
  spillDir: string;
  /**
   * Shared-memory mode: the spill root's filesystem (`st_dev`) on a tmpfs.
   * Workers on the same host with the same `dev` hand keys over by hard
   * link. Absent in private mode.
   */
  shared?: { dev: number; root: string };
}

/** Process memory as the worker's memory manager sees it, in bytes. */
export interface WorkerMemory {
  /** Resident set size of the worker process. */
  process: number;
  /** Bytes the store holds in memory. */
  managed: number;
  /** process − managed. */
  unmanaged: number;
  /**
   * Garbage collections the worker's control thread ran by hand (see
   * `src/worker/collector.ts`), and the seconds they stalled it in all.
   */
  collections?: number;
  /** See `collections`. */
  collectionSeconds?: number;
  /**
   * Large buffers (spill files read back, messages received) taken from
   * the worker's pool of reused memory, and those allocated fresh.
   */
  buffers?: {
    reused: number;
    fresh: number;
    dropped: number;
    freeBytes: number;
  };
}

/** Data a worker moved to and from peers, since it started. */
export interface TransferFigures {
  /** Keys fetched from peers. */
  fetchedKeys: number;
  /** Bytes of frames fetched from peers. */
  fetchedBytes: number;
  /** Keys served to peers and clients. */
  servedKeys: number;
  /** Bytes of frames served to peers and clients. */
  servedBytes: number;
  /** Keys taken from same-host peers by hard link (no bytes sent). */
  linkedKeys?: number;
  /** Bytes of the files so linked. */
  linkedBytes?: number;
}

/** What a worker reports every heartbeat. */
export interface Heartbeat {
  /** Data moved between workers. */
  transfers: TransferFigures;
  /** Running or paused (memory pressure). */
  status: WorkerStatus;
  /** The store's metrics. */
  store: StoreMetrics;
  /** Process memory. */
  memory: WorkerMemory;
}

/** Run a task: the scheduler's compute action as the worker receives it. */
export interface ComputeMessage {
  /** Task key. */
  key: string;
  /** Module URL. */
  module: string;
  /** Export to call. */
  exportName: string;
  /** Arguments. */
  args: readonly TaskArg[];
  /** For each dependency, the addresses of the workers holding it. */
  who: Readonly<Record<string, readonly string[]>>;
  /** For each dependency, its size in bytes (to bound the bytes fetched at once). */
  sizes: Readonly<Record<string, number>>;
}

/**
 * A phase of a task on its worker, as the task stream records it:
 *
 * - `queued`: received, waiting for its turn (a paused worker, a busy
 *   executor);
 * - `memory-wait`: waiting for room in memory (see `src/worker/room.ts`);
 * - `transfer`: fetching inputs from peers;
 * - `disk-read`: reading inputs back from disk;
 * - `deserialize`: turning input frames into values;
 * - `compute`: running in the executor;
 * - `store`: putting the result in the store (copies, serialization);
 * - `disk-write`: spilling that the task waited for (to make room for it,
 *   or its result written to disk by the executor).
 */
export type TaskAction =
  | "queued"
  | "memory-wait"
  | "transfer"
  | "disk-read"
  | "deserialize"
  | "compute"
  | "store"
  | "disk-write";

/** One phase of a task: `start` and `stop` are epoch milliseconds. */
export interface StartStop {
  /** The phase. */
  action: TaskAction;
  /** When it started, in milliseconds since the epoch (the worker's clock). */
  start: number;
  /** When it ended, in milliseconds since the epoch. */
  stop: number;
  /** Bytes moved in the phase (transfer, disk-read, disk-write, store). */
  bytes?: number;
}

/**
 * One task as `client.taskStream()` returns it: where it ran and the time
 * of each of its phases there, in order.
 */
export interface TaskStreamRecord {
  /** Task key. */
  key: string;
  /** The task's function (its export name). */
  name: string;
  /** The worker that ran it. */
  worker: string;
  /** The executor thread that ran it (0-based). */
  thread: number;
  /** Its phases, in the order they started. */
  startstops: StartStop[];
  /** Present when the task failed: the error's name and message. */
  error?: string;
}

/** What the worker says of a task it ran, with its result or its error. */
export interface TaskTimeline {
  /** The task's function (its export name). */
  name?: string;
  /** The executor thread that ran it. */
  thread?: number;
  /** Its phases on the worker. */
  startstops?: StartStop[];
}

/** A task's result is in the worker's store. */
export interface TaskFinished extends TaskTimeline {
  /** Task key. */
  key: string;
  /** Size of the result in bytes. */
  nbytes: number;
  /** How long the task ran in its executor, in seconds. */
  seconds?: number;
}

/** A task threw (or its inputs could not be had). */
export interface TaskErredMessage extends TaskTimeline {
  /** Task key. */
  key: string;
  /** The remote error. */
  error: { name: string; message: string; stack?: string };
}

/** What `task-stream` asks for. */
export interface TaskStreamRequest {
  /**
   * Only tasks whose last phase ended at or after this time (epoch
   * milliseconds). Default: all the scheduler keeps.
   */
  since?: number;
}

/** A client's submission. */
export interface Submit {
  /** New tasks (keys already known are reused). */
  tasks: TaskSpec[];
  /** Keys this client holds futures for. */
  wanted: string[];
}

/** Per worker, as `client.workers()` returns it. */
export interface WorkerDescription {
  /** The worker's address. */
  address: string;
  /** Host identity. */
  host: string;
  /** Executor threads. */
  nthreads: number;
  /** Memory limit in bytes, or null. */
  memoryLimit: number | null;
  /** The worker's spill directory. */
  spillDir: string;
  /** Running or paused. */
  status: WorkerStatus;
  /** The store's metrics at the last heartbeat (null before the first). */
  store: StoreMetrics | null;
  /** Process memory at the last heartbeat (null before the first). */
  memory: WorkerMemory | null;
  /** Data moved between workers, at the last heartbeat (null before the first). */
  transfers: TransferFigures | null;
}

/** The scheduler tells a client that a key it wants failed. */
export interface KeyErred {
  /** The key. */
  key: string;
  /** Why, with the key that really failed. */
  error: TaskError;
}

/** Data for a peer: frames by key; keys the worker does not hold are absent. */
export interface DataReply {
  /** Frames of each key found. */
  data: Record<string, Frames>;
  /**
   * Shared-memory mode, to a same-host peer on the same spill filesystem:
   * the spill file of each key (to hard-link) instead of its bytes.
   */
  links?: Record<string, SpilledFileRef>;
  /**
   * To a peer that asked for `slices`: large keys on the donor's disk
   * only, to take with `get-slice` requests (the donor never reads them
   * back whole).
   */
  sliced?: Record<string, SlicedFile>;
}

/** A spilled key a peer takes in slices (`get-slice`). */
export interface SlicedFile {
  /** Names the file: a key overwritten since has another. */
  file: string;
  /** Its size in bytes: the key's frames, encoded. */
  bytes: number;
}

/** What a `get-slice` request asks for: bytes of a key's spill file. */
export interface GetSlice {
  /** The key. */
  key: string;
  /** The file, as {@linkcode SlicedFile.file} named it. */
  file: string;
  /** First byte. */
  offset: number;
  /** How many bytes (at most {@linkcode SLICE_BYTES}). */
  length: number;
}

/**
 * The largest slice a `get-slice` reply carries: under 1 MiB with its
 * envelope, so that neither side needs a large buffer for it.
 */
export const SLICE_BYTES = 2 ** 20 - 4096;

/** A spill file offered to a same-host peer instead of its bytes. */
export interface SpilledFileRef {
  /** Absolute path of the file, inside the shared spill root. */
  path: string;
  /** Its size in bytes (the receiver checks it). */
  bytes: number;
}

/** What a `get-data` request asks for. */
export interface GetData {
  /** The keys. */
  keys: string[];
  /**
   * The asker's host and spill filesystem, when it is in shared-memory
   * mode: a donor on the same host and filesystem answers with
   * {@linkcode DataReply.links}.
   */
  link?: { host: string; dev: number };
  /**
   * The asker takes large spilled keys in slices ({@linkcode DataReply.sliced}):
   * workers do, so that the donor needs no memory for them.
   */
  slices?: boolean;
}

/**
 * What a worker and the scheduler tell each other: registration,
 * heartbeats, tasks to run, tasks done; and a worker as clients see it.
 *
 * @module
 */
import type {
  EventLoopLag,
  EventLoopSummary,
  MemorySegments,
  ThresholdFractions,
  WorkerTaskState,
} from "./dashboard.ts";
import type { StoreMetrics } from "./store_metrics.ts";
import type { TaskArg, WorkerStatus } from "./task.ts";
import type { TaskTimeline } from "./task_stream.ts";

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
   *
   * `rootId`: the random id written into the spill root when it was first
   * used (in `.spillway-root-id/`): `st_dev` numbers can collide across hosts
   * and namespaces, so only workers with the same host, `dev` and `rootId`
   * link. Absent from workers that predate it (they match on host and `dev`).
   */
  shared?: { dev: number; root: string; rootId?: string };
  /**
   * How many times its nanny started a fresh worker process before this
   * one (0 or absent: the first).
   */
  restarts?: number;
  /**
   * The address of the worker process this one replaces (its nanny's
   * previous child), if any: the scheduler marks that one `restarted`.
   */
  replaces?: string;
  /**
   * The process it replaces was killed by its nanny for memory, at this
   * many bytes of RSS: the scheduler says so, with the tasks it was running.
   */
  replacedAfterMemoryKill?: number;
  /** Its memory thresholds, as fractions of `memoryLimit`. */
  thresholds?: ThresholdFractions;
}

/**
 * Process memory as the worker's memory manager sees it, in bytes.
 *
 * @example
 * ```ts
 * import type { Client, WorkerMemory } from "@spillway/spillway";
 * declare const client: Client;
 * const [first] = await client.workers();
 * const memory: WorkerMemory | null = first.memory; // null before its first heartbeat
 * ```
 */
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

/**
 * Data a worker moved to and from peers, since it started.
 *
 * @example
 * ```ts
 * import type { Client, WorkerTransferFigures } from "@spillway/spillway";
 * declare const client: Client;
 * const [first] = await client.workers();
 * const moved: WorkerTransferFigures | null = first.transfers; // null before its first heartbeat
 * ```
 */
export interface WorkerTransferFigures {
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
  /** Bytes of this worker's files that same-host peers took by hard link. */
  servedLinkedBytes?: number;
}

/** What a worker reports every heartbeat. */
export interface Heartbeat {
  /** Data moved between workers. */
  transfers: WorkerTransferFigures;
  /** Running or paused (memory pressure). */
  status: WorkerStatus;
  /** The store's metrics. */
  store: StoreMetrics;
  /** Process memory. */
  memory: WorkerMemory;
  /** Event-loop lag of the worker's control thread. */
  eventLoop?: EventLoopLag;
  /** Tasks on the worker by state (see {@linkcode WorkerTaskState}). */
  tasks?: Partial<Record<WorkerTaskState, number>>;
  /**
   * Whether its spill space is exhausted: a spill failed for want of space
   * (`disk-full`, `max-spill`) in the last minute.
   */
  spillExhausted?: boolean;
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

/**
 * Per worker, as `client.workers()` returns it.
 *
 * @example
 * ```ts
 * import type { Client, WorkerDescription } from "@spillway/spillway";
 * declare const client: Client;
 * const workers: WorkerDescription[] = await client.workers();
 * for (const w of workers) console.log(w.address, w.status, w.store?.spilled.bytes);
 * ```
 */
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
  transfers: WorkerTransferFigures | null;
  /**
   * Event-loop lag over the last minute, at the last heartbeat (null
   * before the first).
   */
  eventLoop: EventLoopSummary | null;
  /** How many times its nanny restarted the worker process. */
  restarts: number;
  /** Spill space exhausted in the last minute (see `Heartbeat.spillExhausted`). */
  spillExhausted: boolean;
  /** Memory thresholds as fractions of `memoryLimit` (all null without a limit). */
  thresholds: ThresholdFractions;
  /** Memory by segment, in bytes, at the last heartbeat. */
  segments: MemorySegments;
  /** Tasks on the worker by state, at the last heartbeat (each state present). */
  tasks: Record<WorkerTaskState, number>;
}

/** Results a worker reports in one message (`task-finished`). */
export interface TasksFinished {
  /** The tasks, in the order they finished. */
  tasks: TaskFinished[];
}

/** Tasks for a worker to run, in one message (`compute`). */
export interface ComputeBatch {
  /** The tasks, in the order the scheduler chose them. */
  tasks: ComputeMessage[];
}

/** A worker took a copy of `key` from a peer (`add-replica`). */
export interface AddReplica {
  /** The key. */
  key: string;
  /** Its size in bytes. */
  nbytes: number;
}

/** Keys to act on (`release`, `who-has`). */
export interface Keys {
  /** The keys. */
  keys: readonly string[];
}

/** Stop running a task (`cancel`). */
export interface CancelTask {
  /** The task's key. */
  key: string;
}

/** For each key asked about, the addresses of the workers holding it (sorted). */
export type WhoHas = Record<string, string[]>;

/**
 * What the scheduler's HTTP server answers (`src/dashboard/`), and what the
 * workers tell the scheduler so that it can: event-loop lag, memory
 * segments, thresholds, tasks by state on a worker. The page, `/api/*` and
 * `/metrics` read these shapes.
 *
 * @module
 */
import type { TaskState } from "./task.ts";
import type { TaskStreamRecord } from "./task_stream.ts";
import type { WorkerDescription } from "./worker.ts";

/**
 * The upper bounds, in seconds, of the event-loop lag histogram's buckets
 * (the `+Inf` bucket is the count). Every worker uses these.
 *
 * @example
 * ```ts
 * import { EVENT_LOOP_BUCKETS } from "./dashboard.ts";
 * EVENT_LOOP_BUCKETS[0]; // 0.001: lags up to 1 ms
 * ```
 */
export const EVENT_LOOP_BUCKETS: readonly number[] = Object.freeze([
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
]);

/**
 * A worker's event-loop lag: how late its periodic timer fired (a stall of
 * its control thread), as it reports it in each heartbeat. `maxMs` and
 * `p99Ms` cover the last `windowSeconds`; the histogram counts every
 * measure since the worker started.
 *
 * @example
 * ```ts
 * import type { EventLoopLag } from "./dashboard.ts";
 * const calm: EventLoopLag = {
 *   maxMs: 3.1, p99Ms: 1.2, windowSeconds: 60,
 *   histogram: { counts: [590, 598, 600, 600, 600, 600, 600, 600, 600, 600, 600, 600, 600], sum: 0.21, count: 600 },
 * };
 * ```
 */
export interface EventLoopLag {
  /** The longest lag over the window, in milliseconds. */
  maxMs: number;
  /** The 99th percentile of the lags over the window, in milliseconds. */
  p99Ms: number;
  /** The window: the last 60 seconds. */
  windowSeconds: 60;
  /**
   * Cumulative counts: `counts[i]` measures lagged at most
   * `EVENT_LOOP_BUCKETS[i]` seconds; `count` is all of them (the `+Inf`
   * bucket); `sum` their lags in seconds.
   */
  histogram: { counts: number[]; sum: number; count: number };
}

/**
 * The event-loop figures `/api/workers` shows per worker (the histogram
 * only goes to `/metrics`).
 *
 * @example
 * ```ts
 * import type { EventLoopSummary } from "./dashboard.ts";
 * const lag: EventLoopSummary = { maxMs: 12, p99Ms: 2.5, windowSeconds: 60 };
 * ```
 */
export interface EventLoopSummary {
  /** The longest lag over the last minute, in milliseconds. */
  maxMs: number;
  /** Its 99th percentile, in milliseconds. */
  p99Ms: number;
  /** Always 60. */
  windowSeconds: 60;
}

/**
 * A worker's memory thresholds as fractions of its memory limit (`null`:
 * disabled); `terminate` is where its nanny kills it.
 *
 * @example
 * ```ts
 * import type { ThresholdFractions } from "./dashboard.ts";
 * const dask: ThresholdFractions = { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 };
 * ```
 */
export interface ThresholdFractions {
  /** The store spills down to this. */
  target: number | null;
  /** Process memory above this starts spilling. */
  spill: number | null;
  /** Process memory above this pauses the worker. */
  pause: number | null;
  /** Process memory above this gets the worker killed. */
  terminate: number | null;
}

/**
 * A worker's memory in bytes, by segment, at its last heartbeat:
 * `live`, `serialized` (the store's tiers), `mapped` (shared-memory mode:
 * bytes of the spill files mapped by its control thread), `spilled` (its
 * spill files), `unmanaged` (process memory the store does not account
 * for). All 0 before its first heartbeat.
 *
 * @example
 * ```ts
 * import type { MemorySegments } from "./dashboard.ts";
 * const fresh: MemorySegments = { live: 0, serialized: 0, mapped: 0, spilled: 0, unmanaged: 0 };
 * ```
 */
export interface MemorySegments {
  /** Deserialized values in memory. */
  live: number;
  /** Serialized frames in memory. */
  serialized: number;
  /** Spill files mapped into memory (shared-memory mode). */
  mapped: number;
  /** Spill files on disk. */
  spilled: number;
  /** Process memory minus the store's managed bytes. */
  unmanaged: number;
}

/**
 * Where a worker's tasks are, on the worker:
 *
 * - `executing`: running in an executor thread;
 * - `ready`: waiting for a free executor thread;
 * - `waiting`: getting ready to run: room in memory, inputs from peers,
 *   inputs read back from disk;
 * - `paused`: received while the worker is paused, held until it resumes;
 * - `memory`: keys the worker holds.
 *
 * @example
 * ```ts
 * import type { WorkerTaskState } from "./dashboard.ts";
 * const state: WorkerTaskState = "executing";
 * ```
 */
export type WorkerTaskState =
  | "executing"
  | "ready"
  | "waiting"
  | "paused"
  | "memory";

/**
 * `GET /api/tasks`: the scheduler's tasks by state, in all and per task
 * function (its export name).
 *
 * @example
 * ```ts
 * import type { TaskCounts } from "./dashboard.ts";
 * declare const counts: TaskCounts;
 * const done = counts.byFunction["dot"]?.memory ?? 0;
 * ```
 */
export interface TaskCounts {
  /** Tasks in each state. */
  states: Record<TaskState, number>;
  /** Per function (export name; a key put by a client counts under `"(data)"`). */
  byFunction: Record<string, Record<TaskState, number>>;
}

/**
 * A worker that left the cluster recently: `left` (its connection closed
 * or its heartbeats stopped) or `restarted` (its nanny started a fresh
 * process, which registered with the restart count).
 *
 * @example
 * ```ts
 * import type { DepartedWorker } from "./dashboard.ts";
 * const gone: DepartedWorker = { address: "tcp://127.0.0.1:40001", at: Date.now(), why: "restarted" };
 * ```
 */
export interface DepartedWorker {
  /** The address it had. */
  address: string;
  /** When it left, epoch milliseconds. */
  at: number;
  /** Why. */
  why: "left" | "restarted";
}

/**
 * Sums over the workers now in the cluster, from their last heartbeats.
 *
 * @example
 * ```ts
 * import type { ClusterTotals } from "./dashboard.ts";
 * const none: ClusterTotals = { spilledBytes: 0, readBackBytes: 0, movedBytes: 0, linkedBytes: 0, deserializationsAvoided: 0 };
 * ```
 */
export interface ClusterTotals {
  /** Bytes written to spill files. */
  spilledBytes: number;
  /** Bytes read back (or mapped) from spill files. */
  readBackBytes: number;
  /** Bytes workers fetched from their peers. */
  movedBytes: number;
  /** Bytes same-host workers took from each other by hard link. */
  linkedBytes: number;
  /** Frames served to peers and clients without deserializing them. */
  deserializationsAvoided: number;
}

/**
 * `GET /api/cluster`: the host's memory, the totals, the workers that left
 * in the last minute.
 *
 * @example
 * ```ts
 * import type { ClusterSummary } from "./dashboard.ts";
 * declare const cluster: ClusterSummary;
 * const inUse = cluster.host.memTotal - cluster.host.memAvailable;
 * ```
 */
export interface ClusterSummary {
  /** The scheduler host's memory (`/proc/meminfo`), in bytes; 0 when unknown. */
  host: { memTotal: number; memAvailable: number };
  /** Cluster totals. */
  totals: ClusterTotals;
  /** Workers that left in the last minute, oldest first. */
  departed: DepartedWorker[];
}

/**
 * The data of each `update` event of `GET /api/events` (one a second).
 *
 * @example
 * ```ts
 * import type { DashboardUpdate } from "./dashboard.ts";
 * const source = new EventSource("/api/events");
 * source.addEventListener("update", (event) => {
 *   const update: DashboardUpdate = JSON.parse((event as MessageEvent).data);
 *   console.log(update.workers.length, update.taskStream.length);
 * });
 * ```
 */
export interface DashboardUpdate {
  /** As `GET /api/workers`. */
  workers: WorkerDescription[];
  /** As `GET /api/tasks`. */
  tasks: TaskCounts;
  /** As `GET /api/cluster`. */
  cluster: ClusterSummary;
  /** Task records new since the previous event (the first: the last 60 s). */
  taskStream: TaskStreamRecord[];
}

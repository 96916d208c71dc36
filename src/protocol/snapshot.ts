/**
 * The scheduler's state as `snapshot` returns it: counts of tasks by state
 * and, per worker, what it runs and holds. For dashboards and tests.
 *
 * @module
 */
import type { TaskState, WorkerStatus } from "./task.ts";

/**
 * One worker in a {@linkcode SchedulerSnapshot}.
 *
 * @example
 * ```ts
 * import type { WorkerSnapshot } from "./snapshot.ts";
 * const idle: WorkerSnapshot = {
 *   id: "w1", host: "h", nthreads: 1, memoryLimit: 0, status: "running",
 *   managedBytes: 0, heldBytes: 0, processing: [], keys: [],
 * };
 * ```
 */
export interface WorkerSnapshot {
  /** Worker id. */
  readonly id: string;
  /** Host identity. */
  readonly host: string;
  /** Executor threads. */
  readonly nthreads: number;
  /** Memory limit in bytes. */
  readonly memoryLimit: number;
  /** Running or paused. */
  readonly status: WorkerStatus;
  /** Bytes its store manages, as last reported. */
  readonly managedBytes: number;
  /** Sum of the reported sizes of the keys it holds. */
  readonly heldBytes: number;
  /** Keys assigned to it, sorted. */
  readonly processing: readonly string[];
  /** Keys it holds, sorted. */
  readonly keys: readonly string[];
}

/**
 * A copy of the scheduler's state for a dashboard or a test.
 *
 * @example
 * ```ts
 * import type { SchedulerSnapshot } from "./snapshot.ts";
 * const empty: SchedulerSnapshot = {
 *   tasks: { waiting: 0, ready: 0, processing: 0, memory: 0, erred: 0, released: 0 },
 *   queued: 0,
 *   workers: [],
 * };
 * ```
 */
export interface SchedulerSnapshot {
  /** Number of tasks in each state (forgotten keys are not counted). */
  readonly tasks: Readonly<Record<TaskState, number>>;
  /** Ready tasks waiting for a worker with room. */
  readonly queued: number;
  /** Workers, sorted by id. */
  readonly workers: readonly WorkerSnapshot[];
}

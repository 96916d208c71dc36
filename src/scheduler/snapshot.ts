/**
 * A copy of the scheduler's state for a dashboard or a test.
 *
 * @module
 */
import type { TaskGraph } from "./task_graph.ts";
import type { TaskState, WorkerStatus } from "./types.ts";
import type { WorkerRecord } from "./worker_record.ts";

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
 * import { SchedulerState } from "./state.ts";
 * new SchedulerState().snapshot().tasks.memory; // 0
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

/**
 * Counts tasks by state and lists each worker's tasks and keys.
 * O(tasks + keys held).
 *
 * @example
 * ```ts
 * import { TaskGraph } from "./task_graph.ts";
 * import { takeSnapshot } from "./snapshot.ts";
 * takeSnapshot(new TaskGraph(), new Map()).workers; // []
 * ```
 */
export function takeSnapshot(
  graph: TaskGraph,
  workers: ReadonlyMap<string, WorkerRecord>,
): SchedulerSnapshot {
  const tasks: Record<TaskState, number> = {
    waiting: 0,
    ready: 0,
    processing: 0,
    memory: 0,
    erred: 0,
    released: 0,
  };
  for (const task of graph.records()) tasks[task.state]++;
  const workerSnapshots = [...workers.values()]
    .sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    .map((worker): WorkerSnapshot => {
      let heldBytes = 0;
      for (const key of worker.hasWhat) {
        heldBytes += graph.get(key)!.nbytes;
      }
      return {
        id: worker.id,
        host: worker.host,
        nthreads: worker.nthreads,
        memoryLimit: worker.memoryLimit,
        status: worker.status,
        managedBytes: worker.managedBytes,
        heldBytes,
        processing: [...worker.processing].sort(),
        keys: [...worker.hasWhat].sort(),
      };
    });
  // Every ready task is queued: placement leaves none while a worker has room.
  return { tasks, queued: tasks.ready, workers: workerSnapshots };
}

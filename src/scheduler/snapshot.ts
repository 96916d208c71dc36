/**
 * A copy of the scheduler's state for a dashboard or a test.
 *
 * @module
 */
import type { TaskGraph } from "./task_graph.ts";
import type {
  SchedulerSnapshot,
  WorkerSnapshot,
} from "../protocol/snapshot.ts";
import { noTasks, type TaskState } from "../protocol/task.ts";
import type { WorkerRecord } from "./worker_record.ts";

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
  const tasks: Record<TaskState, number> = noTasks();
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

/**
 * Tasks by state per task function (its export name; scattered data, which
 * has none, under `"(data)"`). O(tasks).
 *
 * @example
 * ```ts
 * import { TaskGraph } from "./task_graph.ts";
 * import { countByFunction } from "./snapshot.ts";
 * const graph = new TaskGraph();
 * graph.addSpecs([{ key: "a", module: "file:///ops.ts", exportName: "load", args: [] }]);
 * countByFunction(graph).load.released; // 1
 * ```
 */
export function countByFunction(
  graph: TaskGraph,
): Record<string, Record<TaskState, number>> {
  const out: Record<string, Record<TaskState, number>> = {};
  for (const task of graph.records()) {
    const name = task.spec?.exportName ?? "(data)";
    out[name] ??= noTasks();
    out[name][task.state]++;
  }
  return out;
}

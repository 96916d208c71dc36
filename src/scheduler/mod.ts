/**
 * The scheduler's state machine: the task graph and each task's state
 * (waiting, ready, processing, memory, erred, released), who holds each key,
 * and each worker's load and status. Pure logic, no I/O: the networked
 * scheduler feeds it events (workers joining and leaving, task results,
 * client submissions and releases) and carries out the {@linkcode Action}s
 * it returns. Placement is the separate rule {@linkcode chooseWorker}.
 *
 * @example Two tasks, one worker
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { SchedulerState } from "./mod.ts";
 *
 * const state = new SchedulerState();
 * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 2 ** 30 });
 * state.submit([
 *   { key: "a", module: "file:///ops.ts", exportName: "load", args: [{ value: 0 }] },
 *   { key: "b", module: "file:///ops.ts", exportName: "double", args: [{ key: "a" }] },
 * ], ["b"]); // compute a on w1
 * state.taskFinished("w1", "a", 8); // compute b on w1, with who: { a: ["w1"] }
 * deepEqual(state.taskFinished("w1", "b", 8), [
 *   { type: "task-done", key: "b", nbytes: 8 },
 *   { type: "release", worker: "w1", keys: ["a"] },
 * ]);
 * ```
 *
 * @module
 */
export { SchedulerState } from "./state.ts";
export type {
  AddDataOptions,
  RemoveWorkerOptions,
  SchedulerOptions,
  WorkerUpdate,
} from "./scheduler_options.ts";
export {
  chooseWorker,
  type PlacementCandidate,
  type PlacementHolder,
  type PlacementInput,
  type PlacementOptions,
} from "./placement.ts";
export type {
  Action,
  CancelAction,
  ComputeAction,
  ReleaseAction,
  TaskDoneAction,
  TaskErredAction,
  WorkerInfo,
} from "./types.ts";

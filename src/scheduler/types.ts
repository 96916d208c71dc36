/**
 * The scheduler's state machine's own types: a worker as it registers with
 * the state machine and the actions the state machine gives out. The task
 * and error types it shares with every role are in `src/protocol/`.
 *
 * @module
 */
import type { TaskArg, TaskErrorInfo, WorkerStatus } from "../protocol/task.ts";

/**
 * What a worker tells the scheduler when it registers.
 *
 * @example
 * ```ts
 * import type { WorkerInfo } from "./types.ts";
 * const info: WorkerInfo = { id: "tcp://10.0.0.5:4001", host: "node-5", nthreads: 4, memoryLimit: 2 ** 32 };
 * ```
 */
export interface WorkerInfo {
  /**
   * Unique id of this worker *connection*. A worker that reconnects should
   * register under a new id: reports from its previous life are then
   * recognised as stale.
   */
  readonly id: string;
  /** Host identity; workers on the same host can share memory. */
  readonly host: string;
  /** Executor threads: tasks that can run at once. An integer ≥ 1. */
  readonly nthreads: number;
  /** Memory limit in bytes (informational here). */
  readonly memoryLimit: number;
  /** Initial status. Default `"running"`. */
  readonly status?: WorkerStatus;
}

/**
 * Run a task on `worker`. `who` says, for each dependency, which workers hold
 * it (sorted ids), so that the worker fetches what it lacks from a peer.
 *
 * @example
 * ```ts
 * import type { ComputeAction } from "./types.ts";
 * const run: ComputeAction = {
 *   type: "compute", worker: "w1", key: "s", module: "file:///ops.ts", exportName: "sum",
 *   args: [{ key: "a" }], who: { a: ["w2"] },
 * };
 * ```
 */
export interface ComputeAction {
  /** Discriminant. */
  readonly type: "compute";
  /** Worker that runs the task. */
  readonly worker: string;
  /** Task key; the worker stores the result under it. */
  readonly key: string;
  /** Module URL. */
  readonly module: string;
  /** Exported function name. */
  readonly exportName: string;
  /** Arguments as submitted. */
  readonly args: readonly TaskArg[];
  /** Holders of each dependency. */
  readonly who: Readonly<Record<string, readonly string[]>>;
}

/**
 * The worker should delete these keys from its store: nothing needs its copy.
 *
 * @example
 * ```ts
 * import type { ReleaseAction } from "./types.ts";
 * const drop: ReleaseAction = { type: "release", worker: "w1", keys: ["a", "b"] };
 * ```
 */
export interface ReleaseAction {
  /** Discriminant. */
  readonly type: "release";
  /** Worker holding the keys. */
  readonly worker: string;
  /** Keys to delete. */
  readonly keys: readonly string[];
}

/**
 * The scheduler no longer expects `key` from `worker` (an input was lost, so
 * it will run again elsewhere once the input is back; or a client cancelled
 * it): drop it if it has not started, stop it if it has (its executor is
 * terminated and replaced). A result reported anyway is handled as stale.
 *
 * @example
 * ```ts
 * import type { CancelAction } from "./types.ts";
 * const cancel: CancelAction = { type: "cancel", worker: "w1", key: "s" };
 * ```
 */
export interface CancelAction {
  /** Discriminant. */
  readonly type: "cancel";
  /** Worker the task was assigned to. */
  readonly worker: string;
  /** Task key. */
  readonly key: string;
}

/**
 * A key some client wants reached memory: futures waiting on it can resolve.
 *
 * @example
 * ```ts
 * import type { TaskDoneAction } from "./types.ts";
 * const done: TaskDoneAction = { type: "task-done", key: "s", nbytes: 8 };
 * ```
 */
export interface TaskDoneAction {
  /** Discriminant. */
  readonly type: "task-done";
  /** Key now in memory. */
  readonly key: string;
  /** Size of the result in bytes, as reported by the worker. */
  readonly nbytes: number;
}

/**
 * A key some client wants is erred: futures waiting on it reject with `error`.
 *
 * @example
 * ```ts
 * import type { TaskErredAction } from "./types.ts";
 * const failed: TaskErredAction = {
 *   type: "task-erred", key: "s", error: { name: "Error", message: "dependency failed: a: boom", key: "a" },
 * };
 * ```
 */
export interface TaskErredAction {
  /** Discriminant. */
  readonly type: "task-erred";
  /** Key that is erred. */
  readonly key: string;
  /** Why, with the key that really failed. */
  readonly error: TaskErrorInfo;
}

/**
 * Something the caller of the scheduler state machine (`SchedulerState`)
 * must carry out, in the order given.
 *
 * @example
 * ```ts
 * import type { Action } from "./types.ts";
 * function describe(action: Action): string {
 *   switch (action.type) {
 *     case "compute": return `run ${action.key} on ${action.worker}`;
 *     case "release": return `drop ${action.keys.join(", ")} on ${action.worker}`;
 *     case "cancel": return `cancel ${action.key} on ${action.worker}`;
 *     case "task-done": return `${action.key} done`;
 *     case "task-erred": return `${action.key} failed: ${action.error.message}`;
 *   }
 * }
 * ```
 */
export type Action =
  | ComputeAction
  | ReleaseAction
  | CancelAction
  | TaskDoneAction
  | TaskErredAction;

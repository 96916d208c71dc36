/**
 * The data the scheduler's state machine takes in (task specs, worker
 * registrations) and gives out (actions). Plain, structured-clonable values:
 * the networked scheduler sends them over the wire as they are.
 *
 * @module
 */

/**
 * One argument of a task: another task's key (a Future: the worker passes
 * that task's result) or a literal value passed as is.
 *
 * @example
 * ```ts
 * import type { TaskArg } from "./types.ts";
 * const args: TaskArg[] = [{ key: "chunk-0" }, { value: 1_000_000 }];
 * ```
 */
export type TaskArg = { readonly key: string } | { readonly value: unknown };

/**
 * A task as a client submits it: call `exportName` of the module at `module`
 * (a URL the workers can import) with `args`.
 *
 * @example
 * ```ts
 * import type { TaskSpec } from "./types.ts";
 * const dot: TaskSpec = {
 *   key: "dot-0-1",
 *   module: "file:///srv/ops.ts",
 *   exportName: "dot",
 *   args: [{ key: "chunk-0" }, { key: "chunk-1" }],
 * };
 * ```
 */
export interface TaskSpec {
  /** Unique name of the result; it names the computation (see `submit`). */
  readonly key: string;
  /** URL of the module the workers import. */
  readonly module: string;
  /** Name of the exported function to call. */
  readonly exportName: string;
  /** Arguments, in order. */
  readonly args: readonly TaskArg[];
}

/**
 * Where a task stands.
 *
 * - `waiting`: needed, but some dependency is not in memory yet.
 * - `ready`: every dependency is in memory; queued until a worker has room.
 * - `processing`: assigned to a worker, result not reported yet.
 * - `memory`: the result is held by at least one worker.
 * - `erred`: it (or a dependency) failed; kept while a client wants it or a
 *   task that depends on it is erred too.
 * - `released`: nothing wants it; no worker holds it. The scheduler keeps a
 *   released task only while a task in the graph depends on it (to recompute
 *   that task if its result is lost); otherwise it forgets the key.
 *
 * @example
 * ```ts
 * import type { TaskState } from "./types.ts";
 * const done = (state: TaskState | undefined) => state === "memory" || state === "erred";
 * done("processing"); // false
 * ```
 */
export type TaskState =
  | "waiting"
  | "ready"
  | "processing"
  | "memory"
  | "erred"
  | "released";

/**
 * Whether a worker takes new tasks. A paused worker (memory pressure) keeps
 * its running tasks and data but gets nothing new.
 *
 * @example
 * ```ts
 * import type { WorkerStatus } from "./types.ts";
 * const status: WorkerStatus = "paused";
 * ```
 */
export type WorkerStatus = "running" | "paused";

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
 * An error as a worker reports it: the remote error's name, message and
 * stack, kept verbatim.
 *
 * @example
 * ```ts
 * import type { RemoteError } from "./types.ts";
 * const reported: RemoteError = { name: "RangeError", message: "bad chunk", stack: "RangeError: bad chunk\n    at chunk (ops.ts:3:9)" };
 * ```
 */
export interface RemoteError {
  /** Remote error name, e.g. `"TypeError"`. */
  readonly name: string;
  /** Remote error message. */
  readonly message: string;
  /** Remote stack trace, if the worker had one. */
  readonly stack?: string;
}

/**
 * Why a task is erred, as clients see it. `key` is the key that really failed:
 * the task itself, or the dependency whose failure it inherits (then the
 * message reads `dependency failed: <key>: <message>`, and `name` and `stack`
 * are the failed task's).
 *
 * @example
 * ```ts
 * import type { TaskError } from "./types.ts";
 * const inherited: TaskError = { name: "RangeError", message: "dependency failed: load: bad chunk", key: "load" };
 * ```
 */
export interface TaskError extends RemoteError {
  /** The key whose own computation failed. */
  readonly key: string;
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
 * it will run again elsewhere once the input is back): drop it if it has not
 * started; if it has, its result will be reported and handled as stale.
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
  readonly error: TaskError;
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

/**
 * Tasks and errors as they travel between client, scheduler and worker:
 * plain, structured-clonable values.
 *
 * @module
 */

/**
 * One argument of a task: another task's key (a Future: the worker passes
 * that task's result) or a literal value passed as is.
 *
 * @example
 * ```ts
 * import type { TaskArg } from "./task.ts";
 * const args: TaskArg[] = [{ key: "chunk-0" }, { value: 1_000_000 }];
 * ```
 */
export type TaskArg =
  | { readonly key: string }
  | { readonly value: unknown }
  | NestedArg;

/**
 * An argument with futures inside it (an array, a plain object, a `Map`
 * or a `Set` holding futures, to any depth): `value` holds a
 * {@linkcode FutureMark} where each future was, and `keys` lists their
 * keys (the task's dependencies). The worker puts each key's value in its
 * place before the task runs.
 *
 * @example
 * ```ts
 * import { FUTURE_MARK, type NestedArg } from "./task.ts";
 * const arg: NestedArg = {
 *   value: [{ [FUTURE_MARK]: "chunk-0" }, { [FUTURE_MARK]: "chunk-1" }],
 *   keys: ["chunk-0", "chunk-1"],
 * };
 * ```
 */
export interface NestedArg {
  /** The argument, with a mark where each future was. */
  readonly value: unknown;
  /** The keys of the futures inside it (each once). */
  readonly keys: readonly string[];
}

/**
 * The property name of a future's place in a {@linkcode NestedArg}: a
 * plain object with this one property, whose value is the future's key.
 */
export const FUTURE_MARK = "\u0000spillway.future";

/** A future's place in a {@linkcode NestedArg}'s value. */
export type FutureMark = { readonly [FUTURE_MARK]: string };

/**
 * A task as a client submits it: call `exportName` of the module at `module`
 * (a URL the workers can import) with `args`.
 *
 * @example
 * ```ts
 * import type { TaskSpec } from "./task.ts";
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
  /**
   * How many times a task that throws is run again (on any worker) before
   * it is reported erred; the last try's error is the one reported.
   * Default 0.
   */
  readonly retries?: number;
  /** Higher runs first among ready tasks. Default 0. */
  readonly priority?: number;
}

/**
 * Where a task stands in the scheduler.
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
 * import type { TaskState } from "./task.ts";
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
 * A count per task state, every state at 0: the start of a tally.
 *
 * @example
 * ```ts
 * import { noTasks } from "./task.ts";
 * const counts = noTasks();
 * counts.memory++;
 * ```
 */
export function noTasks(): Record<TaskState, number> {
  return {
    waiting: 0,
    ready: 0,
    processing: 0,
    memory: 0,
    erred: 0,
    released: 0,
  };
}

/**
 * Whether a worker takes new tasks. A paused worker (memory pressure) keeps
 * its running tasks and data but gets nothing new.
 *
 * @example
 * ```ts
 * import type { WorkerStatus } from "./task.ts";
 * const status: WorkerStatus = "paused";
 * ```
 */
export type WorkerStatus = "running" | "paused";

/**
 * An error as it crosses the wire: the remote error's name, message and
 * stack, kept verbatim. (The class a caller catches is `RemoteError` in
 * `src/comm/errors.ts` or `RemoteTaskError` in the client.)
 *
 * @example
 * ```ts
 * import type { ErrorInfo } from "./task.ts";
 * const reported: ErrorInfo = { name: "RangeError", message: "bad chunk", stack: "RangeError: bad chunk\n    at chunk (ops.ts:3:9)" };
 * ```
 */
export interface ErrorInfo {
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
 * import type { TaskErrorInfo } from "./task.ts";
 * const inherited: TaskErrorInfo = { name: "RangeError", message: "dependency failed: load: bad chunk", key: "load" };
 * ```
 */
export interface TaskErrorInfo extends ErrorInfo {
  /** The key whose own computation failed. */
  readonly key: string;
}

/**
 * The containers walked for futures' places in a {@linkcode NestedArg}:
 * arrays, plain (or null-prototype) objects, `Map`s and `Set`s. Anything
 * else (typed arrays, dates, class instances) is a leaf.
 *
 * @example
 * ```ts
 * import { CONTAINER, containerKind } from "./task.ts";
 * containerKind(new Map()) === CONTAINER.map; // true
 * containerKind(new Float64Array(2)); // -1: a leaf
 * ```
 */
export const CONTAINER = { array: 0, object: 1, map: 2, set: 3 } as const;

/**
 * Which {@linkcode CONTAINER} `v` is, or -1 for a leaf. The client (placing
 * marks) and the worker (filling them) must agree on it.
 *
 * @example
 * ```ts
 * import { containerKind } from "./task.ts";
 * containerKind([1, 2]); // 0
 * ```
 */
export function containerKind(v: object): number {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Array.prototype && Array.isArray(v)) return CONTAINER.array;
  if (proto === Object.prototype || proto === null) return CONTAINER.object;
  if (proto === Map.prototype) return CONTAINER.map;
  if (proto === Set.prototype) return CONTAINER.set;
  return -1;
}

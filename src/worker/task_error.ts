/**
 * The error a task rejects with when it failed in its executor.
 *
 * @module
 */

/**
 * Why a task failed:
 * - `threw`: the task threw or rejected (sync or async);
 * - `import`: its module could not be imported;
 * - `export`: the module has no such export, or it is not a function;
 * - `unsendable`: its result cannot be sent back (e.g. it holds a function);
 * - `crashed`: the executor died while running it (an uncaught error or
 *   unhandled rejection, e.g. in a timer; `self.close()`; `Deno.exit()`).
 *
 * @example
 * ```ts
 * import type { TaskFailureKind } from "./task_error.ts";
 * const retryable = (kind: TaskFailureKind): boolean => kind === "crashed";
 * ```
 */
export type TaskFailureKind =
  | "threw"
  | "import"
  | "export"
  | "unsendable"
  | "crashed";

/**
 * What {@linkcode TaskError} is built from.
 *
 * @example
 * ```ts
 * import { TaskError, type TaskErrorInit } from "./task_error.ts";
 * const init: TaskErrorInit = {
 *   kind: "threw",
 *   module: "file:///tasks.ts",
 *   exportName: "fails",
 *   remoteName: "RangeError",
 *   remoteStack: "RangeError: too big\n    at fails (file:///tasks.ts:1:7)",
 * };
 * new TaskError("too big", init);
 * ```
 */
export interface TaskErrorInit {
  /** Why it failed. */
  kind: TaskFailureKind;
  /** The task's module URL. */
  module: string;
  /** The task's export name. */
  exportName: string;
  /** The remote error's `name` (`Error` when a non-error was thrown). */
  remoteName: string;
  /** The remote error's `stack`, empty when there is none. */
  remoteStack: string;
  /**
   * The lent inputs, returned: present when the executor could send them
   * back (after a throw, they are), absent after a crash.
   */
  args?: unknown[];
}

/**
 * A task failed in its executor. `message` is the remote error's message
 * when the task threw, otherwise a description of what went wrong; `stack`
 * ends with the remote stack.
 *
 * @example
 * ```ts
 * import { ExecutorPool } from "./executor_pool.ts";
 * import { TaskError } from "./task_error.ts";
 * await using pool = new ExecutorPool();
 * const module = "data:text/javascript,export const fails = () => { throw new RangeError('no'); };";
 * try {
 *   await pool.run({ module, exportName: "fails", args: [] });
 * } catch (e) {
 *   if (e instanceof TaskError) console.log(e.kind, e.remoteName, e.remoteStack);
 * }
 * ```
 */
export class TaskError extends Error {
  /** Why it failed. */
  readonly kind: TaskFailureKind;
  /** The task's module URL. */
  readonly module: string;
  /** The task's export name. */
  readonly exportName: string;
  /** The remote error's `name`. */
  readonly remoteName: string;
  /** The remote error's `stack`, empty when there is none. */
  readonly remoteStack: string;
  /** The returned inputs, when the executor could send them back. */
  readonly args: unknown[] | undefined;

  /**
   * @param message What went wrong.
   * @param init The details.
   */
  constructor(message: string, init: TaskErrorInit) {
    super(message);
    this.name = "TaskError";
    this.kind = init.kind;
    this.module = init.module;
    this.exportName = init.exportName;
    this.remoteName = init.remoteName;
    this.remoteStack = init.remoteStack;
    this.args = init.args;
    if (init.remoteStack) {
      this.stack =
        `${this.stack}\n    --- in the executor, ${init.module}#${init.exportName}:\n${init.remoteStack}`;
    }
  }
}

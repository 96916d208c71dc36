/**
 * The error of a cancelled task, and how the client tells it from other
 * task failures.
 *
 * @module
 */
import type { TaskErrorInfo } from "../protocol/mod.ts";
import { RemoteTaskError } from "./future.ts";

/**
 * A future's `result()` rejects with it when its task was cancelled
 * (`future.cancel()`, `client.cancel(futures)`), or when a task it depends
 * on was: then `cancelledKey` names that dependency. Dask's
 * `CancelledError`.
 *
 * @example
 * ```ts
 * import { CancelledError, type Future } from "@spillway/spillway";
 * declare const slow: Future<number>;
 * await slow.cancel();
 * try {
 *   await slow.result();
 * } catch (e) {
 *   if (!(e instanceof CancelledError)) throw e;
 *   console.log(`${e.key}: ${e.cancelledKey} was cancelled`);
 * }
 * ```
 */
export class CancelledError extends Error {
  /** The key whose future rejected. */
  readonly key: string;
  /** The key that was cancelled: `key` itself, or a dependency of it. */
  readonly cancelledKey: string;

  /**
   * The error for `key`, whose task (or its dependency `cancelledKey`) was
   * cancelled.
   */
  constructor(key: string, cancelledKey: string = key, message?: string) {
    super(
      message ??
        (cancelledKey === key
          ? `task ${key} was cancelled`
          : `dependency failed: ${cancelledKey}: task ${cancelledKey} was cancelled`),
    );
    this.name = "CancelledError";
    this.key = key;
    this.cancelledKey = cancelledKey;
  }
}

/**
 * The error a future of `key` rejects with for the scheduler's report
 * `info`: a {@linkcode CancelledError} for a cancellation (the scheduler's
 * own `CancelledError`, which has no remote stack), a
 * {@linkcode RemoteTaskError} otherwise.
 *
 * @example
 * ```ts
 * import { CancelledError, taskErrorFor } from "./cancelled_error.ts";
 * const e = taskErrorFor("b", { name: "CancelledError", message: "dependency failed: a: task a was cancelled", key: "a" });
 * console.log(e instanceof CancelledError); // true
 * ```
 */
export function taskErrorFor(
  key: string,
  info: TaskErrorInfo,
): CancelledError | RemoteTaskError {
  if (info.name === "CancelledError" && info.stack === undefined) {
    return new CancelledError(key, info.key, info.message);
  }
  return new RemoteTaskError(key, info);
}

/**
 * What the client records for a key it cancelled, before (or without) the
 * scheduler's own report.
 *
 * @example
 * ```ts
 * import { cancelledInfo } from "./cancelled_error.ts";
 * cancelledInfo("a").name; // "CancelledError"
 * ```
 */
export function cancelledInfo(key: string): TaskErrorInfo {
  return { name: "CancelledError", message: `task ${key} was cancelled`, key };
}

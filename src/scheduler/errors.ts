/**
 * The errors the scheduler itself gives tasks. Every one is a plain
 * {@linkcode TaskErrorInfo} value (it travels to clients as data), built here so
 * that the wording lives in one place.
 *
 * @module
 */
import type { ErrorInfo, TaskErrorInfo } from "../protocol/mod.ts";

/**
 * The error a task inherits from a failed dependency. The message names the
 * key that really failed; name and stack stay the remote ones, so a client
 * sees where the failure happened. An error that is already inherited is
 * passed on unchanged: a chain a → b → c reports `dependency failed: a: …` at
 * c, not a nested message.
 *
 * @param failed The error of the dependency.
 * @param dependencyKey The dependency's key.
 * @returns The error for the dependent.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { inheritedError } from "./errors.ts";
 * const own = { name: "RangeError", message: "boom", key: "a" };
 * const atB = inheritedError(own, "a");
 * equal(atB.message, "dependency failed: a: boom");
 * equal(inheritedError(atB, "b"), atB);
 * ```
 */
export function inheritedError(
  failed: TaskErrorInfo,
  dependencyKey: string,
): TaskErrorInfo {
  if (failed.key !== dependencyKey) return failed;
  const error: TaskErrorInfo = {
    name: failed.name,
    message: `dependency failed: ${failed.key}: ${failed.message}`,
    key: failed.key,
  };
  return failed.stack === undefined ? error : { ...error, stack: failed.stack };
}

/**
 * A worker's report of a failed task, with the task's key attached. Only the
 * three fields are kept: anything else the worker sent is not part of the
 * contract.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { ownError } from "./errors.ts";
 * deepEqual(ownError("a", { name: "TypeError", message: "x is not a function" }), {
 *   name: "TypeError", message: "x is not a function", key: "a",
 * });
 * ```
 */
export function ownError(key: string, reported: ErrorInfo): TaskErrorInfo {
  const error: TaskErrorInfo = {
    name: String(reported.name),
    message: String(reported.message),
    key,
  };
  return reported.stack === undefined
    ? error
    : { ...error, stack: String(reported.stack) };
}

/**
 * A task that was running on `deaths` workers that all died: it probably
 * kills its worker (out of memory, a crash), so it fails instead of being
 * tried again.
 *
 * @example
 * ```ts
 * import { killedWorkerError } from "./errors.ts";
 * killedWorkerError("big", 3).name; // "KilledWorker"
 * ```
 */
export function killedWorkerError(key: string, deaths: number): TaskErrorInfo {
  return {
    name: "KilledWorker",
    message:
      `task ${key} was running on ${deaths} workers that died while running it; ` +
      `it is not tried again`,
    key,
  };
}

/**
 * A task that names a dependency the scheduler does not know (never
 * submitted, or released and forgotten).
 *
 * @example
 * ```ts
 * import { unknownDependencyError } from "./errors.ts";
 * unknownDependencyError("sum", "gone").message; // "task sum depends on unknown key gone: ..."
 * ```
 */
export function unknownDependencyError(
  key: string,
  dependency: string,
): TaskErrorInfo {
  return {
    name: "UnknownDependency",
    message: `task ${key} depends on unknown key ${dependency}: ` +
      `it was never submitted or has been released`,
    key,
  };
}

/**
 * A task submitted on, or downstream of, a dependency cycle: it could never
 * run.
 *
 * @example
 * ```ts
 * import { cyclicDependencyError } from "./errors.ts";
 * cyclicDependencyError("a").name; // "CyclicDependency"
 * ```
 */
export function cyclicDependencyError(key: string): TaskErrorInfo {
  return {
    name: "CyclicDependency",
    message: `task ${key} is on, or depends on, a dependency cycle`,
    key,
  };
}

/**
 * Scattered data whose every holder left: it has no task to recompute it.
 *
 * @example
 * ```ts
 * import { lostDataError } from "./errors.ts";
 * lostDataError("x").name; // "LostData"
 * ```
 */
export function lostDataError(key: string): TaskErrorInfo {
  return {
    name: "LostData",
    message:
      `scattered data ${key} was lost: no worker holds it and it has no task to recompute it`,
    key,
  };
}

/**
 * A client asked for a key the scheduler does not know.
 *
 * @example
 * ```ts
 * import { unknownKeyError } from "./errors.ts";
 * unknownKeyError("x").name; // "UnknownKey"
 * ```
 */
export function unknownKeyError(key: string): TaskErrorInfo {
  return {
    name: "UnknownKey",
    message:
      `no task has key ${key}: it was never submitted or has been released`,
    key,
  };
}

/**
 * A task a client cancelled: dropped if it was queued, stopped on its
 * worker if it was running, its result released if it had one. The name
 * is `CancelledError`; a client rejects the key's futures (and, through
 * the inherited error, its dependents') with its own `CancelledError`.
 *
 * @example
 * ```ts
 * import { cancelledError } from "./errors.ts";
 * cancelledError("a").name; // "CancelledError"
 * ```
 */
export function cancelledError(key: string): TaskErrorInfo {
  return {
    name: "CancelledError",
    message: `task ${key} was cancelled`,
    key,
  };
}

/**
 * A task whose options are malformed (`retries` not an integer ≥ 0,
 * `priority` not a finite number): it never runs.
 *
 * @example
 * ```ts
 * import { invalidTaskError } from "./errors.ts";
 * invalidTaskError("a", "retries must be an integer >= 0, got -1").name; // "InvalidTask"
 * ```
 */
export function invalidTaskError(key: string, problem: string): TaskErrorInfo {
  return {
    name: "InvalidTask",
    message: `task ${key} is invalid: ${problem}`,
    key,
  };
}

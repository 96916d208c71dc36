/**
 * Options per submission (`retries`, `priority`), as the client checks
 * them before they reach the scheduler.
 *
 * @module
 */

/**
 * Options of the tasks a module proxy submits: `client.module(url, options)`
 * sets them for every call through the proxy, `proxy.withOptions(options)`
 * for the calls through the proxy it returns.
 *
 * @example
 * ```ts
 * import type { TaskOptions } from "@spillway/spillway";
 * const flaky: TaskOptions = { retries: 2 };
 * const urgent: TaskOptions = { priority: 10 };
 * ```
 */
export interface TaskOptions {
  /**
   * How many times a task that throws is run again, on any worker, before
   * its future rejects (with the last try's error). An integer ≥ 0;
   * default 0. Workers that die running it count apart (the scheduler's
   * `allowedFailures`).
   */
  readonly retries?: number;
  /**
   * Among tasks ready to run, higher runs first (first come, first served
   * among equals). A finite number; default 0.
   */
  readonly priority?: number;
}

/**
 * `options` checked: a copy with only the options that are set.
 *
 * @throws {TypeError} For an unknown option or options that are not an
 *   object.
 * @throws {RangeError} For `retries` that is not an integer ≥ 0, or
 *   `priority` that is not a finite number.
 *
 * @example
 * ```ts
 * import { checkTaskOptions } from "./task_options.ts";
 * checkTaskOptions({ retries: 2 }); // { retries: 2 }
 * // checkTaskOptions({ retries: -1 }) throws a RangeError
 * ```
 */
export function checkTaskOptions(options: TaskOptions): TaskOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `task options must be an object like { retries: 2, priority: 1 }, got ${
        String(options)
      }`,
    );
  }
  for (const name of Object.keys(options)) {
    if (name !== "retries" && name !== "priority") {
      throw new TypeError(
        `unknown task option ${
          JSON.stringify(name)
        }: the options are retries and priority`,
      );
    }
  }
  const { retries, priority } = options;
  if (
    retries !== undefined &&
    !(typeof retries === "number" && Number.isInteger(retries) && retries >= 0)
  ) {
    throw new RangeError(
      `retries must be an integer >= 0 (how many times a task that throws is run again), got ${
        typeof retries === "string" ? JSON.stringify(retries) : String(retries)
      }`,
    );
  }
  if (
    priority !== undefined &&
    !(typeof priority === "number" && Number.isFinite(priority))
  ) {
    throw new RangeError(
      `priority must be a finite number (higher runs first), got ${
        typeof priority === "string"
          ? JSON.stringify(priority)
          : String(priority)
      }`,
    );
  }
  return {
    ...(retries === undefined ? {} : { retries }),
    ...(priority === undefined ? {} : { priority }),
  };
}

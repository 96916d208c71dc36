/**
 * The error of a wait on the client that ran out of time.
 *
 * @module
 */

/**
 * `future.result({ timeout })` rejects with it when the result is not there
 * after `timeout` milliseconds. The task goes on: a later `result()` can
 * still have it.
 *
 * @example
 * ```ts
 * import { type Future, TimeoutError } from "@spillway/spillway";
 * declare const slow: Future<number>;
 * try {
 *   console.log(await slow.result({ timeout: 1000 }));
 * } catch (e) {
 *   if (!(e instanceof TimeoutError)) throw e;
 *   console.log(`not done after ${e.timeout} ms, still running`);
 * }
 * ```
 */
export class TimeoutError extends Error {
  /** The key waited for. */
  readonly key: string;
  /** How long it was waited for, in milliseconds. */
  readonly timeout: number;

  /** The error of a wait for `key` that lasted `timeout` ms. */
  constructor(key: string, timeout: number) {
    super(`the result of ${key} did not come within ${timeout} ms`);
    this.name = "TimeoutError";
    this.key = key;
    this.timeout = timeout;
  }
}

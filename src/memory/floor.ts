/**
 * The smallest memory limit a worker can run with, and the check every way
 * of starting one makes (`spillway worker`, `spillway local`, the demo,
 * `LocalCluster.start`).
 *
 * @module
 */
import { formatBytes } from "./bytes.ts";

/**
 * The smallest memory limit a worker accepts: 112 MiB.
 *
 * Measured on Linux x86_64, Deno 2.9.6: a worker under `LocalCluster`
 * (one executor thread, with its event-loop monitor, the sandbox and the
 * dashboard's figures), idle 3 s after running one small task, reported a
 * process memory (`client.workers()[0].memory.process`, its VmRSS) of
 * 78.6 MiB; of that, about 41 MiB is the deno binary's mapped code. In
 * private mode the worker's memory manager counts the whole RSS
 * (`Deno.memoryUsage().rss`) and pauses past 80% of the limit, so a limit
 * must exceed 78.6 / 0.8 = 98 MiB for an idle worker to run tasks at all;
 * 112 MiB (pause at 89.6 MiB) leaves about 11 MiB for the heap to grow
 * while it works. The nanny kills at 95% of the limit counted as RssAnon
 * (about 37 MiB idle), far below. Tests and benchmarks run workers at
 * 128 MiB, above this floor.
 *
 * @example
 * ```ts
 * import { MIN_MEMORY_LIMIT } from "./floor.ts";
 * console.log(MIN_MEMORY_LIMIT / 2 ** 20); // 112
 * ```
 */
export const MIN_MEMORY_LIMIT: number = 112 * 2 ** 20;

/**
 * Why `limit` cannot work, or null when it can (null, no limit, always can).
 *
 * @param limit Bytes, or null for none.
 * @returns One line naming the smallest limit that works, or null.
 * @example
 * ```ts
 * import { memoryLimitProblem } from "./floor.ts";
 * console.log(memoryLimitProblem(2));
 * // memory limit 2 B is below the smallest a worker can run with (112 MiB); use at least 112 MiB
 * console.log(memoryLimitProblem(2 ** 30)); // null
 * ```
 */
export function memoryLimitProblem(limit: number | null): string | null {
  if (limit === null || limit >= MIN_MEMORY_LIMIT) return null;
  const floor = `${MIN_MEMORY_LIMIT / 2 ** 20} MiB`;
  return `memory limit ${
    formatBytes(limit)
  } is below the smallest a worker can run with (${floor}); use at least ${floor}`;
}

/**
 * Throws when `limit` is below {@linkcode MIN_MEMORY_LIMIT}.
 *
 * @param limit Bytes, or null for none.
 * @throws {RangeError} Naming the smallest limit that works.
 * @example
 * ```ts
 * import { checkMemoryLimit } from "./floor.ts";
 * checkMemoryLimit(128 * 2 ** 20); // fine
 * ```
 */
export function checkMemoryLimit(limit: number | null): void {
  const problem = memoryLimitProblem(limit);
  if (problem !== null) throw new RangeError(problem);
}

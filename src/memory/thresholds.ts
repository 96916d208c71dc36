/**
 * The four memory thresholds of Dask's worker memory model, as fractions of
 * the memory limit.
 *
 * @module
 */

/**
 * Fractions of the memory limit at which the memory manager acts; `false`
 * disables one.
 *
 * - `target`: the store keeps its *managed* bytes below `target * limit` by
 *   evicting LRU keys itself (and spilling evicts process memory down to it).
 * - `spill`: when *process* memory exceeds `spill * limit`, the manager asks
 *   the store to evict down to `target * limit`.
 * - `pause`: above `pause * limit` of process memory the worker stops starting
 *   tasks until memory falls below it again.
 * - `terminate`: above `terminate * limit` the supervisor kills the worker.
 *
 * @example
 * ```ts
 * import { DEFAULT_THRESHOLDS, type MemoryThresholds } from "@spillway/spillway";
 * const thresholds: MemoryThresholds = { ...DEFAULT_THRESHOLDS, terminate: false };
 * ```
 */
export interface MemoryThresholds {
  /** Managed-memory target, in [0, 1], or `false`. */
  target: number | false;
  /** Process-memory fraction that starts spilling, in (0, 1], or `false`. */
  spill: number | false;
  /** Process-memory fraction that pauses task execution, in (0, 1], or `false`. */
  pause: number | false;
  /** Process-memory fraction that ends the worker, in (0, 1], or `false`. */
  terminate: number | false;
}

/**
 * Dask's defaults: target 60 %, spill 70 %, pause 80 %, terminate 95 %.
 *
 * @example Read a default
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { DEFAULT_THRESHOLDS } from "./thresholds.ts";
 *
 * equal(DEFAULT_THRESHOLDS.spill, 0.7);
 * ```
 */
export const DEFAULT_THRESHOLDS: Readonly<MemoryThresholds> = Object.freeze({
  target: 0.6,
  spill: 0.7,
  pause: 0.8,
  terminate: 0.95,
});

const THRESHOLD_NAMES: readonly (keyof MemoryThresholds)[] = [
  "target",
  "spill",
  "pause",
  "terminate",
];

/**
 * Fills the thresholds not given from {@linkcode DEFAULT_THRESHOLDS} and
 * validates all four. `target` may be 0 (evict everything the store can);
 * the others must be in (0, 1], because a spill, pause or terminate fraction
 * of 0 would act on every sample. The order of the fractions is not checked:
 * a spill fraction above the pause fraction is odd but consistent.
 *
 * @param partial Thresholds to override; `undefined` members take the default.
 * @returns A complete, new set of thresholds.
 * @throws {RangeError} If a threshold is out of range, not a number or `false`,
 *   or not one of the four names (a typo would otherwise be silently ignored).
 *
 * @example Override one threshold, disable another
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { resolveThresholds } from "./thresholds.ts";
 *
 * deepEqual(resolveThresholds({ spill: 0.75, terminate: false }), {
 *   target: 0.6,
 *   spill: 0.75,
 *   pause: 0.8,
 *   terminate: false,
 * });
 * ```
 */
export function resolveThresholds(
  partial?: Partial<MemoryThresholds>,
): MemoryThresholds {
  for (const name of Object.keys(partial ?? {})) {
    if (!(THRESHOLD_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(
        `unknown memory threshold "${name}": expected target, spill, pause or terminate`,
      );
    }
  }
  const resolved: MemoryThresholds = { ...DEFAULT_THRESHOLDS };
  for (const name of THRESHOLD_NAMES) {
    const value: unknown = partial?.[name];
    if (value === undefined) continue;
    const lowest = name === "target" ? "0 <= x <= 1" : "0 < x <= 1";
    const valid = value === false ||
      (typeof value === "number" && value <= 1 &&
        (name === "target" ? value >= 0 : value > 0));
    if (!valid) {
      throw new RangeError(
        `invalid memory threshold ${name}=${String(value)}: ` +
          `expected a fraction of the memory limit (${lowest}) or false to disable it`,
      );
    }
    resolved[name] = value as number | false;
  }
  return resolved;
}

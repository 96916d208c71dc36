/**
 * Memory accounting and control for a Spillway worker.
 *
 * - {@linkcode sizeof} estimates the bytes a value holds; the store sums it
 *   into its managed bytes.
 * - {@linkcode parseBytes}, {@linkcode formatBytes} and
 *   {@linkcode parseMemoryLimit} turn sizes and the `--memory-limit` setting
 *   ("4GiB", "0.5", "auto") into bytes and back.
 * - {@linkcode MemoryThresholds} and {@linkcode resolveThresholds}: the
 *   target, spill, pause and terminate fractions of Dask's worker memory
 *   model.
 * - {@linkcode MemoryManager} samples process memory and applies those
 *   thresholds to a {@linkcode ManagedStore}: it sets the store's target,
 *   asks it to evict, and dispatches `pause`, `resume` and `terminate`.
 *   The store knows no thresholds; the manager decides.
 *
 * @example Wire a store to the memory manager
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { type ManagedStore, MemoryManager, parseMemoryLimit } from "./mod.ts";
 *
 * const store: ManagedStore = {
 *   managedBytes: 0,
 *   spilledBytes: 0,
 *   target: Infinity,
 *   evict: () => Promise.resolve(0),
 * };
 * const limit = parseMemoryLimit("4GiB");
 * using manager = new MemoryManager({ limit, store });
 * manager.addEventListener("pause", () => console.log("paused"));
 * manager.start();
 * equal(store.target, Math.floor(0.6 * 4 * 1024 ** 3));
 * ```
 *
 * @module
 */

export { formatBytes, parseBytes, parseMemoryLimit } from "./bytes.ts";
export type { ParseMemoryLimitOptions } from "./bytes.ts";
export {
  type ManagedStore,
  MemoryManager,
  type MemoryManagerEventMap,
  type MemoryManagerOptions,
  type MemoryReport,
} from "./manager.ts";
export { sizeof } from "./sizeof.ts";
export {
  DEFAULT_THRESHOLDS,
  type MemoryThresholds,
  resolveThresholds,
} from "./thresholds.ts";

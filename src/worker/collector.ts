/**
 * When the worker's control thread collects garbage by hand.
 *
 * The store keeps data in SharedArrayBuffers, which V8 does not count as
 * external memory: dropping them (after a spill, or when a key is released)
 * never prompts a collection, and the control thread allocates little, so
 * their memory stayed taken. Two cases are seen:
 *
 * - a worker above its spill threshold with nothing left to spill stayed
 *   paused for good;
 * - in shared-memory mode with `target: 0`, every chunk a worker had made
 *   stayed in memory after it was spilled to the tmpfs, which cost the host
 *   a second copy of the data;
 * - a spilled key served to a peer is read back (or, in shared-memory
 *   mode, mapped) for the reply alone; the buffer (or the mapping, holding
 *   the file's pages even once deleted) stayed until the next collection.
 *
 * So the collector runs `gc()` (worker processes run with `--expose-gc`;
 * without it nothing happens) when process memory is above `highFraction`
 * of the limit (at most every `highIntervalMs`), or when the store has let
 * go of `releasedBytes` since the last collection (at most every
 * `releasedIntervalMs`). A full collection of the control thread's heap
 * took 8–60 ms here (the longer on a busy host), so it runs at most once
 * per 256 MiB let go of by default.
 *
 * @module
 */
import type { MemoryReport } from "../memory/manager.ts";

/** Options of {@linkcode Collector}. */
export interface CollectorOptions {
  /**
   * Runs a full collection. Default `globalThis.gc` (exposed by
   * `--expose-gc`); `null`, or no `globalThis.gc`: never collects.
   */
  gc?: (() => void) | null;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Fraction of the limit above which to collect. Default 0.7. */
  highFraction?: number;
  /** Least time between collections above `highFraction`. Default 200 ms. */
  highIntervalMs?: number;
  /**
   * Bytes let go of by the store that prompt a collection. Default 256 MiB,
   * or a quarter of the limit when that is less.
   */
  releasedBytes?: number;
  /** Least time between collections on released bytes. Default 100 ms. */
  releasedIntervalMs?: number;
}

/**
 * Decides, sample by sample, whether to collect garbage.
 *
 * @example
 * ```ts
 * import { Collector } from "./collector.ts";
 * let collections = 0;
 * const c = new Collector({ gc: () => collections++, releasedBytes: 100 });
 * const report = { process: 0, managed: 0, unmanaged: 0, spilled: 0, limit: null };
 * c.sample(report, 50);
 * c.sample(report, 150); // the store let go of 150 bytes ≥ 100
 * collections; // 1
 * ```
 */
export class Collector {
  readonly #gc: (() => void) | null;
  readonly #now: () => number;
  readonly #highFraction: number;
  readonly #highIntervalMs: number;
  readonly #releasedBytes: number | undefined;
  readonly #releasedIntervalMs: number;
  #last = -Infinity;
  /** The store's released bytes at the last collection. */
  #releasedAtLast = 0;
  #collections = 0;
  #seconds = 0;

  /** A collector; see {@linkcode CollectorOptions} for the defaults. */
  constructor(options: CollectorOptions = {}) {
    this.#gc = options.gc === undefined
      ? (globalThis as { gc?: () => void }).gc ?? null
      : options.gc;
    this.#now = options.now ?? (() => performance.now());
    this.#highFraction = options.highFraction ?? 0.7;
    this.#highIntervalMs = options.highIntervalMs ?? 200;
    this.#releasedBytes = options.releasedBytes;
    this.#releasedIntervalMs = options.releasedIntervalMs ?? 100;
  }

  /** Collections run so far. */
  get collections(): number {
    return this.#collections;
  }

  /** Seconds spent in them (the control thread stalls meanwhile). */
  get seconds(): number {
    return this.#seconds;
  }

  /**
   * Collects now if the store let go of at least `bytes` since the last
   * collection (`released` as in {@linkcode Collector.sample}): for a step
   * about to take `bytes` of fresh memory, which a collection may give
   * back for reuse instead (a collection here costs less than faulting in
   * 64 MiB of fresh memory). Returns whether it did.
   */
  collectFor(bytes: number, released: number): boolean {
    if (this.#gc === null || released - this.#releasedAtLast < bytes) {
      return false;
    }
    this.#collect(released);
    return true;
  }

  /**
   * Takes a memory sample and the bytes let go of so far (the store's
   * `StoreMetrics.released` plus `handedOut`); collects when they call for
   * it. Returns whether it did.
   */
  sample(report: MemoryReport, released: number): boolean {
    if (this.#gc === null) return false;
    const since = this.#now() - this.#last;
    const high = report.limit !== null &&
      report.process > this.#highFraction * report.limit &&
      since > this.#highIntervalMs;
    const enough = this.#releasedBytes ??
      Math.min(256 * 2 ** 20, (report.limit ?? Infinity) / 4);
    const letGo = released - this.#releasedAtLast >= enough &&
      since > this.#releasedIntervalMs;
    if (!high && !letGo) return false;
    this.#collect(released);
    return true;
  }

  #collect(released: number): void {
    this.#last = this.#now();
    this.#releasedAtLast = released;
    this.#collections++;
    const start = performance.now();
    this.#gc!();
    this.#seconds += (performance.now() - start) / 1000;
  }
}

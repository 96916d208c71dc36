/**
 * The one way the store times its work into its counters.
 *
 * @module
 */
import type {
  CodecFigures,
  TransferFigures,
} from "../protocol/store_metrics.ts";

/**
 * A piece of work being timed: started when made, counted by
 * {@linkcode Meter.count} once it is done.
 *
 * @example
 * ```ts
 * import { Meter } from "./meter.ts";
 * import type { TransferFigures } from "../protocol/store_metrics.ts";
 * const spills: TransferFigures = { count: 0, bytes: 0, seconds: 0 };
 * const meter = new Meter();
 * // ... write 4096 bytes ...
 * meter.count(spills, 4096); // spills.count 1, bytes 4096, seconds since `new Meter()`
 * ```
 */
export class Meter {
  readonly #start = performance.now();

  /**
   * Counts the work in codec `figures`: one more call, and the seconds
   * since this meter was made.
   */
  count(figures: CodecFigures): void;
  /**
   * Counts the work in transfer `figures`: one more transfer, `bytes` more
   * bytes, and the seconds since this meter was made.
   */
  count(figures: TransferFigures, bytes: number): void;
  count(figures: CodecFigures | TransferFigures, bytes?: number): void {
    figures.count++;
    if (bytes !== undefined) (figures as TransferFigures).bytes += bytes;
    figures.seconds += (performance.now() - this.#start) / 1000;
  }
}

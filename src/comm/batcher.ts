/**
 * Coalesces items produced in one turn of the event loop into one message:
 * a scheduler that assigns 10,000 tasks in one call sends one `compute`
 * message per worker, not 10,000.
 *
 * @module
 */

/**
 * Collects items and hands them to `flush` once per microtask checkpoint.
 *
 * @example
 * ```ts
 * import { Batcher } from "./batcher.ts";
 * const sent: number[][] = [];
 * const batcher = new Batcher<number>((items) => sent.push(items));
 * batcher.push(1);
 * batcher.push(2);
 * await Promise.resolve();
 * sent; // [[1, 2]]
 * ```
 */
export class Batcher<T> {
  readonly #flush: (items: T[]) => void;
  #items: T[] = [];

  /** A batcher that calls `flush` with each batch. */
  constructor(flush: (items: T[]) => void) {
    this.#flush = flush;
  }

  /** Adds an item to the batch being collected. */
  push(item: T): void {
    if (this.#items.length === 0) queueMicrotask(() => this.#send());
    this.#items.push(item);
  }

  #send(): void {
    const items = this.#items;
    this.#items = [];
    if (items.length > 0) this.#flush(items);
  }
}

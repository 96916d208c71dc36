/**
 * Coalesces items produced in one turn of the event loop into one message:
 * a scheduler that assigns 10,000 tasks in one call sends one `compute`
 * message per worker, not 10,000.
 *
 * @module
 */

/** How a {@linkcode Batcher} may hold a batch past the current turn. */
export interface BatcherOptions {
  /**
   * Asked at each flush point: while it returns true (more items are about
   * to come, e.g. an executor still has queued tasks), the batch waits,
   * up to `maxDelayMs` after its first item.
   */
  readonly holdWhile?: () => boolean;
  /** The longest a held batch waits, in milliseconds (default 2). */
  readonly maxDelayMs?: number;
}

/**
 * Collects items and hands them to `flush` once per microtask checkpoint,
 * or, with `holdWhile`, once nothing more is about to come.
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
  readonly #holdWhile: () => boolean;
  readonly #maxDelayMs: number;
  #items: T[] = [];
  #checkQueued = false;
  #firstAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A batcher that calls `flush` with each batch. */
  constructor(flush: (items: T[]) => void, options: BatcherOptions = {}) {
    this.#flush = flush;
    this.#holdWhile = options.holdWhile ?? (() => false);
    this.#maxDelayMs = options.maxDelayMs ?? 2;
  }

  /** Adds an item to the batch being collected. */
  push(item: T): void {
    if (this.#items.length === 0) this.#firstAt = performance.now();
    this.#items.push(item);
    if (!this.#checkQueued) {
      this.#checkQueued = true;
      queueMicrotask(() => this.#check());
    }
  }

  /** Sends what is collected now, held or not. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items;
    this.#items = [];
    if (items.length > 0) this.#flush(items);
  }

  #check(): void {
    this.#checkQueued = false;
    if (this.#items.length === 0) return;
    const waited = performance.now() - this.#firstAt;
    if (waited >= this.#maxDelayMs || !this.#holdWhile()) return this.flush();
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#maxDelayMs - waited);
  }
}

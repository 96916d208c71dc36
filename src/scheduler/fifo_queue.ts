/**
 * A first-in first-out queue with O(1) amortized `push` and `shift`.
 *
 * `Array.prototype.shift` moves every element (O(n) per call, O(n²) to drain
 * 10,000 queued tasks), and taking the first element of a `Set` after many
 * deletions walks over the deleted slots. This queue keeps a head index and
 * compacts the backing array once more than half of it is consumed.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { FifoQueue } from "./fifo_queue.ts";
 * const queue = new FifoQueue<string>();
 * queue.push("a");
 * queue.push("b");
 * equal(queue.shift(), "a");
 * equal(queue.size, 1);
 * ```
 */
export class FifoQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Number of items queued. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Appends an item at the back.
   *
   * @example
   * ```ts
   * import { FifoQueue } from "./fifo_queue.ts";
   * new FifoQueue<number>().push(1);
   * ```
   */
  push(item: T): void {
    this.#items.push(item);
  }

  /**
   * Removes and returns the front item, or `undefined` if the queue is empty.
   *
   * @example
   * ```ts
   * import { FifoQueue } from "./fifo_queue.ts";
   * new FifoQueue<number>().shift(); // undefined
   * ```
   */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    // Drop the reference so that a consumed item can be collected.
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

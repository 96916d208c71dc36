/**
 * The scheduler's ready queue: highest priority first, first in first out
 * among equal priorities.
 *
 * @module
 */

interface Entry<T> {
  readonly item: T;
  readonly priority: number;
  /** Push order: breaks ties, so that equal priorities leave in order. */
  readonly seq: number;
}

/**
 * A binary heap ordered by priority (higher first), then by push order
 * (earlier first): with every priority equal it is a FIFO queue. `push` and
 * `shift` are O(log n), so draining n items is O(n log n).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { PriorityQueue } from "./priority_queue.ts";
 * const queue = new PriorityQueue<string>();
 * queue.push("a", 0);
 * queue.push("b", 5);
 * queue.push("c", 0);
 * equal(queue.shift(), "b");
 * equal(queue.shift(), "a");
 * equal(queue.shift(), "c");
 * ```
 */
export class PriorityQueue<T> {
  readonly #heap: Entry<T>[] = [];
  #seq = 0;

  /** Number of items queued. */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * Adds an item with a priority (a finite number; higher leaves first).
   *
   * @throws {RangeError} If `priority` is not a finite number.
   *
   * @example
   * ```ts
   * import { PriorityQueue } from "./priority_queue.ts";
   * new PriorityQueue<string>().push("urgent", 10);
   * ```
   */
  push(item: T, priority = 0): void {
    if (typeof priority !== "number" || !Number.isFinite(priority)) {
      throw new RangeError(`priority must be a finite number, got ${priority}`);
    }
    const heap = this.#heap;
    heap.push({ item, priority, seq: this.#seq++ });
    let at = heap.length - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(heap[at], heap[parent])) break;
      [heap[at], heap[parent]] = [heap[parent], heap[at]];
      at = parent;
    }
  }

  /**
   * Removes and returns the item with the highest priority (the earliest
   * pushed among equals), or `undefined` if the queue is empty.
   *
   * @example
   * ```ts
   * import { PriorityQueue } from "./priority_queue.ts";
   * new PriorityQueue<number>().shift(); // undefined
   * ```
   */
  shift(): T | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        const right = left + 1;
        let best = at;
        if (left < heap.length && before(heap[left], heap[best])) best = left;
        if (right < heap.length && before(heap[right], heap[best])) {
          best = right;
        }
        if (best === at) break;
        [heap[at], heap[best]] = [heap[best], heap[at]];
        at = best;
      }
    }
    if (heap.length === 0) this.#seq = 0;
    return top.item;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.priority > b.priority ||
    (a.priority === b.priority && a.seq < b.seq);
}

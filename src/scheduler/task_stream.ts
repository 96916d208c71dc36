/**
 * The scheduler's record of recent tasks: what each worker said of the
 * phases of each task it ran (`TaskStreamRecord`), the latest ones kept in
 * a ring of fixed size. `client.taskStream()` reads it; a dashboard draws it.
 *
 * @module
 */
import type { TaskStreamRecord } from "../protocol/mod.ts";

/** How many records the scheduler keeps by default. */
export const TASK_STREAM_CAPACITY = 100_000;

/**
 * The latest `capacity` task records, oldest first.
 *
 * @example
 * ```ts
 * import { TaskStream } from "./task_stream.ts";
 * const stream = new TaskStream(2);
 * for (const key of ["a", "b", "c"]) {
 *   stream.add({
 *     key, name: "f", worker: "w", thread: 0,
 *     startstops: [{ action: "compute", start: 1, stop: 2 }],
 *   });
 * }
 * stream.collect().map((r) => r.key); // ["b", "c"]
 * ```
 */
export class TaskStream {
  readonly #capacity: number;
  readonly #ring: TaskStreamRecord[] = [];
  /** Where the oldest record is, once the ring is full. */
  #head = 0;
  /** Records added since the stream began. */
  #added = 0;

  /**
   * @param capacity How many records to keep.
   * @throws {RangeError} If `capacity` is not a positive integer.
   */
  constructor(capacity: number = TASK_STREAM_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `capacity must be a positive integer, got ${capacity}`,
      );
    }
    this.#capacity = capacity;
  }

  /** How many records are kept. */
  get size(): number {
    return this.#ring.length;
  }

  /** How many records were ever added: a cursor for {@linkcode TaskStream.after}. */
  get added(): number {
    return this.#added;
  }

  /** Adds a record, dropping the oldest when full. */
  add(record: TaskStreamRecord): void {
    this.#added++;
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(record);
      return;
    }
    this.#ring[this.#head] = record;
    this.#head = (this.#head + 1) % this.#capacity;
  }

  /**
   * The records added after the first `cursor` ones (a value of
   * {@linkcode TaskStream.added}), oldest first, as far as they are still
   * kept.
   *
   * @example
   * ```ts
   * import { TaskStream } from "./task_stream.ts";
   * const stream = new TaskStream();
   * const add = (key: string) => stream.add({ key, name: "f", worker: "w", thread: 0, startstops: [] });
   * add("a");
   * const cursor = stream.added; // 1
   * add("b");
   * stream.after(cursor).map((r) => r.key); // ["b"]
   * ```
   */
  after(cursor: number): TaskStreamRecord[] {
    const count = Math.min(
      this.#ring.length,
      Math.max(0, this.#added - cursor),
    );
    if (count === 0) return [];
    const ordered = [
      ...this.#ring.slice(this.#head),
      ...this.#ring.slice(0, this.#head),
    ];
    return ordered.slice(ordered.length - count);
  }

  /**
   * The records kept, oldest first; with `since` (epoch ms), only those
   * whose last phase ended at or after it.
   */
  collect(since?: number): TaskStreamRecord[] {
    const ordered = [
      ...this.#ring.slice(this.#head),
      ...this.#ring.slice(0, this.#head),
    ];
    if (since === undefined) return ordered;
    return ordered.filter((r) => lastStop(r) >= since);
  }
}

/** When the record's last phase ended (0 for a record without phases). */
function lastStop(record: TaskStreamRecord): number {
  let stop = 0;
  for (const s of record.startstops) stop = Math.max(stop, s.stop);
  return stop;
}

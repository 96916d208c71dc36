/**
 * Making room in memory before a step that needs it: a task about to read
 * its inputs back from disk and make a result, or a fetch about to receive
 * a peer's bytes.
 *
 * The memory manager acts on samples, after the fact; a worker with a small
 * limit and large chunks passed its limit between two samples (a 64 MiB
 * result is briefly held twice while it moves into shared memory, and two
 * 64 MiB inputs come back from disk at once) and was killed by its nanny.
 * So each such step first reserves what it will need: the store spills
 * enough to fit it under the budget, and the step waits while other steps
 * hold the room it needs.
 *
 * @module
 */
import { epochMs, type Timeline } from "./timeline.ts";

/** What {@linkcode Room} needs of the store. */
export interface EvictableStore {
  /** Evicts at least `bytes` of managed memory; resolves with what it freed. */
  evict(bytes: number): Promise<number>;
}

/** Options of {@linkcode Room}. */
export interface RoomOptions {
  /** The worker's memory limit in bytes; `null`: no limit, no waiting. */
  readonly limit: number | null;
  /** Fraction of the limit that reserved steps may fill (default 0.7, the spill threshold). */
  readonly budget?: number;
  /** The store to spill from. */
  readonly store: EvictableStore;
  /** Process memory in bytes. Default `Deno.memoryUsage().rss`. */
  readonly processMemory?: () => number;
  /**
   * Frees what the store let go of (spilled buffers are only returned to
   * the system once collected). Default `globalThis.gc` when exposed.
   */
  readonly collect?: () => void;
}

/**
 * Reservations of memory for the steps of a worker.
 *
 * A step reserves `bytes` and gets a release function. While process
 * memory plus what others have reserved plus `bytes` is over the budget,
 * the store spills the difference; when nothing more can be spilled, the
 * step waits for another reservation to end. A step with no other
 * reservation left to wait for goes ahead anyway, so that a worker whose
 * single task needs more than the budget still makes progress (its nanny
 * is the last word).
 *
 * @example
 * ```ts
 * import { Room } from "./room.ts";
 * const room = new Room({
 *   limit: 1000,
 *   store: { evict: () => Promise.resolve(0) },
 *   processMemory: () => 300,
 * });
 * const release = await room.reserve(200); // 300 + 200 ≤ 700: at once
 * room.reserved; // 200
 * release();
 * ```
 */
export class Room {
  readonly #limit: number | null;
  readonly #budget: number;
  readonly #store: EvictableStore;
  readonly #processMemory: () => number;
  readonly #collect: () => void;
  #reserved = 0;
  #holders = 0;
  #waiters: Array<() => void> = [];
  /** Reservations are decided one at a time, in order. */
  #turn: Promise<void> = Promise.resolve();

  /** Reservations against `options.limit`. */
  constructor(options: RoomOptions) {
    this.#limit = options.limit;
    this.#budget = options.budget ?? 0.7;
    this.#store = options.store;
    this.#processMemory = options.processMemory ??
      (() => Deno.memoryUsage().rss);
    const gc = (globalThis as { gc?: () => void }).gc;
    this.#collect = options.collect ?? (() => gc?.());
  }

  /**
   * Whether `bytes` more would fit under the budget now, with what is
   * reserved (always, without a limit). Nothing is reserved or spilled.
   */
  fits(bytes: number): boolean {
    return this.#over(bytes) <= 0;
  }

  /** Bytes by which `bytes` more would pass the budget now (≤ 0: they fit). */
  #over(bytes: number): number {
    if (this.#limit === null) return -Infinity;
    return this.#processMemory() + this.#reserved + bytes -
      this.#budget * this.#limit;
  }

  /** Bytes reserved by steps under way. */
  get reserved(): number {
    return this.#reserved;
  }

  /**
   * Waits until `bytes` fit (spilling to make them fit), then holds them
   * until the returned function is called (idempotent).
   *
   * `wait: false` spills what it can but never waits for other steps: for
   * serving a peer, which must not wait on tasks that may themselves wait
   * on that peer (two workers fetching from each other would deadlock).
   *
   * `timeline`: where a task records the time it waited (`memory-wait`)
   * and the time it spilled to make room (`disk-write`, with the bytes).
   */
  reserve(
    bytes: number,
    options: { wait?: boolean; timeline?: Timeline } = {},
  ): Promise<() => void> {
    const wait = options.wait ?? true;
    const timeline = options.timeline;
    // Nothing to decide: skip the queue (short tasks run at thousands a second).
    if (!wait || bytes <= 0 || this.#limit === null) {
      return this.#admit(bytes, false, timeline);
    }
    const asked = epochMs();
    const turn = this.#turn.then(() => {
      timeline?.add("memory-wait", asked, epochMs());
      return this.#admit(bytes, true, timeline);
    });
    this.#turn = turn.then(() => {}, () => {});
    return turn;
  }

  async #admit(
    bytes: number,
    wait: boolean,
    timeline?: Timeline,
  ): Promise<() => void> {
    const amount = Math.max(0, bytes);
    if (this.#limit !== null && amount > 0) {
      for (;;) {
        const over = this.#over(amount);
        if (over <= 0) break;
        const spilling = epochMs();
        const freed = await this.#store.evict(over);
        if (freed > 0) {
          this.#collect();
          timeline?.add("disk-write", spilling, epochMs(), freed);
          continue;
        }
        if (!wait || this.#holders === 0) break; // nothing to wait for: go ahead
        const waiting = epochMs();
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        this.#collect(); // what the finished step dropped
        timeline?.add("memory-wait", waiting, epochMs());
      }
    }
    this.#reserved += amount;
    this.#holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#reserved -= amount;
      this.#holders--;
      for (const wake of this.#waiters.splice(0)) wake();
    };
  }
}

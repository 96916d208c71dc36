/**
 * Event-loop lag of the worker's control thread, measured all the time: a
 * timer due every `interval` ms, and by how much it fires late. A late
 * timer is a stall (a long synchronous piece of work, a garbage
 * collection, a copy on this thread); the worker reports the longest and
 * the 99th percentile over the last minute, and a histogram of every
 * measure, with each heartbeat.
 *
 * @module
 */
import { EVENT_LOOP_BUCKETS, type EventLoopLag } from "../protocol/mod.ts";

/** Options of {@linkcode EventLoopMonitor}. */
export interface EventLoopMonitorOptions {
  /** Milliseconds between measures. Default 100. */
  interval?: number;
  /**
   * The window of `maxMs` and `p99Ms`, in ms. Default 60 000 (the report
   * says `windowSeconds: 60` whatever it is; another is for tests).
   */
  window?: number;
  /** The clock, in ms (for tests). Default `performance.now`. */
  now?: () => number;
}

/**
 * Measures the event-loop lag of this thread.
 *
 * @example
 * ```ts
 * import { EventLoopMonitor } from "./event_loop.ts";
 * const monitor = new EventLoopMonitor();
 * monitor.start();
 * // ... later, in a heartbeat:
 * const lag = monitor.report();
 * console.log(lag.maxMs, lag.p99Ms, lag.histogram.count);
 * monitor.stop();
 * ```
 */
export class EventLoopMonitor {
  readonly #interval: number;
  readonly #window: number;
  readonly #now: () => number;
  /** Measures in the window: when (ms) and how late (ms), oldest first. */
  readonly #recent: { at: number; lag: number }[] = [];
  /** Per bucket of `EVENT_LOOP_BUCKETS`, measures that fell in it (not cumulative). */
  readonly #buckets: number[] = EVENT_LOOP_BUCKETS.map(() => 0);
  #count = 0;
  #sumSeconds = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;

  /** @param options Interval, window, clock. */
  constructor(options: EventLoopMonitorOptions = {}) {
    this.#interval = options.interval ?? 100;
    this.#window = options.window ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
    if (!(this.#interval > 0) || !(this.#window > 0)) {
      throw new RangeError(
        `interval and window must be positive, got ${this.#interval} and ${this.#window}`,
      );
    }
  }

  /** Starts measuring (the timer does not keep the process alive). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops measuring. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    const due = this.#now() + this.#interval;
    const timer = setTimeout(() => {
      if (!this.#running) return;
      this.record(Math.max(0, this.#now() - due));
      this.#schedule();
    }, this.#interval);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /**
   * Counts one measure: the timer fired `lagMs` late.
   *
   * @param lagMs How late, in milliseconds (≥ 0).
   */
  record(lagMs: number): void {
    const lag = Math.max(0, lagMs);
    const at = this.#now();
    this.#recent.push({ at, lag });
    this.#count++;
    this.#sumSeconds += lag / 1000;
    const seconds = lag / 1000;
    const i = EVENT_LOOP_BUCKETS.findIndex((le) => seconds <= le);
    if (i >= 0) this.#buckets[i]++;
    this.#expire(at);
  }

  #expire(now: number): void {
    const from = now - this.#window;
    let drop = 0;
    while (drop < this.#recent.length && this.#recent[drop].at < from) drop++;
    if (drop > 0) this.#recent.splice(0, drop);
  }

  /**
   * The lag over the window (0 when nothing was measured in it) and the
   * histogram of every measure so far.
   *
   * @returns What the heartbeat carries.
   */
  report(): EventLoopLag {
    this.#expire(this.#now());
    const lags = this.#recent.map((r) => r.lag).sort((a, b) => a - b);
    const maxMs = lags.length === 0 ? 0 : lags[lags.length - 1];
    // Nearest rank: the smallest measure with at least 99% at or below it.
    const p99Ms = lags.length === 0
      ? 0
      : lags[Math.max(0, Math.ceil(0.99 * lags.length) - 1)];
    const counts: number[] = [];
    let cumulative = 0;
    for (const n of this.#buckets) counts.push(cumulative += n);
    return {
      maxMs,
      p99Ms,
      windowSeconds: 60,
      histogram: { counts, sum: this.#sumSeconds, count: this.#count },
    };
  }
}

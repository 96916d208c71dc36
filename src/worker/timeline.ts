/**
 * The phases of one task on its worker, recorded as they happen and sent
 * to the scheduler with the task's completion (the task stream).
 *
 * Times are epoch milliseconds with sub-millisecond resolution
 * (`performance.timeOrigin + performance.now()`): the executors' and the
 * control thread's clocks agree, and workers on other hosts share no other
 * clock with the scheduler.
 *
 * @module
 */
import type { StartStop, TaskAction } from "../protocol/mod.ts";

/**
 * Now, in milliseconds since the epoch, to a fraction of a millisecond.
 *
 * @example
 * ```ts
 * import { epochMs } from "./timeline.ts";
 * Math.abs(epochMs() - Date.now()) < 1000; // true
 * ```
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The phases of one task, in the order they started.
 *
 * @example
 * ```ts
 * import { Timeline } from "./timeline.ts";
 * const timeline = new Timeline();
 * timeline.add("queued", 1000, 1000); // took no time: left out
 * timeline.add("compute", 1000, 1002);
 * await timeline.time("store", () => new Promise((r) => setTimeout(r, 1)), 8);
 * timeline.startstops.map((s) => s.action); // ["compute", "store"]
 * ```
 */
export class Timeline {
  /** The phases recorded so far. */
  readonly startstops: StartStop[] = [];

  /** Records a phase; one that took no time is left out. */
  add(action: TaskAction, start: number, stop: number, bytes?: number): void {
    if (!(stop > start)) return;
    this.startstops.push(
      bytes === undefined || bytes <= 0
        ? { action, start, stop }
        : { action, start, stop, bytes },
    );
  }

  /** Runs `work` and records its time as `action` (also when it throws). */
  async time<T>(
    action: TaskAction,
    work: () => Promise<T>,
    bytes?: number,
  ): Promise<T> {
    const start = epochMs();
    try {
      return await work();
    } finally {
      this.add(action, start, epochMs(), bytes);
    }
  }
}

/**
 * The scheduler's record of one worker, and the in-flight bound that keeps a
 * worker from being handed the whole ready queue at once.
 *
 * @module
 */
import type { WorkerStatus } from "../protocol/mod.ts";
import type { WorkerInfo } from "./types.ts";

/**
 * What the scheduler knows of a worker. Mutable: the state machine owns it.
 *
 * @example
 * ```ts
 * import { createWorkerRecord } from "./worker_record.ts";
 * const worker = createWorkerRecord({ id: "w1", host: "h", nthreads: 2, memoryLimit: 2 ** 30 });
 * worker.processing.size; // 0
 * ```
 */
export interface WorkerRecord {
  /** Worker id. */
  readonly id: string;
  /** Host identity. */
  readonly host: string;
  /** Executor threads. */
  readonly nthreads: number;
  /** Memory limit in bytes. */
  readonly memoryLimit: number;
  /** Paused workers get no new tasks. */
  status: WorkerStatus;
  /** Keys assigned to it and not reported yet. */
  readonly processing: Set<string>;
  /** Keys whose result it holds. */
  readonly hasWhat: Set<string>;
  /** Bytes its store manages, as last reported. */
  managedBytes: number;
  /**
   * Moving average of how long its tasks ran, in seconds; `null` until one
   * has finished.
   */
  meanTaskSeconds: number | null;
}

/**
 * A record for a newly registered worker.
 *
 * @throws {TypeError} If `id` or `host` is not a non-empty string.
 * @throws {RangeError} If `nthreads` is not an integer ≥ 1 or `memoryLimit`
 *   is negative or not a number.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { createWorkerRecord } from "./worker_record.ts";
 * throws(() => createWorkerRecord({ id: "w", host: "h", nthreads: 0, memoryLimit: 0 }), RangeError);
 * ```
 */
export function createWorkerRecord(info: WorkerInfo): WorkerRecord {
  if (typeof info.id !== "string" || info.id === "") {
    throw new TypeError(`worker id must be a non-empty string, got ${info.id}`);
  }
  if (typeof info.host !== "string" || info.host === "") {
    throw new TypeError(
      `worker host must be a non-empty string, got ${info.host}`,
    );
  }
  if (!Number.isInteger(info.nthreads) || info.nthreads < 1) {
    throw new RangeError(
      `worker nthreads must be an integer >= 1, got ${info.nthreads}`,
    );
  }
  if (!(info.memoryLimit >= 0)) {
    throw new RangeError(
      `worker memoryLimit must be >= 0 bytes, got ${info.memoryLimit}`,
    );
  }
  return {
    id: info.id,
    host: info.host,
    nthreads: info.nthreads,
    memoryLimit: info.memoryLimit,
    status: info.status ?? "running",
    processing: new Set(),
    hasWhat: new Set(),
    managedBytes: 0,
    meanTaskSeconds: null,
  };
}

/**
 * The queued work, in seconds per thread, that lets a worker with very
 * short tasks be given more than `tasksPerThread` at once.
 */
const QUEUED_SECONDS_PER_THREAD = 0.02;
/**
 * The most tasks per thread in flight, however short they are (unless
 * `tasksPerThread` is higher).
 *
 * @example
 * ```ts
 * import { MAX_TASKS_PER_THREAD } from "./worker_record.ts";
 * MAX_TASKS_PER_THREAD; // 64
 * ```
 */
export const MAX_TASKS_PER_THREAD = 64;

/**
 * How many tasks may be in flight on `worker`: `nthreads * tasksPerThread`,
 * or more when its tasks are short (enough for about 20 ms of work per
 * thread, at most 64 per thread).
 *
 * More than one per thread keeps a thread busy while the worker fetches the
 * next task's inputs; a bound keeps the rest queued on the scheduler, where
 * they can still go to whichever worker frees up first (or holds their
 * inputs) instead of piling up behind one worker. Sub-millisecond tasks
 * would leave the worker idle between round trips to the scheduler at 4
 * per thread; their results then also travel in bigger batches.
 *
 * @example
 * ```ts
 * import { createWorkerRecord, inFlightLimit, recordDuration } from "./worker_record.ts";
 * const worker = createWorkerRecord({ id: "w", host: "h", nthreads: 4, memoryLimit: 0 });
 * inFlightLimit(worker, 2); // 8
 * recordDuration(worker, 0.001); // 1 ms tasks
 * inFlightLimit(worker, 2); // 80: 20 per thread
 * ```
 */
export function inFlightLimit(
  worker: WorkerRecord,
  tasksPerThread: number,
): number {
  const mean = worker.meanTaskSeconds;
  const perThread = mean === null ? tasksPerThread : Math.max(
    tasksPerThread,
    Math.min(
      MAX_TASKS_PER_THREAD,
      Math.floor(QUEUED_SECONDS_PER_THREAD / Math.max(mean, 1e-6)),
    ),
  );
  return worker.nthreads * perThread;
}

/**
 * Folds one task's run time into `worker.meanTaskSeconds` (an exponential
 * moving average, so that a change of workload shows within a few tasks).
 * Negative or non-finite durations are ignored.
 *
 * @example
 * ```ts
 * import { createWorkerRecord, recordDuration } from "./worker_record.ts";
 * const worker = createWorkerRecord({ id: "w", host: "h", nthreads: 1, memoryLimit: 0 });
 * recordDuration(worker, 0.5);
 * worker.meanTaskSeconds; // 0.5
 * ```
 */
export function recordDuration(worker: WorkerRecord, seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0) return;
  const mean = worker.meanTaskSeconds;
  worker.meanTaskSeconds = mean === null ? seconds : mean * 0.8 + seconds * 0.2;
}

/**
 * Whether `worker` may be given a new task now: running and below its
 * in-flight limit.
 *
 * @example
 * ```ts
 * import { createWorkerRecord, takesWork } from "./worker_record.ts";
 * const worker = createWorkerRecord({ id: "w", host: "h", nthreads: 1, memoryLimit: 0, status: "paused" });
 * takesWork(worker, 2); // false
 * ```
 */
export function takesWork(
  worker: WorkerRecord,
  tasksPerThread: number,
): boolean {
  return worker.status === "running" &&
    worker.processing.size < inFlightLimit(worker, tasksPerThread);
}

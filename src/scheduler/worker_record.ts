/**
 * The scheduler's record of one worker, and the in-flight bound that keeps a
 * worker from being handed the whole ready queue at once.
 *
 * @module
 */
import type { WorkerInfo, WorkerStatus } from "./types.ts";

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
  };
}

/**
 * How many tasks may be in flight on `worker`: `nthreads * tasksPerThread`.
 * More than one per thread keeps a thread busy while the worker fetches the
 * next task's inputs; a bound keeps the rest queued on the scheduler, where
 * they can still go to whichever worker frees up first (or holds their
 * inputs) instead of piling up behind one worker.
 *
 * @example
 * ```ts
 * import { createWorkerRecord, inFlightLimit } from "./worker_record.ts";
 * inFlightLimit(createWorkerRecord({ id: "w", host: "h", nthreads: 4, memoryLimit: 0 }), 2); // 8
 * ```
 */
export function inFlightLimit(
  worker: WorkerRecord,
  tasksPerThread: number,
): number {
  return worker.nthreads * tasksPerThread;
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

/**
 * The options and inputs of the scheduler state machine's methods.
 *
 * @module
 */
import type { WorkerStatus } from "../protocol/mod.ts";
import type { PlacementOptions } from "./placement.ts";

/**
 * Options of `SchedulerState`.
 *
 * @example
 * ```ts
 * import { SchedulerState } from "./state.ts";
 * import type { SchedulerOptions } from "./scheduler_options.ts";
 * const options: SchedulerOptions = { allowedFailures: 5, placement: { sameHostIsLocal: true } };
 * new SchedulerState(options);
 * ```
 */
export interface SchedulerOptions {
  /**
   * A task fails with a `KilledWorker` error once this many workers died
   * while it was assigned to them. Default 3.
   */
  readonly allowedFailures?: number;
  /**
   * In-flight bound per executor thread: a worker is given at most
   * `nthreads * tasksPerThread` tasks at once; the rest wait in the ready
   * queue. Default 2.
   */
  readonly tasksPerThread?: number;
  /** Placement rule options. Default: inputs count only where they are. */
  readonly placement?: PlacementOptions;
}

/**
 * Options of `SchedulerState.addData`.
 *
 * @example
 * ```ts
 * import type { AddDataOptions } from "./scheduler_options.ts";
 * const broadcastCopy: AddDataOptions = { want: false };
 * ```
 */
export interface AddDataOptions {
  /**
   * Count one client want for the key, as `client.scatter` returns a future.
   * Default `true`. With `false`, a key nothing needs is released at once.
   */
  readonly want?: boolean;
}

/**
 * Options of `SchedulerState.removeWorker`.
 *
 * @example
 * ```ts
 * import type { RemoveWorkerOptions } from "./scheduler_options.ts";
 * const retire: RemoveWorkerOptions = { graceful: true };
 * ```
 */
export interface RemoveWorkerOptions {
  /**
   * The worker left on purpose (retired, shut down): its tasks go back to
   * the queue without counting towards a `KilledWorker` failure. Default
   * `false`: it disconnected or missed its heartbeats.
   */
  readonly graceful?: boolean;
}

/**
 * Status changes a worker reports.
 *
 * @example
 * ```ts
 * import type { WorkerUpdate } from "./scheduler_options.ts";
 * const pause: WorkerUpdate = { status: "paused", managedBytes: 900_000_000 };
 * ```
 */
export interface WorkerUpdate {
  /** New status; resuming places queued ready tasks. */
  readonly status?: WorkerStatus;
  /** Bytes the worker's store manages. */
  readonly managedBytes?: number;
}

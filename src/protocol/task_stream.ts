/**
 * The task stream: each task's phases on its worker, as workers report them
 * and `client.taskStream()` returns them.
 *
 * @module
 */

/**
 * A phase of a task on its worker, as the task stream records it:
 *
 * - `queued`: received, waiting for its turn (a paused worker, a busy
 *   executor);
 * - `memory-wait`: waiting for room in memory (see `src/worker/room.ts`);
 * - `transfer`: fetching inputs from peers;
 * - `disk-read`: reading inputs back from disk;
 * - `deserialize`: turning input frames into values;
 * - `compute`: running in the executor;
 * - `store`: putting the result in the store (copies, serialization);
 * - `disk-write`: spilling that the task waited for (to make room for it,
 *   or its result written to disk by the executor).
 *
 * @example
 * ```ts
 * import type { TaskAction } from "@spillway/spillway";
 * const action: TaskAction = "disk-read";
 * ```
 */
export type TaskAction =
  | "queued"
  | "memory-wait"
  | "transfer"
  | "disk-read"
  | "deserialize"
  | "compute"
  | "store"
  | "disk-write";

/**
 * One phase of a task: `start` and `stop` are epoch milliseconds.
 *
 * @example
 * ```ts
 * import type { StartStop } from "@spillway/spillway";
 * const phase: StartStop = { action: "transfer", start: 1_700_000_000_000, stop: 1_700_000_000_012, bytes: 2 ** 20 };
 * ```
 */
export interface StartStop {
  /** The phase. */
  action: TaskAction;
  /** When it started, in milliseconds since the epoch (the worker's clock). */
  start: number;
  /** When it ended, in milliseconds since the epoch. */
  stop: number;
  /** Bytes moved in the phase (transfer, disk-read, disk-write, store). */
  bytes?: number;
}

/**
 * One task as `client.taskStream()` returns it: where it ran and the time
 * of each of its phases there, in order.
 *
 * @example
 * ```ts
 * import type { Client, TaskStreamRecord } from "@spillway/spillway";
 * declare const client: Client;
 * const records: TaskStreamRecord[] = await client.taskStream();
 * const workers = new Set(records.map((r) => r.worker));
 * ```
 */
export interface TaskStreamRecord {
  /** Task key. */
  key: string;
  /** The task's function (its export name). */
  name: string;
  /** The worker that ran it. */
  worker: string;
  /** The executor thread that ran it (0-based). */
  thread: number;
  /** Its phases, in the order they started. */
  startstops: StartStop[];
  /** Present when the task failed: the error's name and message. */
  error?: string;
}

/** What the worker says of a task it ran, with its result or its error. */
export interface TaskTimeline {
  /** The task's function (its export name). */
  name?: string;
  /** The executor thread that ran it. */
  thread?: number;
  /** Its phases on the worker. */
  startstops?: StartStop[];
}

/**
 * What `task-stream` asks for.
 *
 * @example
 * ```ts
 * import type { Client, TaskStreamRequest } from "@spillway/spillway";
 * declare const client: Client;
 * const lastMinute: TaskStreamRequest = { since: Date.now() - 60_000 };
 * const records = await client.taskStream(lastMinute);
 * ```
 */
export interface TaskStreamRequest {
  /**
   * Only tasks whose last phase ended at or after this time (epoch
   * milliseconds). Default: all the scheduler keeps.
   */
  since?: number;
}

/**
 * What a client and the scheduler tell each other: submissions, data a
 * client puts, keys released, and keys that failed.
 *
 * @module
 */
import type { TaskErrorInfo, TaskSpec } from "./task.ts";

/** A client's submission. */
export interface Submit {
  /** New tasks (keys already known are reused). */
  tasks: TaskSpec[];
  /** Keys this client holds futures for. */
  wanted: string[];
}

/** The scheduler tells a client that a key it wants failed. */
export interface KeyErred {
  /** The key. */
  key: string;
  /** Why, with the key that really failed. */
  error: TaskErrorInfo;
}

/** A client put a key's data on workers itself (`add-data`). */
export interface AddData {
  /** The key. */
  key: string;
  /** The workers now holding it (their addresses). */
  workers: string[];
  /** Its size in bytes. */
  nbytes: number;
}

/** Keys a client wants are in memory (`task-done`). */
export interface KeysDone {
  /** The keys. */
  keys: string[];
  /** Their holders, so that the client fetches without a `who-has`. */
  who?: Record<string, string[]>;
}

/** The reply of a request that only acknowledges. */
export interface Ok {
  /** Always `true`. */
  ok: true;
}

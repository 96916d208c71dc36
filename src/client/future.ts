/**
 * A handle on a task's result, held by a client.
 *
 * @module
 */
import type { TaskErrorInfo } from "../protocol/mod.ts";
import { TimeoutError } from "./timeout_error.ts";

/**
 * Where a future's client fetches its result from and releases it to.
 * (The {@linkcode Client} implements it.)
 *
 * @example
 * ```ts
 * import type { Client, FutureOwner } from "@spillway/spillway";
 * declare const client: Client;
 * const owner: FutureOwner = client; // what a Future asks for its value
 * ```
 */
export interface FutureOwner {
  /** Resolves with the key's value once it is computed. */
  resultOf(key: string): Promise<unknown>;
  /** Tells the scheduler this future no longer needs the key. */
  releaseKey(key: string): void;
  /** The future was released by hand: it need not be released when collected. */
  forget?(future: Future): void;
  /** Whether the key's task has finished (`"done"`), failed (`"erred"`) or neither (`null`). */
  outcome?(key: string): "done" | "erred" | null;
  /** Resolves once the key's task has finished or failed; never rejects. */
  whenSettled?(key: string): Promise<void>;
  /** Cancels the keys' tasks (see `Future.cancel`). */
  cancelKeys?(keys: readonly string[]): Promise<void>;
}

/**
 * Options of {@linkcode Future.result}.
 *
 * @example
 * ```ts
 * import type { ResultOptions } from "@spillway/spillway";
 * const options: ResultOptions = { timeout: 5_000 };
 * ```
 */
export interface ResultOptions {
  /**
   * Milliseconds to wait at most; then `result()` rejects with a
   * {@linkcode TimeoutError} (the task goes on). Default: no limit.
   */
  timeout?: number;
}

/**
 * The error a future rejects with when its task (or a task it depends on)
 * failed on a worker: it carries the remote name, message and stack, and
 * the key that failed.
 *
 * @example
 * ```ts
 * import { RemoteTaskError } from "./future.ts";
 * const e = new RemoteTaskError("s", { name: "RangeError", message: "bad", key: "s" });
 * e.remoteName; // "RangeError"
 * ```
 */
export class RemoteTaskError extends Error {
  /** The key whose future rejected. */
  readonly key: string;
  /** The key whose own computation failed (this key, or a dependency). */
  readonly failedKey: string;
  /** The remote error's name. */
  readonly remoteName: string;
  /** The remote stack, if any. */
  readonly remoteStack: string | undefined;

  /** An error for `key` from the scheduler's report. */
  constructor(key: string, info: TaskErrorInfo) {
    super(info.message);
    this.name = "RemoteTaskError";
    this.key = key;
    this.failedKey = info.key;
    this.remoteName = info.name;
    this.remoteStack = info.stack;
    if (info.stack) {
      this.stack =
        `${this.name}: ${info.message}\n  remote stack:\n${info.stack}`;
    }
  }
}

// Set by Future's static block: they read its private owner.
let settledOf: (future: Future) => Promise<void>;
let outcomeOf: (future: Future) => "done" | "erred" | null;

/**
 * A task's result that may not exist yet. Nothing runs on the client: the
 * future names a key the cluster computes. Pass futures as arguments of
 * other tasks; `result()` fetches the value.
 *
 * @example
 * ```ts
 * import type { Client, Future } from "@spillway/spillway";
 * declare const client: Client;
 * const a: Future<Float64Array> = client.submit<Float64Array>(
 *   new URL("./ops.ts", import.meta.url), "chunk", 0, 1000,
 * );
 * const chunk: Float64Array = await a.result();
 * console.log(chunk.length);
 * a.release();
 * ```
 */
export class Future<T = unknown> {
  /** The key of the result in the cluster. */
  readonly key: string;
  readonly #owner: FutureOwner;
  #released = false;
  /** How `result()` ended, for an owner that cannot tell (`outcome`). */
  #outcome: "done" | "erred" | null = null;

  static {
    settledOf = (future) =>
      future.#owner.whenSettled?.(future.key) ??
        future.result().then(() => {}, () => {});
    outcomeOf = (future) =>
      future.#owner.outcome?.(future.key) ?? future.#outcome;
  }

  /** A future for `key` owned by a client. */
  constructor(key: string, owner: FutureOwner) {
    this.key = key;
    this.#owner = owner;
  }

  /**
   * The value, once computed. Rejects with a {@linkcode RemoteTaskError} if
   * the task failed (or with "dependency failed" if an input's task did),
   * with a `CancelledError` if it (or an input's task) was cancelled,
   * and with a {@linkcode TimeoutError} if `options.timeout` milliseconds
   * pass first (the task goes on).
   *
   * @example
   * ```ts
   * import type { Future } from "@spillway/spillway";
   * declare const total: Future<number>;
   * const value: number = await total.result({ timeout: 60_000 });
   * ```
   */
  result(options: ResultOptions = {}): Promise<T> {
    if (this.#released) {
      return Promise.reject(new Error(`future ${this.key} was released`));
    }
    const { timeout } = options;
    if (
      timeout !== undefined &&
      !(typeof timeout === "number" && timeout >= 0)
    ) {
      return Promise.reject(
        new RangeError(
          `timeout must be a number of milliseconds >= 0, got ${timeout}`,
        ),
      );
    }
    // The callback holds this future, so a future whose result is awaited
    // is not collected (and released) before the result arrives.
    const value = this.#owner.resultOf(this.key).then(
      (value) => {
        void this;
        this.#outcome = "done";
        return value as T;
      },
      (error) => {
        this.#outcome = "erred";
        throw error;
      },
    );
    if (timeout === undefined || timeout === Infinity) return value;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TimeoutError(this.key, timeout)),
        timeout,
      );
    });
    value.catch(() => {}); // rejected after the timeout: not unhandled
    return Promise.race([value, expired]).finally(() => clearTimeout(timer));
  }

  /**
   * Whether the task has settled: finished or failed (a result fetched or
   * not). Dask's `future.done()`.
   *
   * @example
   * ```ts
   * import type { Future } from "@spillway/spillway";
   * declare const f: Future<number>;
   * if (f.done) console.log(await f.result()); // no wait for the task
   * ```
   */
  get done(): boolean {
    const outcome = this.#owner.outcome?.(this.key);
    return outcome === undefined ? this.#outcome !== null : outcome !== null;
  }

  /**
   * Drops this future's claim on the key; the cluster forgets it once
   * nothing needs it. A future that is garbage collected without this is
   * released then (as Dask does), so dropping futures does not leak memory
   * on the workers.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.forget?.(this);
    this.#owner.releaseKey(this.key);
  }

  /**
   * Cancels the task: dropped if it has not started, stopped if it runs
   * (its executor is terminated and replaced; the worker goes on), its
   * result released if it has one. `result()` then rejects with a
   * `CancelledError`, and so do the results of the tasks that depend on
   * it. Resolves once the scheduler has done it. The future keeps its claim
   * on the key until released. Dask's `future.cancel()`.
   *
   * @example
   * ```ts
   * import type { Future } from "@spillway/spillway";
   * declare const slow: Future<number>;
   * await slow.cancel();
   * await slow.result().catch((e) => console.log(e.name)); // "CancelledError"
   * ```
   */
  cancel(): Promise<void> {
    return this.#owner.cancelKeys?.([this.key]) ?? Promise.resolve();
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released;
  }
}

/**
 * Resolves once `future`'s task has finished or failed, without fetching
 * its value; never rejects. (For `asCompleted` and `wait`.)
 *
 * @example
 * ```ts
 * import { type Future, whenSettled } from "./future.ts";
 * declare const f: Future<number>;
 * await whenSettled(f);
 * ```
 */
export function whenSettled(future: Future): Promise<void> {
  return settledOf(future);
}

/**
 * Whether `future`'s task has finished (`"done"`), failed (`"erred"`) or
 * neither (`null`).
 *
 * @example
 * ```ts
 * import { type Future, outcome } from "./future.ts";
 * declare const f: Future<number>;
 * if (outcome(f) === "erred") console.log(`${f.key} failed`);
 * ```
 */
export function outcome(future: Future): "done" | "erred" | null {
  return outcomeOf(future);
}

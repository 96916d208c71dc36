/**
 * A handle on a task's result, held by a client.
 *
 * @module
 */
import type { TaskErrorInfo } from "../protocol/mod.ts";

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

  /** A future for `key` owned by a client. */
  constructor(key: string, owner: FutureOwner) {
    this.key = key;
    this.#owner = owner;
  }

  /**
   * The value, once computed. Rejects with a {@linkcode RemoteTaskError} if
   * the task failed (or with "dependency failed" if an input's task did).
   */
  result(): Promise<T> {
    if (this.#released) {
      return Promise.reject(new Error(`future ${this.key} was released`));
    }
    // The callback holds this future, so a future whose result is awaited
    // is not collected (and released) before the result arrives.
    return this.#owner.resultOf(this.key).then((value) => {
      void this;
      return value as T;
    });
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

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released;
  }
}

/**
 * Working with many futures at once: {@linkcode asCompleted} (each as it
 * finishes) and {@linkcode wait} (until all, the first, or the first
 * failure). Neither fetches a value: they watch the tasks settle.
 *
 * @module
 */
import { type Future, outcome, whenSettled } from "./future.ts";

/**
 * What {@linkcode asCompleted} returns: an async iterable of futures, in
 * the order their tasks finish, to which more futures can be added.
 *
 * @example
 * ```ts
 * import { asCompleted, type AsCompleted, type Future } from "@spillway/spillway";
 * declare const a: Future<number>;
 * const finished: AsCompleted<number> = asCompleted([a]);
 * for await (const f of finished) console.log(f.key, f.done);
 * ```
 */
export interface AsCompleted<T = unknown> extends AsyncIterable<Future<T>> {
  /** Adds a future: it is yielded once it finishes (even mid-iteration). */
  add(future: Future<T>): void;
}

class AsCompletedImpl<T> implements AsCompleted<T> {
  /** Finished, not yet yielded, in finishing order. */
  readonly #finished: Future<T>[] = [];
  /** Added and not yet yielded. */
  #left = 0;
  #wake: (() => void) | null = null;

  constructor(futures: Iterable<Future<T>>) {
    for (const future of futures) this.add(future);
  }

  add(future: Future<T>): void {
    this.#left++;
    whenSettled(future).then(() => {
      this.#finished.push(future);
      const wake = this.#wake;
      this.#wake = null;
      wake?.();
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Future<T>> {
    while (this.#left > 0) {
      const next = this.#finished.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          const before = this.#wake;
          this.#wake = () => {
            before?.();
            resolve();
          };
        });
        continue;
      }
      this.#left--;
      yield next;
    }
  }
}

/**
 * The futures, yielded as their tasks finish, in finishing order, failed
 * ones too (it never throws: `result()` on a failed one rejects). Futures
 * added with `add()` while iterating are yielded too; the iteration ends
 * once every future added is yielded. Dask's `as_completed`.
 *
 * @param futures the futures to watch (more may be added)
 * @returns an async iterable over them, with `add(future)`
 *
 * @example
 * ```ts
 * import { asCompleted, type Client } from "@spillway/spillway";
 * type Ops = { inc(x: number): number };
 * declare const client: Client;
 * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * const pending = asCompleted([ops.inc(1), ops.inc(2)]);
 * let total = 0;
 * for await (const f of pending) {
 *   const x = await f.result();
 *   total += x;
 *   if (x < 10) pending.add(ops.inc(x * 4)); // more work, still in order
 * }
 * ```
 */
export function asCompleted<T>(
  futures: Iterable<Future<T>> = [],
): AsCompleted<T> {
  return new AsCompletedImpl(futures);
}

/**
 * When {@linkcode wait} resolves:
 * - `"ALL_COMPLETED"`: every future has finished or failed (the default);
 * - `"FIRST_COMPLETED"`: at least one has;
 * - `"FIRST_EXCEPTION"`: one has failed, or all have finished.
 *
 * @example
 * ```ts
 * import type { ReturnWhen } from "@spillway/spillway";
 * const when: ReturnWhen = "FIRST_EXCEPTION";
 * ```
 */
export type ReturnWhen =
  | "ALL_COMPLETED"
  | "FIRST_COMPLETED"
  | "FIRST_EXCEPTION";

/**
 * Options of {@linkcode wait}.
 *
 * @example
 * ```ts
 * import type { WaitOptions } from "@spillway/spillway";
 * const options: WaitOptions = { returnWhen: "FIRST_COMPLETED", timeout: 10_000 };
 * ```
 */
export interface WaitOptions {
  /** When to resolve. Default `"ALL_COMPLETED"`. */
  returnWhen?: ReturnWhen;
  /**
   * Milliseconds to wait at most: then `wait` resolves with what has
   * finished by then (it does not reject). Default: no limit.
   */
  timeout?: number;
}

/**
 * What {@linkcode wait} resolves to: the futures whose tasks have finished
 * or failed, and the others.
 *
 * @example
 * ```ts
 * import type { Future, WaitResult } from "@spillway/spillway";
 * declare const result: WaitResult<number>;
 * const first: Future<number> | undefined = [...result.done][0];
 * ```
 */
export interface WaitResult<T = unknown> {
  /** Finished (done or failed). */
  done: Set<Future<T>>;
  /** Not finished yet. */
  notDone: Set<Future<T>>;
}

/**
 * Waits until all the futures have finished (or failed), the first one
 * has, or the first one has failed, as `returnWhen` says, or until
 * `timeout` milliseconds have passed; then splits them into `done` and
 * `notDone`. It never rejects and fetches no value. Dask's `wait`.
 *
 * @param futures the futures to wait for
 * @param options `returnWhen` (default `"ALL_COMPLETED"`) and `timeout` (ms)
 *
 * @example
 * ```ts
 * import { type Client, wait } from "@spillway/spillway";
 * type Ops = { inc(x: number): number };
 * declare const client: Client;
 * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * const futures = [ops.inc(1), ops.inc(2), ops.inc(3)];
 * const { done, notDone } = await wait(futures, { returnWhen: "FIRST_COMPLETED", timeout: 5_000 });
 * console.log(`${done.size} finished, ${notDone.size} still running`);
 * ```
 */
export async function wait<T>(
  futures: Iterable<Future<T>>,
  options: WaitOptions = {},
): Promise<WaitResult<T>> {
  const returnWhen = options.returnWhen ?? "ALL_COMPLETED";
  if (
    returnWhen !== "ALL_COMPLETED" && returnWhen !== "FIRST_COMPLETED" &&
    returnWhen !== "FIRST_EXCEPTION"
  ) {
    throw new RangeError(
      `returnWhen must be "ALL_COMPLETED", "FIRST_COMPLETED" or "FIRST_EXCEPTION", got ${
        String(returnWhen)
      }`,
    );
  }
  const { timeout } = options;
  if (timeout !== undefined && !(typeof timeout === "number" && timeout >= 0)) {
    throw new RangeError(
      `timeout must be a number of milliseconds >= 0, got ${timeout}`,
    );
  }
  const all = new Set(futures);
  let finished = 0;
  let failed = false;
  const enough = (): boolean =>
    finished === all.size ||
    (returnWhen === "FIRST_COMPLETED" && finished > 0) ||
    (returnWhen === "FIRST_EXCEPTION" && failed);
  let wake: () => void = () => {};
  for (const f of all) {
    whenSettled(f).then(() => {
      finished++;
      if (outcome(f) === "erred") failed = true;
      wake();
    });
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired = false;
  if (timeout !== undefined && timeout !== Infinity) {
    timer = setTimeout(() => {
      expired = true;
      wake();
    }, timeout);
  }
  try {
    while (!expired && !enough()) {
      await new Promise<void>((resolve) => wake = resolve);
    }
  } finally {
    clearTimeout(timer);
    wake = () => {};
  }
  const done = new Set<Future<T>>();
  const notDone = new Set<Future<T>>();
  for (const f of all) (outcome(f) === null ? notDone : done).add(f);
  return { done, notDone };
}

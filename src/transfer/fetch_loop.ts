/**
 * How keys are fetched from the workers that hold them, for the worker
 * (its tasks' inputs) and the client (results) alike: group the keys by
 * holder, ask each holder for its keys in one request, and when a holder
 * fails or no longer has a key, pause, ask the scheduler who holds it now,
 * and try again (the next round takes the next holder of each key).
 *
 * What one request does with its reply (store the frames, take a link or
 * slices, deserialize) is the caller's `fetchFrom`.
 *
 * @module
 */

/** Holders of keys, by key: worker addresses. */
export type Holders = Readonly<Record<string, readonly string[]>>;

/**
 * Options of {@linkcode fetchFromHolders}.
 *
 * @example
 * ```ts
 * import type { FetchOptions } from "./fetch_loop.ts";
 * const have = new Map<string, unknown>();
 * const options: FetchOptions = {
 *   whoHas: async (keys) => Object.fromEntries(keys.map((k) => [k, ["tcp://127.0.0.1:4001"]])),
 *   has: (key) => have.has(key),
 *   fetchFrom: async (_holder, keys) => {
 *     for (const key of keys) have.set(key, 0);
 *   },
 * };
 * ```
 */
export interface FetchOptions {
  /** Holders known already, by key (keys missing here are asked for first). */
  who?: Holders;
  /** Asks the scheduler who holds `keys` now. */
  whoHas: (keys: string[]) => Promise<Holders>;
  /** Whether `key` has arrived: the loop ends when every key has. */
  has: (key: string) => boolean;
  /**
   * Fetches `keys` from `holder`. A failure is the callback's to log (and
   * to forget the connection); the next round retries what is missing.
   */
  fetchFrom: (holder: string, keys: string[]) => Promise<unknown>;
  /** A key already on its way (another caller fetches it): awaited, not asked for. */
  inFlight?: (key: string) => Promise<unknown> | undefined;
  /** A holder never asked (the fetching worker's own address). */
  self?: string;
  /**
   * Waits between rounds (it may throw to give up). Default: 50 ms times
   * the round, at most 1 s.
   */
  pause?: (round: number) => Promise<void>;
  /** Stops between rounds (throws the signal's reason). */
  signal?: AbortSignal;
  /** Rounds after the first before giving up. Default 200. */
  maxRounds?: number;
}

/**
 * Fetches `keys` until `options.has` says each has arrived, or until
 * `maxRounds` more rounds have not brought them all.
 *
 * @returns The keys still missing when it gave up (none when all came).
 * @throws what `whoHas` or `pause` throws; the signal's reason.
 * @example
 * ```ts
 * import { fetchFromHolders } from "./fetch_loop.ts";
 * const got = new Map<string, number>();
 * await fetchFromHolders(["a", "b"], {
 *   who: { a: ["w1"], b: ["w2"] },
 *   whoHas: () => Promise.resolve({}),
 *   has: (key) => got.has(key),
 *   fetchFrom: async (_holder, keys) => keys.forEach((k) => got.set(k, 1)),
 * });
 * got.size; // 2
 * ```
 */
export async function fetchFromHolders(
  keys: readonly string[],
  options: FetchOptions,
): Promise<string[]> {
  const { has, signal } = options;
  const maxRounds = options.maxRounds ?? 200;
  const pause = options.pause ?? backoff;
  let who: Holders = options.who ?? {};
  for (let round = 0;; round++) {
    const missing = keys.filter((key) => !has(key));
    if (missing.length === 0) return missing;
    signal?.throwIfAborted();
    if (round > 0) {
      if (round > maxRounds) return missing;
      // A holder died or dropped the key: ask where it is now.
      await pause(round);
      signal?.throwIfAborted();
      who = await options.whoHas(missing);
    } else {
      const unknown = missing.filter((key) => who[key] === undefined);
      if (unknown.length > 0) {
        who = { ...who, ...await options.whoHas(unknown) };
      }
    }
    const pending: Promise<unknown>[] = [];
    const byHolder = new Map<string, string[]>();
    for (const key of missing) {
      const coming = options.inFlight?.(key);
      if (coming !== undefined) {
        pending.push(coming);
        continue;
      }
      const holders = (who[key] ?? []).filter((h) => h !== options.self);
      if (holders.length === 0) continue;
      const holder = holders[round % holders.length];
      byHolder.set(holder, [...(byHolder.get(holder) ?? []), key]);
    }
    await Promise.all([
      ...[...byHolder].map(([holder, keys]) => options.fetchFrom(holder, keys)),
      ...pending,
    ]);
  }
}

function backoff(round: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.min(1000, 50 * round))
  );
}

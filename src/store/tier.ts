/**
 * The interface every storage tier implements. The spill policy
 * ({@linkcode SpillBuffer}) composes tiers; a new kind of storage (compressed
 * memory, object storage, a GPU) is a new tier, not an edit of the policy.
 *
 * A tier is a plain mapping from key to value with byte accounting. It knows
 * nothing about eviction, pins or thresholds.
 *
 * @module
 */

import type { Frames } from "../serialize/frames.ts";

/** A value or a promise of it: memory tiers answer at once, disk tiers later. */
export type MaybePromise<T> = T | Promise<T>;

/** A keyed store of values of type `V` with byte accounting. */
export interface Tier<V> {
  /** A short name for logs and metrics (`"live"`, `"serialized"`, `"disk"`). */
  readonly name: string;
  /** How many keys the tier holds. */
  readonly count: number;
  /** How many bytes the tier holds in all. */
  readonly bytes: number;
  /** Whether the tier holds `key`. Synchronous; never touches the disk. */
  has(key: string): boolean;
  /** Bytes the tier holds for `key`, or 0 when it does not hold it. */
  size(key: string): number;
  /** The value of `key`; throws (or rejects) when the tier does not hold it. */
  get(key: string): MaybePromise<V>;
  /**
   * Stores `value` under `key`. `bytes` is the caller's size of the value;
   * a tier that measures its own bytes (a file's size) may ignore it. After
   * a failed put the tier holds nothing new for `key`.
   */
  put(key: string, value: V, bytes: number): MaybePromise<void>;
  /** Removes `key`; a key the tier does not hold is ignored. */
  delete(key: string): MaybePromise<void>;
  /** The keys the tier holds. */
  keys(): IterableIterator<string>;
}

/**
 * The tier evicted keys go to: it stores frames, answers asynchronously, and
 * can remove everything it holds. `DiskTier` is the default; a compressing
 * or object-storage tier implements the same interface.
 */
export interface SpillTier extends Tier<Frames> {
  /** The frames of `key`; rejects when the tier does not hold it or cannot read it. */
  get(key: string): Promise<Frames>;
  /** Stores `frames`; after a rejection the tier holds nothing new for `key`. */
  put(key: string, frames: Frames, bytes: number): Promise<void>;
  /** Removes `key`; the key leaves the tier at once, its storage after. */
  delete(key: string): Promise<void>;
  /** Removes everything the tier holds, and whatever it created to hold it. */
  clear(): Promise<void>;
}

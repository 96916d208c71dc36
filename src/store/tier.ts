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

/**
 * A value or a promise of it: memory tiers answer at once, disk tiers later.
 *
 * @example
 * ```ts
 * import type { MaybePromise } from "@spillway/spillway";
 * const now: MaybePromise<number> = 1;
 * const later: MaybePromise<number> = Promise.resolve(1);
 * console.log(await now + await later);
 * ```
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A keyed store of values of type `V` with byte accounting.
 *
 * @example
 * ```ts
 * import type { Tier } from "@spillway/spillway";
 * function describe(tier: Tier<unknown>): string {
 *   return `${tier.name}: ${tier.count} keys, ${tier.bytes} bytes`;
 * }
 * ```
 */
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
 *
 * @example
 * ```ts
 * import { DiskTier, type SpillTier } from "@spillway/spillway";
 * const tier: SpillTier = new DiskTier({ directory: "/var/tmp/spillway-w1" });
 * console.log(tier.maps === true ? "maps files back" : "reads files back");
 * ```
 */
export interface SpillTier extends Tier<Frames> {
  /**
   * True when `get` maps the file instead of reading it: the frames view a
   * copy-on-write mapping and the file stays in place (shared-memory mode).
   * The store then keeps values read back as "mapped", counting only their
   * header bytes as managed memory. Absent or false: `get` reads a copy.
   */
  readonly maps?: boolean;
  /** The frames of `key`; rejects when the tier does not hold it or cannot read it. */
  get(key: string): Promise<Frames>;
  /** Stores `frames`; after a rejection the tier holds nothing new for `key`. */
  put(key: string, frames: Frames, bytes: number): Promise<void>;
  /** Removes `key`; the key leaves the tier at once, its storage after. */
  delete(key: string): Promise<void>;
  /** Removes everything the tier holds, and whatever it created to hold it. */
  clear(): Promise<void>;
  /**
   * The path of `key`'s file, when the tier keeps each key as a file in
   * the frame layout (the bytes on the wire): a peer then takes a large
   * spilled key in slices read from it, and the donor never holds it
   * whole. Optional: a tier without it (compressing, remote) serves whole
   * values only.
   */
  pathOf?(key: string): string | undefined;
}

/**
 * Options of {@linkcode MappingSpillTier.linkFrom}.
 *
 * @example
 * ```ts
 * import type { LinkOptions } from "./tier.ts";
 * const options: LinkOptions = { bytes: 8_388_736 }; // as the peer announced
 * ```
 */
export interface LinkOptions {
  /** The file's size as the peer announced it; a different size refuses the link. */
  bytes?: number;
}

/**
 * A spill tier of the shared-memory mode (`SharedTier`): `get` maps files,
 * and files can be shared with a same-host peer by hard link.
 *
 * @example
 * ```ts
 * import type { MappingSpillTier } from "./tier.ts";
 * import { SharedTier } from "./shared_tier.ts";
 * const tier: MappingSpillTier = new SharedTier({ directory: "/mnt/spillway/w2" });
 * await tier.linkFrom("x", "/mnt/spillway/w1/1-x.spw", "/mnt/spillway");
 * ```
 */
export interface MappingSpillTier extends SpillTier {
  /** Always true: `get` maps the file. */
  readonly maps: true;
  /** The path of `key`'s file, or undefined when the tier does not hold it. */
  pathOf(key: string): string | undefined;
  /**
   * Adds `key` by hard-linking a peer's file at `sourcePath`, which must
   * lie inside `sharedRoot`. Rejects (holding nothing new) with an error
   * whose `code` says why (`EXDEV`, `EPERM`, `ENOENT`, `OUTSIDE_ROOT`, ...),
   * so that the caller can fall back to a byte transfer.
   */
  linkFrom(
    key: string,
    sourcePath: string,
    sharedRoot: string,
    options?: LinkOptions,
  ): Promise<void>;
  /**
   * A fresh path in the tier's directory where someone else (an executor
   * thread) writes `key`'s file: `<path>.tmp` first, renamed to `<path>`
   * once whole. Then {@linkcode MappingSpillTier.adopt} or
   * {@linkcode MappingSpillTier.abandon} it.
   */
  reserve(key: string): Promise<string>;
  /** Takes the file written at a reserved `path` as `key`'s. */
  adopt(key: string, path: string): Promise<void>;
  /** Removes whatever was written at a reserved `path`. */
  abandon(path: string): Promise<void>;
}

/**
 * Whether `tier` maps files and can hard-link them ({@linkcode MappingSpillTier}).
 *
 * @example
 * ```ts
 * import { isMappingTier } from "./tier.ts";
 * import { DiskTier } from "./disk_tier.ts";
 * isMappingTier(new DiskTier({ directory: "/tmp/x" })); // false
 * ```
 */
export function isMappingTier(tier: SpillTier): tier is MappingSpillTier {
  const candidate = tier as Partial<MappingSpillTier>;
  return candidate.maps === true &&
    typeof candidate.pathOf === "function" &&
    typeof candidate.linkFrom === "function" &&
    typeof candidate.adopt === "function";
}

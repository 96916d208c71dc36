/**
 * A worker store's figures as the worker reports them in its heartbeat
 * (`SpillBuffer.metrics()`): keys and bytes per tier, spills and reads
 * back, (de)serializations, failures, mappings.
 *
 * @module
 */

/**
 * Why a spill, unspill or serialization failed.
 *
 * @example
 * ```ts
 * import type { FailureKind, SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const kinds = Object.keys(store.metrics().failures) as FailureKind[];
 * ```
 */
export type FailureKind =
  | "disk-full"
  | "read-only"
  | "permission"
  | "io"
  | "max-spill"
  | "serialize"
  | "deserialize"
  | "read"
  | "other";

/**
 * Mappings of a worker (the store's `mappingStats()`): those not yet
 * released, their bytes, and all made since the worker started.
 *
 * @example
 * ```ts
 * import type { MappingStats } from "./store_metrics.ts";
 * const none: MappingStats = { live: 0, bytes: 0, total: 0 };
 * ```
 */
export interface MappingStats {
  /** Mappings not yet released. */
  live: number;
  /** Bytes of those mappings (file sizes; resident memory may be less). */
  bytes: number;
  /** Mappings made since the isolate started. */
  total: number;
}

/**
 * Keys and bytes held in one tier.
 *
 * @example
 * ```ts
 * import type { SpillBuffer, TierFigures } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const live: TierFigures = store.metrics().live;
 * console.log(live.count, live.bytes);
 * ```
 */
export interface TierFigures {
  /** Keys held. */
  count: number;
  /** Bytes held. */
  bytes: number;
}

/**
 * Transfers between memory and disk: how many, how many bytes, how long.
 *
 * @example
 * ```ts
 * import type { SpillBuffer, TransferFigures } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const spills: TransferFigures = store.metrics().spills;
 * console.log(spills.bytes / spills.seconds, "bytes/s");
 * ```
 */
export interface TransferFigures {
  /** Completed transfers. */
  count: number;
  /** Bytes moved (file bytes). */
  bytes: number;
  /** Seconds spent, summed over transfers (they may overlap). */
  seconds: number;
}

/**
 * Codec work: how many times and how long.
 *
 * @example
 * ```ts
 * import type { CodecFigures, SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const codec: CodecFigures = store.metrics().serializations;
 * console.log(codec.count, codec.seconds);
 * ```
 */
export interface CodecFigures {
  /** Calls. */
  count: number;
  /** Seconds spent on the JS thread. */
  seconds: number;
}

/**
 * A snapshot of a store's state and counters, as returned by
 * `SpillBuffer.metrics()`. The dashboard and other tools read these names.
 *
 * A key read back from disk keeps its file, so it counts both in `live` (or
 * `serialized`, or `mapped`) and in `spilled`; `spilled` always equals the
 * bytes of the complete spill files in the store's directory (with a
 * `SharedTier`: its share of them, each file's size divided by its hard
 * links, so that the sum over a host's workers is the tmpfs usage).
 *
 * In the shared-memory mode, reading a key back maps its file: that counts
 * as an unspill (its bytes are the file's size, none of them copied).
 *
 * @example
 * ```ts
 * import type { SpillBuffer, StoreMetrics } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const m: StoreMetrics = store.metrics();
 * console.log(m.spilled.bytes, m.managed, m.pressure);
 * ```
 */
export interface StoreMetrics {
  /** Deserialized values in memory. */
  live: TierFigures;
  /** Serialized frames in memory (received from peers or read back). */
  serialized: TierFigures;
  /**
   * Values deserialized over a mapping of their file (shared-memory mode);
   * `bytes` counts only their headers, as managed memory does.
   */
  mapped: TierFigures;
  /** Complete spill files on disk. */
  spilled: TierFigures;
  /**
   * File mappings alive in this isolate (all stores and tiers of the
   * thread) and their bytes; they fall when unreachable mapped values are
   * garbage-collected. A leak shows here.
   */
  mappings: MappingStats;
  /** Writes of keys to disk. */
  spills: TransferFigures;
  /** Reads of keys from disk. */
  unspills: TransferFigures;
  /** Values turned into frames (to spill them, or to serve a live key to a peer). */
  serializations: CodecFigures;
  /** Frames turned into values (for compute). */
  deserializations: CodecFigures;
  /** `getFrames` answers given from frames or files, with no deserialization. */
  framesServedWithoutDeserialize: number;
  /** Failures so far, by kind (a kind absent is zero). */
  failures: Partial<Record<FailureKind, number>>;
  /** Managed bytes: live plus serialized plus the header bytes of mapped values. */
  managed: number;
  /**
   * Managed bytes let go of so far (spilled, deleted, or turned from
   * frames into a value), cumulative. Their buffers are garbage once
   * nothing else holds them; the worker collects when this grows.
   */
  released: number;
  /**
   * Bytes of spill files read back (or mapped) for `getFrames` and handed
   * out without being kept, cumulative: garbage once the caller has sent
   * them. The worker collects when this grows too.
   */
  handedOut: number;
  /** The managed-bytes target the store evicts down to. */
  target: number;
  /** Bytes over the target, waiting to be spilled (0 when under). */
  pressure: number;
  /** Spill writes in flight. */
  writesInFlight: number;
}

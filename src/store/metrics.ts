import type { FailureKind } from "./failures.ts";
import type { MappingStats } from "./mapping.ts";

/** Keys and bytes held in one tier. */
export interface TierFigures {
  /** Keys held. */
  count: number;
  /** Bytes held. */
  bytes: number;
}

/** Transfers between memory and disk: how many, how many bytes, how long. */
export interface TransferFigures {
  /** Completed transfers. */
  count: number;
  /** Bytes moved (file bytes). */
  bytes: number;
  /** Seconds spent, summed over transfers (they may overlap). */
  seconds: number;
}

/** Codec work: how many times and how long. */
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

import type { FailureKind } from "./failures.ts";

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
 * `serialized`) and in `spilled`; `spilled` always equals the bytes of the
 * complete spill files in the store's directory.
 */
export interface StoreMetrics {
  /** Deserialized values in memory. */
  live: TierFigures;
  /** Serialized frames in memory (received from peers or read back). */
  serialized: TierFigures;
  /** Complete spill files on disk. */
  spilled: TierFigures;
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
  /** Managed bytes: live plus serialized. */
  managed: number;
  /** The managed-bytes target the store evicts down to. */
  target: number;
  /** Bytes over the target, waiting to be spilled (0 when under). */
  pressure: number;
  /** Spill writes in flight. */
  writesInFlight: number;
}

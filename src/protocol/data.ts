/**
 * Data between workers, and between a client and a worker: frames of keys,
 * spill files handed to a same-host peer, and slices of large spilled keys.
 * Bodies carry `Frames` as they are (never decoded on the way).
 *
 * @module
 */
import type { Frames } from "../serialize/frames.ts";

/** Data for a peer: frames by key; keys the worker does not hold are absent. */
export interface DataReply {
  /** Frames of each key found. */
  data: Record<string, Frames>;
  /**
   * Shared-memory mode, to a same-host peer on the same spill filesystem:
   * the spill file of each key (to hard-link) instead of its bytes.
   */
  links?: Record<string, SpilledFileRef>;
  /**
   * To a peer that asked for `slices`: large keys on the donor's disk
   * only, to take with `get-slice` requests (the donor never reads them
   * back whole).
   */
  sliced?: Record<string, SlicedFile>;
}

/** A spilled key a peer takes in slices (`get-slice`). */
export interface SlicedFile {
  /** Names the file: a key overwritten since has another. */
  file: string;
  /** Its size in bytes: the key's frames, encoded. */
  bytes: number;
}

/** What a `get-slice` request asks for: bytes of a key's spill file. */
export interface GetSlice {
  /** The key. */
  key: string;
  /** The file, as {@linkcode SlicedFile.file} named it. */
  file: string;
  /** First byte. */
  offset: number;
  /** How many bytes (at most {@linkcode SLICE_BYTES}). */
  length: number;
}

/**
 * The largest slice a `get-slice` reply carries: under 1 MiB with its
 * envelope, so that neither side needs a large buffer for it.
 */
export const SLICE_BYTES = 2 ** 20 - 4096;

/** A spill file offered to a same-host peer instead of its bytes. */
export interface SpilledFileRef {
  /** Absolute path of the file, inside the shared spill root. */
  path: string;
  /** Its size in bytes (the receiver checks it). */
  bytes: number;
}

/** What a `get-data` request asks for. */
export interface GetData {
  /** The keys. */
  keys: string[];
  /**
   * The asker's host and spill filesystem, when it is in shared-memory
   * mode: a donor on the same host and filesystem answers with
   * {@linkcode DataReply.links}; `rootId` is the spill root's random id
   * (named in `.spillway-root-id/`), which must match too when given.
   */
  link?: { host: string; dev: number; rootId?: string };
  /**
   * The asker takes large spilled keys in slices ({@linkcode DataReply.sliced}):
   * workers do, so that the donor needs no memory for them.
   */
  slices?: boolean;
}
/** Keys' frames handed to a worker to hold (`put-data`). */
export interface PutData {
  /** Frames of each key. */
  data: Record<string, Frames>;
}

/** What `put-data` stored: each key's size in bytes. */
export interface PutDataReply {
  /** Size of each key stored. */
  nbytes: Record<string, number>;
}

/** The bytes a `get-slice` asked for. */
export interface SliceReply {
  /** The slice of the file. */
  bytes: Uint8Array;
}

/**
 * Copy keys from their holders into the asked worker (`replicate`): a peer
 * transfer on request, as a client replicating data would ask for it.
 */
export interface Replicate {
  /** The keys to copy. */
  keys: string[];
  /** For each key, the addresses of workers holding it. */
  who: Readonly<Record<string, readonly string[]>>;
  /** For each key, its size in bytes (bounds the bytes fetched at once). */
  sizes?: Readonly<Record<string, number>>;
}

/** How long a `replicate` took. */
export interface ReplicateReply {
  /** Seconds from the request to the keys being held. */
  seconds: number;
}

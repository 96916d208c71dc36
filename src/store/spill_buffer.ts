import { type Frames, framesByteLength } from "../serialize/frames.ts";
import { deserialize, serialize } from "../serialize/serialize.ts";
import { sizeof as estimateSize } from "../memory/sizeof.ts";
import { DiskTier } from "./disk_tier.ts";
import {
  type BackoffOptions,
  classifyWriteError,
  FailurePolicy,
} from "./failures.ts";
import { Lru } from "./lru.ts";
import { MemoryTier } from "./memory_tier.ts";
import type { SpillTier } from "./tier.ts";
import { isMappedBuffer, mappingStats } from "./mapping.ts";
import { readSpillRange } from "./spill_files.ts";
import type {
  CodecFigures,
  StoreMetrics,
  TransferFigures,
} from "../protocol/store_metrics.ts";
import { Meter } from "./meter.ts";

/**
 * Options of a {@linkcode SpillBuffer}.
 *
 * @example
 * ```ts
 * import { SpillBuffer, type SpillBufferOptions } from "@spillway/spillway";
 * const options: SpillBufferOptions = { directory: "/var/tmp/spillway-w1", target: 2 * 2 ** 30 };
 * await using store = new SpillBuffer(options);
 * ```
 */
export interface SpillBufferOptions {
  /**
   * Directory of the spill files; created on first spill, removed by
   * `close()` if the store created it. Required unless `spillTier` is given.
   */
  directory?: string;
  /**
   * Where evicted keys go. Default: a `DiskTier` on `directory`. A
   * compressing or remote tier plugs in here without touching the policy.
   * A `SharedTier` (a tier with `maps: true`) turns on the shared-memory
   * mode: keys read back are "mapped" (and a `PeerSpillBuffer` shares its
   * files with same-host peers by hard link).
   */
  spillTier?: SpillTier;
  /**
   * Read spilled keys back into SharedArrayBuffers (for a worker whose
   * executors share inputs without copies). Default false.
   */
  sharedBuffers?: boolean;
  /**
   * Where spilled keys are read back to (see `DiskTierOptions.allocate`).
   * Default: fresh buffers, shared or not per `sharedBuffers`.
   */
  allocate?: (byteLength: number) => Uint8Array | Promise<Uint8Array>;
  /**
   * Managed bytes (live + serialized + header bytes of mapped values) above
   * which least recently used keys are spilled. 0 spills every key as soon
   * as it can.
   */
  target: number;
  /** Most bytes the spill files may take; a key that would pass it stays in memory. Default: no cap. */
  maxSpill?: number | false;
  /** Spill writes in flight at once. Default 2. */
  maxConcurrentWrites?: number;
  /** Pause of the disk tier after a failed write. Default 1 s, doubling to 30 s. */
  backoff?: BackoffOptions;
  /** Where the one-line failure reports go. Default `console.warn`. */
  log?: (message: string) => void;
  /** Size of a live value in bytes. Default `sizeof` of `src/memory`. */
  sizeof?: (value: unknown) => number;
  /**
   * Values of user classes (`registerCodec`) read back stay encoded, as
   * `CodecValue`s, and no codec is needed (a worker's store: the executor
   * decodes them); by default they are decoded.
   */
  keepCodecValues?: boolean;
}

/**
 * Options of {@linkcode SpillBuffer.set}.
 *
 * @example
 * ```ts
 * import type { SetOptions, SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const pinned: SetOptions = { pinned: true };
 * store.set("input", new Float64Array(2 ** 20), pinned); // about to be computed on
 * store.unpin("input");
 * ```
 */
export interface SetOptions {
  /**
   * The value is about to be computed on: keep it in memory until
   * {@linkcode SpillBuffer.unpin}, even when it alone is larger than the target
   * (so it does not go through a spill and unspill cycle).
   */
  pinned?: boolean;
}

/**
 * The state of one key (docs/architecture.md#states-of-a-key).
 *
 * @example
 * ```ts
 * import type { KeyState } from "./spill_buffer.ts";
 * const state: KeyState = "mapped";
 * ```
 */
export type KeyState =
  | "live"
  | "serialized"
  | "spilling"
  | "spilled"
  | "mapped";

/**
 * Thrown (or rejected with) when a key is not in the store.
 *
 * @example
 * ```ts
 * import { KeyNotFoundError, type SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * try {
 *   await store.get("never-set");
 * } catch (error) {
 *   if (!(error instanceof KeyNotFoundError)) throw error;
 * }
 * ```
 */
export class KeyNotFoundError extends Error {
  /** The key that was asked for. */
  readonly key: string;
  /** An error for `key`. */
  constructor(key: string) {
    super(`unknown key ${JSON.stringify(key)}`);
    this.name = "KeyNotFoundError";
    this.key = key;
  }
}

/**
 * Thrown when a closed store is used.
 *
 * @example
 * ```ts
 * import { type SpillBuffer, StoreClosedError } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * await store.close();
 * try {
 *   store.set("x", 1);
 * } catch (error) {
 *   if (!(error instanceof StoreClosedError)) throw error;
 * }
 * ```
 */
export class StoreClosedError extends Error {
  /** An error saying the store is closed. */
  constructor() {
    super("the store is closed");
    this.name = "StoreClosedError";
  }
}

/**
 * A name in the spill tier for a file that is to become one key's value,
 * from {@linkcode SpillBuffer.newSpillFile}: what a subclass that brings
 * files in from outside the store (`PeerSpillBuffer`) works with.
 *
 * @example
 * ```ts
 * import { SpillBuffer, type SpillFileSlot } from "./spill_buffer.ts";
 * import type { MappingSpillTier } from "./tier.ts";
 * class LinkingStore extends SpillBuffer {
 *   async adopt(key: string, tier: MappingSpillTier, source: string, root: string): Promise<void> {
 *     const slot: SpillFileSlot = this.newSpillFile(key);
 *     await slot.fill(() => tier.linkFrom(slot.file, source, root), false);
 *   }
 * }
 * ```
 */
export interface SpillFileSlot {
  /** The key, in the spill tier, to make the file under. */
  readonly file: string;
  /**
   * Runs `make`, which puts {@linkcode SpillFileSlot.file} into the spill
   * tier (`close()` waits for it); then the file is the key's value: the
   * key is "spilled", replacing any earlier value. `countAsSpill` counts
   * it as one spill of the file's bytes (untimed). Rejects as `make` does,
   * the store unchanged; when the store was closed meanwhile, removes the
   * file from the tier and rejects with {@linkcode StoreClosedError}.
   */
  fill(make: () => Promise<void>, countAsSpill: boolean): Promise<void>;
}

/** What the store knows of one key beyond the tiers' contents. */
interface Entry {
  /** Unique per entry: an overwritten key is a new entry. Names the disk file. */
  readonly id: number;
  /** Disk-tier key of this entry's complete file, kept until delete or overwrite. */
  file: string | null;
  /** The write in flight, if any. */
  spill: Promise<void> | null;
  /** Managed bytes the write in flight will free. */
  spillBytes: number;
  /** The read in flight, if any; shared by concurrent readers. */
  read: Promise<Frames> | null;
  /** A reader wants the frames kept in memory when the read ends. */
  keepRead: boolean;
  /**
   * The read back and deserialization of `get` in flight, if any; shared by
   * concurrent `get`s, which all resolve with its one value.
   */
  unspill: Promise<Unspilled> | null;
  pins: number;
  /** Serialization failed: the value can only live in memory. */
  unspillable: boolean;
  /** Why the last write of this entry failed, if it did. */
  spillError: unknown;
  /** Spilled bytes when `maxSpill` refused this entry; it waits for them to fall. */
  refusedAt: number | null;
  /** Last use, on the store's clock; a key used while being spilled keeps its memory copy. */
  used: number;
}

/** A value deserialized over a mapping of its file, and the mapped frames. */
interface MappedValue {
  value: unknown;
  frames: Frames;
}

/**
 * The value `get` read back for an entry, or null when the entry was
 * deleted or overwritten before its read ended.
 */
type Unspilled = { value: unknown } | null;

/** How many extra keys eviction inspects for a free drop while writes are saturated. */
const SCAN_WHEN_SATURATED = 64;

/**
 * The worker's memory store: values in memory up to a byte target, the
 * least recently used spilled to files beyond it, and every disk access
 * asynchronous.
 *
 * Each key is in one of five states: `live` (a value, ready for compute),
 * `serialized` (frames, as received from a peer or read back for one),
 * `spilling` (in memory, its file being written), `spilled` (on disk only)
 * or, in the shared-memory mode (a spill tier with `maps: true`, such as
 * `SharedTier`), `mapped`: read back by mapping the file, the value's
 * buffers view the mapping; only its header bytes count as managed memory
 * and evicting it again only drops the reference.
 *
 * What holds:
 * - A key leaves memory only after its file is whole. A write that fails
 *   (disk full, read-only, I/O error, over `maxSpill`) or a value that cannot
 *   be serialized leaves the key in memory, counted in `metrics().failures`
 *   and logged once; nothing is lost.
 * - Each key is written at most once: a key read back (or mapped) keeps its
 *   file until it is deleted or overwritten, so evicting it again only drops
 *   memory.
 * - Data received as frames stays serialized until `get` needs the value;
 *   `getFrames` never deserializes.
 * - `has`, `keys` and `state` are synchronous and never touch the disk.
 *
 * @example
 * ```ts
 * import { SpillBuffer } from "./spill_buffer.ts";
 * await using store = new SpillBuffer({
 *   directory: await Deno.makeTempDir(),
 *   target: 64 << 20,
 * });
 * store.set("x", new Float64Array(1 << 20));
 * const x = await store.get("x") as Float64Array;
 * x.length; // 1048576
 * ```
 */
export class SpillBuffer implements AsyncDisposable {
  readonly #entries = new Map<string, Entry>();
  readonly #live = new MemoryTier<unknown>("live");
  /** Bytes of frames read back by `getFrames` and not kept. */
  #handedOut = 0;
  readonly #serialized = new MemoryTier<Frames>("serialized");
  /** Mapped values; sized by their header bytes (their pages are the tmpfs's). */
  readonly #mapped = new MemoryTier<MappedValue>("mapped");
  readonly #disk: SpillTier;
  /** The spill tier maps files on read (shared-memory mode). */
  readonly #maps: boolean;
  readonly #lru = new Lru();
  readonly #failures: FailurePolicy;
  readonly #log: (message: string) => void;
  readonly #sizeof: (value: unknown) => number;
  readonly #maxSpill: number | false;
  readonly #maxWrites: number;
  readonly #spills = new Set<Promise<void>>();
  readonly #background = new Set<Promise<unknown>>();
  #target: number;
  #goal = Infinity;
  #spillingBytes = 0;
  #spillingFileBytes = 0;
  #clock = 0;
  #nextId = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #counters = {
    spills: { count: 0, bytes: 0, seconds: 0 } as TransferFigures,
    unspills: { count: 0, bytes: 0, seconds: 0 } as TransferFigures,
    serializations: { count: 0, seconds: 0 } as CodecFigures,
    deserializations: { count: 0, seconds: 0 } as CodecFigures,
    framesServedWithoutDeserialize: 0,
  };

  readonly #keepCodecValues: boolean;

  /** A store over `options.directory`; nothing is written until the first spill. */
  constructor(options: SpillBufferOptions) {
    if (!(options.target >= 0)) {
      throw new RangeError(
        `target must be a number of bytes >= 0, got ${options.target}`,
      );
    }
    const maxSpill = options.maxSpill ?? false;
    if (maxSpill !== false && !(maxSpill >= 0)) {
      throw new RangeError(
        `maxSpill must be a number of bytes >= 0 or false, got ${maxSpill}`,
      );
    }
    const maxWrites = options.maxConcurrentWrites ?? 2;
    if (!(Number.isInteger(maxWrites) && maxWrites >= 1)) {
      throw new RangeError(
        `maxConcurrentWrites must be an integer >= 1, got ${maxWrites}`,
      );
    }
    this.#target = options.target;
    this.#keepCodecValues = options.keepCodecValues ?? false;
    this.#maxSpill = maxSpill;
    this.#maxWrites = maxWrites;
    if (options.spillTier !== undefined) this.#disk = options.spillTier;
    else if (typeof options.directory === "string") {
      this.#disk = new DiskTier({
        directory: options.directory,
        sharedBuffers: options.sharedBuffers,
        allocate: options.allocate,
      });
    } else {
      throw new TypeError(
        "a SpillBuffer needs a spill directory (or a spillTier)",
      );
    }
    this.#maps = this.#disk.maps === true;
    this.#log = options.log ??
      ((message) => console.warn(`[spillway] ${message}`));
    this.#failures = new FailurePolicy({
      log: this.#log,
      backoff: options.backoff,
    });
    this.#sizeof = options.sizeof ?? estimateSize;
  }

  /** Managed bytes (live + serialized) above which keys are spilled. Setting it evicts at once. */
  get target(): number {
    return this.#target;
  }

  set target(bytes: number) {
    if (!(bytes >= 0)) {
      throw new RangeError(`target must be >= 0, got ${bytes}`);
    }
    this.#target = bytes;
    this.#evict();
  }

  /**
   * Bytes held in memory: live values, serialized frames, and the header
   * bytes of mapped values (their buffers are the file's pages).
   */
  get managedBytes(): number {
    return this.#live.bytes + this.#serialized.bytes + this.#mapped.bytes;
  }

  /** Managed bytes let go of so far (see `StoreMetrics.released`). */
  get releasedBytes(): number {
    return this.#live.released + this.#serialized.released +
      this.#mapped.released;
  }

  /** Bytes read back and handed out unkept (see `StoreMetrics.handedOut`). */
  get handedOutBytes(): number {
    return this.#handedOut;
  }

  /**
   * Bytes in complete spill files (with a `SharedTier`: this store's share
   * of them, each file's size divided by its hard links).
   */
  get spilledBytes(): number {
    return this.#disk.bytes;
  }

  /**
   * Bytes waiting to be spilled: managed bytes over the target. A worker
   * pauses new work while this stays high (the disk cannot keep up).
   */
  get pressure(): number {
    return Math.max(0, this.managedBytes - this.#target);
  }

  /** How many keys the store holds. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether the store holds `key`, in any state. Never touches the disk. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** The keys the store holds. Never touches the disk. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /**
   * The bytes `key` takes: its memory copy's size, or its file's when it is
   * only on disk or mapped; 0 when absent. Synchronous; never touches the disk.
   */
  nbytes(key: string): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    const inMemory = this.#live.size(key) + this.#serialized.size(key);
    return inMemory > 0 || entry.file === null
      ? inMemory
      : this.#disk.size(entry.file);
  }

  /** The state of `key`, or undefined when absent. */
  state(key: string): KeyState | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.spill !== null) return "spilling";
    if (this.#live.has(key)) return "live";
    if (this.#serialized.has(key)) return "serialized";
    if (this.#mapped.has(key)) return "mapped";
    return "spilled";
  }

  /**
   * Stores a task result: the key is live. Replaces any earlier value of
   * `key` (and removes its file). A value larger than the target on its own
   * is first in line for the disk, unless `options.pinned`.
   */
  set(key: string, value: unknown, options: SetOptions = {}): void {
    this.#assertOpen();
    checkKey(key);
    const bytes = this.#sizeof(value);
    const entry = this.#newEntry(key);
    if (options.pinned) entry.pins = 1;
    this.#live.put(key, value, bytes);
    if (bytes > this.#target && !options.pinned) this.#lru.makeOldest(key);
    else this.#lru.touch(key);
    this.#evict();
  }

  /**
   * Stores data received from a peer: the key is serialized and stays so
   * until `get` needs its value.
   */
  setFrames(key: string, frames: Frames): void {
    this.#assertOpen();
    checkKey(key);
    checkFrames(frames);
    this.#newEntry(key);
    this.#serialized.put(key, frames, framesByteLength(frames));
    this.#lru.touch(key);
    this.#evict();
  }

  /**
   * The value of `key`, for compute. A live or mapped key answers at once;
   * a serialized key is deserialized once and the value replaces the frames;
   * a spilled key is read asynchronously, then deserialized (in the
   * shared-memory mode its file is mapped instead, and the key becomes
   * mapped: typed arrays in the value view the file's pages, copy-on-write).
   * Concurrent calls for one key share one read and one deserialization.
   * The buffers of a mapped value must never be transferred to another
   * thread (`isMappedBuffer` of `mapping.ts` tells): this thread unmaps
   * them when they become garbage here.
   *
   * Rejects with {@linkcode KeyNotFoundError} for a key not in the store (or
   * deleted before its read ended).
   */
  async get(key: string): Promise<unknown> {
    for (;;) {
      this.#assertOpen(); // again after a read: close() may have come meanwhile
      const entry = this.#use(key);
      if (this.#live.has(key)) return this.#live.get(key);
      if (this.#mapped.has(key)) return this.#mapped.get(key).value;
      if (this.#serialized.has(key)) return this.#deserializeInPlace(key);
      const unspilled = await this.#unspill(key, entry);
      if (unspilled === null) continue; // deleted or overwritten meanwhile
      return unspilled.value;
    }
  }

  /**
   * Brings a spilled key back into memory as frames, without deserializing
   * it: a read of its file, which `get` then finds in memory (so a caller
   * can time the read and the deserialization apart). A key in memory
   * resolves at once; so does any key in the shared-memory mode, where
   * `get` maps the file instead. Pin the key first for it to stay in
   * memory until `get`: under the target eviction may drop it again (its
   * file is kept, so that costs no write). Rejects with
   * {@linkcode KeyNotFoundError} for a key not in the store.
   */
  async load(key: string): Promise<void> {
    for (;;) {
      this.#assertOpen(); // again after a read: close() may have come meanwhile
      const entry = this.#use(key);
      if (this.#maps || this.#memorySize(key) > 0) return;
      await this.#readBack(key, entry, true);
      if (this.#entries.get(key) !== entry) continue; // deleted or overwritten meanwhile
      this.#evict();
      return;
    }
  }

  /**
   * The frames of `key`, for a peer. Never deserializes: a serialized key
   * answers with its frames, a spilled key with its file's bytes (kept in
   * memory only if that fits under the target; in the shared-memory mode,
   * frames mapped from the file, not kept), a mapped key with its mapped
   * frames, and a live key is serialized (the frames view the value's
   * buffers; they are not kept).
   */
  async getFrames(key: string): Promise<Frames> {
    for (;;) {
      this.#assertOpen(); // again after a read: close() may have come meanwhile
      const entry = this.#use(key);
      if (this.#serialized.has(key)) {
        this.#counters.framesServedWithoutDeserialize++;
        return this.#serialized.get(key);
      }
      if (this.#mapped.has(key)) {
        this.#counters.framesServedWithoutDeserialize++;
        return this.#mapped.get(key).frames;
      }
      if (this.#live.has(key)) {
        try {
          return this.#serializeTimed(this.#live.get(key));
        } catch (error) {
          this.#failures.record("serialize", key, error);
          throw error;
        }
      }
      const frames = await this.#readBack(key, entry, false);
      if (this.#entries.get(key) !== entry) continue;
      this.#counters.framesServedWithoutDeserialize++;
      // Not kept here: garbage once the caller has sent them.
      if (!this.#serialized.has(key)) {
        this.#handedOut += framesByteLength(frames);
      }
      return frames;
    }
  }

  /**
   * The spill file of `key` while the key is on disk only, for a peer to
   * take in slices ({@linkcode SpillBuffer.readSpilledRange}) instead of
   * having it read back whole; undefined when the key is in memory (serve
   * it from there), absent, or its tier cannot read ranges. `file` names
   * this file: a key overwritten since has another.
   */
  spilledFileOf(key: string): { file: string; bytes: number } | undefined {
    const entry = this.#entries.get(key);
    if (
      entry === undefined || entry.file === null ||
      this.#memorySize(key) > 0 || this.#disk.pathOf === undefined
    ) return undefined;
    return { file: entry.file, bytes: this.#disk.size(entry.file) };
  }

  /**
   * Fills `into` with the bytes of `key`'s spill file `file` (as
   * {@linkcode SpillBuffer.spilledFileOf} named it) from `offset` on, in the
   * frame layout. Rejects with {@linkcode KeyNotFoundError} when the key is
   * gone, and with an error when it no longer has that file (overwritten).
   * The bytes count as handed out (garbage once sent).
   */
  async readSpilledRange(
    key: string,
    file: string,
    offset: number,
    into: Uint8Array,
  ): Promise<void> {
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new KeyNotFoundError(key);
    const path = entry.file === file ? this.#disk.pathOf?.(file) : undefined;
    if (path === undefined) {
      throw new Error(
        `key ${JSON.stringify(key)} no longer has the spill file ${
          JSON.stringify(file)
        }`,
      );
    }
    await readSpillRange(key, path, this.#disk.size(file), offset, into);
    this.#handedOut += into.byteLength;
  }

  /**
   * Removes `key` in any state. A spill of it in flight finishes and its
   * file is then removed; a read in flight is discarded. Returns whether
   * the key was there.
   */
  delete(key: string): boolean {
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#discard(key, entry);
    this.#evict();
    return true;
  }

  /** Keeps `key` in memory until as many `unpin` calls as `pin` calls. */
  pin(key: string): void {
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new KeyNotFoundError(key);
    entry.pins++;
  }

  /** Undoes one `pin` (or `set(..., { pinned: true })`); the key may be spilled again. */
  unpin(key: string): void {
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new KeyNotFoundError(key);
    if (entry.pins > 0) entry.pins--;
    this.#evict();
  }

  /**
   * Evicts at least `bytes` of managed memory, least recently used first,
   * beyond what the target asks (the memory manager calls this when the
   * process is over its spill threshold). Resolves with the managed bytes
   * freed, which may be less when nothing more can go to disk.
   */
  async evict(bytes: number): Promise<number> {
    this.#assertOpen();
    const before = this.managedBytes;
    const goal = Math.max(0, before - bytes);
    this.#goal = Math.min(this.#goal, goal);
    try {
      for (;;) {
        this.#evict();
        if (this.managedBytes <= goal || this.#spills.size === 0) break;
        await Promise.race(this.#spills);
      }
    } finally {
      this.#goal = Infinity;
    }
    return Math.max(0, before - this.managedBytes);
  }

  /**
   * Resolves once the pressure is at most `maxPressure` bytes, or once no
   * write is in flight that could lower it (the disk tier is resting after a
   * failure, or nothing left can be spilled). A producer awaits this to
   * apply backpressure when the disk cannot keep up.
   */
  async drain(maxPressure = 0): Promise<void> {
    this.#assertOpen();
    this.#evict();
    while (this.pressure > maxPressure && this.#spills.size > 0) {
      await Promise.race(this.#spills);
    }
  }

  /** Resolves when no spill, read or file removal is in flight. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) {
      await Promise.allSettled([...this.#background]);
    }
  }

  /** A snapshot of the store's state and counters. */
  metrics(): StoreMetrics {
    const c = this.#counters;
    return {
      live: { count: this.#live.count, bytes: this.#live.bytes },
      serialized: {
        count: this.#serialized.count,
        bytes: this.#serialized.bytes,
      },
      mapped: { count: this.#mapped.count, bytes: this.#mapped.bytes },
      spilled: { count: this.#disk.count, bytes: this.#disk.bytes },
      mappings: mappingStats(),
      spills: { ...c.spills },
      unspills: { ...c.unspills },
      serializations: { ...c.serializations },
      deserializations: { ...c.deserializations },
      framesServedWithoutDeserialize: c.framesServedWithoutDeserialize,
      failures: this.#failures.counts(),
      managed: this.managedBytes,
      released: this.releasedBytes,
      handedOut: this.#handedOut,
      target: this.#target,
      pressure: this.pressure,
      writesInFlight: this.#spills.size,
    };
  }

  /**
   * Waits for the I/O in flight, then removes every spill file (and the
   * directory if the store created it). The store cannot be used after.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.idle();
    this.#entries.clear();
    for (const key of [...this.#live.keys()]) this.#live.delete(key);
    for (const key of [...this.#serialized.keys()]) {
      this.#serialized.delete(key);
    }
    for (const key of [...this.#mapped.keys()]) this.#mapped.delete(key);
    await this.#disk.clear();
  }

  /** `await using store = new SpillBuffer(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- for subclasses that bring spill files in (peer_files.ts) ----------

  /** The tier evicted keys go to. */
  protected get spillTier(): SpillTier {
    return this.#disk;
  }

  /** Whether `close()` was called. */
  protected get closed(): boolean {
    return this.#closed;
  }

  /**
   * A fresh name in the spill tier for a file that is to become `key`'s
   * value once {@linkcode SpillFileSlot.fill} has put it there. Nothing
   * changes until then; an unfilled slot is simply dropped.
   */
  protected newSpillFile(key: string): SpillFileSlot {
    const id = ++this.#nextId;
    const file = `${id}:${key}`;
    return {
      file,
      fill: async (make, countAsSpill) => {
        const making = make();
        this.#inBackground(making, false); // close() waits for it
        await making;
        if (this.#closed) {
          await this.#disk.delete(file);
          throw new StoreClosedError();
        }
        if (countAsSpill) {
          const c = this.#counters.spills;
          c.count++;
          c.bytes += this.#disk.size(file);
        }
        this.#newEntry(key, id).file = file;
      },
    };
  }

  /**
   * `take(file)` of `key`'s file in the spill tier, writing the key first
   * when it has none (or awaiting its write in flight); the key stays in
   * memory as it was. A `take` that answers undefined has the key written
   * again. Rejects with {@linkcode KeyNotFoundError}, or with an error
   * saying why the key could not be written. The file stays until the key
   * is deleted or overwritten.
   */
  protected async ensureSpillFile<T>(
    key: string,
    take: (file: string) => T | undefined,
  ): Promise<T> {
    for (;;) {
      this.#assertOpen();
      const entry = this.#entries.get(key);
      if (entry === undefined) throw new KeyNotFoundError(key);
      if (entry.file !== null) {
        const taken = take(entry.file);
        if (taken !== undefined) return taken;
      }
      if (entry.spill === null) this.#spillKeeping(key, entry);
      await entry.spill;
      if (this.#entries.get(key) !== entry) continue; // overwritten meanwhile
      if (entry.file === null) {
        const reason = entry.spillError === undefined
          ? "the write did not complete"
          : (entry.spillError as Error)?.message ?? String(entry.spillError);
        throw new Error(
          `key ${
            JSON.stringify(key)
          } could not be written to the spill directory: ${reason}`,
          { cause: entry.spillError },
        );
      }
    }
  }

  // --- key bookkeeping -----------------------------------------------------

  #newEntry(key: string, id: number = ++this.#nextId): Entry {
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#discard(key, previous);
    const entry: Entry = {
      id,
      file: null,
      spill: null,
      spillError: undefined,
      spillBytes: 0,
      read: null,
      keepRead: false,
      unspill: null,
      pins: 0,
      unspillable: false,
      refusedAt: null,
      used: ++this.#clock,
    };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Forgets `entry` of `key`: memory at once, its file in the background. */
  #discard(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#dropMemory(key);
    if (entry.file !== null) {
      this.#inBackground(this.#disk.delete(entry.file));
      entry.file = null;
    }
    // A spill in flight sees the entry is gone when it ends and removes its
    // own file; a read in flight is discarded by its callers.
  }

  #use(key: string): Entry {
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new KeyNotFoundError(key);
    entry.used = ++this.#clock;
    if (this.#lru.has(key)) this.#lru.touch(key);
    return entry;
  }

  #dropMemory(key: string): void {
    this.#live.delete(key);
    this.#serialized.delete(key);
    this.#mapped.delete(key);
    this.#lru.delete(key);
  }

  /** Managed bytes of `key`'s memory copy (0 when it is only on disk). */
  #memorySize(key: string): number {
    return this.#live.size(key) + this.#serialized.size(key) +
      this.#mapped.size(key);
  }

  #keepFrames(key: string, frames: Frames): void {
    this.#serialized.put(key, frames, framesByteLength(frames));
    this.#lru.touch(key);
  }

  // --- codec ---------------------------------------------------------------

  #serializeTimed(value: unknown): Frames {
    const meter = new Meter();
    const frames = serialize(value);
    meter.count(this.#counters.serializations);
    return frames;
  }

  /** Replaces the frames of `key` by their value. Bad frames stay as they are. */
  #deserializeInPlace(key: string): unknown {
    const value = this.#deserializeCounted(key, this.#serialized.get(key));
    this.#serialized.delete(key);
    this.#live.put(key, value, this.#sizeof(value));
    this.#lru.touch(key);
    return value;
  }

  /**
   * Deserializes the mapped `frames` of `key` (shared-memory mode): the key
   * becomes mapped, its managed size the header's bytes. Bad frames leave
   * the key spilled.
   */
  #deserializeMapped(key: string, frames: Frames): unknown {
    const value = this.#deserializeCounted(key, frames);
    this.#mapped.put(key, { value, frames }, frames.header.byteLength);
    this.#lru.touch(key);
    return value;
  }

  /** Deserializes `frames` of `key`, counted and timed; a failure is recorded. */
  #deserializeCounted(key: string, frames: Frames): unknown {
    const meter = new Meter();
    try {
      return deserialize(frames, {
        codecs: this.#keepCodecValues ? "keep" : "decode",
      });
    } catch (error) {
      this.#failures.record("deserialize", key, error);
      throw error;
    } finally {
      meter.count(this.#counters.deserializations);
    }
  }

  // --- disk ----------------------------------------------------------------

  /**
   * Reads the file of `entry` back (or maps it, in the shared-memory mode).
   * Concurrent readers share one read. Read frames are kept in memory when
   * a reader computes on them (`keep`) or when they fit under the target;
   * mapped frames are never kept as frames (mapping again costs nothing).
   */
  #readBack(key: string, entry: Entry, keep: boolean): Promise<Frames> {
    if (keep) entry.keepRead = true;
    if (entry.read !== null) return entry.read;
    const file = entry.file;
    if (file === null) {
      throw new Error(
        `key ${JSON.stringify(key)} has no copy (internal error)`,
      );
    }
    const read = (async () => {
      const meter = new Meter();
      try {
        const frames = await this.#disk.get(file);
        const bytes = framesByteLength(frames);
        meter.count(this.#counters.unspills, bytes);
        const current = this.#entries.get(key) === entry;
        const inMemory = this.#live.has(key) || this.#serialized.has(key) ||
          this.#mapped.has(key);
        const fits = this.managedBytes + bytes <= this.#target;
        if (!this.#maps && current && !inMemory && (entry.keepRead || fits)) {
          this.#keepFrames(key, frames);
        }
        return frames;
      } catch (error) {
        this.#failures.record("read", key, error);
        throw new Error(
          `could not read spilled key ${JSON.stringify(key)}: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      } finally {
        entry.read = null;
        entry.keepRead = false;
      }
    })();
    entry.read = read;
    this.#inBackground(read, false);
    return read;
  }

  /**
   * Reads `key` back and deserializes it, for `get`. Concurrent callers
   * share one read and one deserialization and resolve with the same value,
   * even when eviction drops it from memory again before they resume (a
   * target of 0). Resolves with null when the entry was deleted or
   * overwritten before the read ended; the callers then look again.
   */
  #unspill(key: string, entry: Entry): Promise<Unspilled> {
    if (entry.unspill !== null) return entry.unspill;
    const unspill = (async (): Promise<Unspilled> => {
      const frames = await this.#readBack(key, entry, true);
      if (this.#entries.get(key) !== entry) return null;
      if (this.#live.has(key)) return { value: this.#live.get(key) };
      if (this.#mapped.has(key)) {
        return { value: this.#mapped.get(key).value };
      }
      // Small files of a mapping tier are read, not mapped: those are
      // in memory like any other frames.
      if (
        this.#maps && !this.#serialized.has(key) &&
        isMappedBuffer(frames.header.buffer)
      ) {
        const value = this.#deserializeMapped(key, frames);
        this.#evict();
        return { value };
      }
      if (!this.#serialized.has(key)) this.#keepFrames(key, frames);
      const value = this.#deserializeInPlace(key);
      this.#evict();
      return { value };
    })().finally(() => {
      entry.unspill = null;
    });
    entry.unspill = unspill;
    return unspill;
  }

  /**
   * Brings managed memory down to the target (or to the goal of a running
   * `evict`): least recently used first, dropping keys that already have a
   * file, and starting writes for the others up to the concurrency bound.
   */
  #evict(): void {
    if (this.#closed) return;
    const goal = Math.min(this.#target, this.#goal);
    let excess = this.managedBytes - this.#spillingBytes - goal;
    if (excess <= 0) return;
    let scanBudget = SCAN_WHEN_SATURATED;
    for (const key of this.#lru.oldestFirst()) {
      if (excess <= 0) break;
      const entry = this.#entries.get(key)!;
      if (entry.pins > 0 || entry.spill !== null || entry.unspillable) continue;
      if (
        entry.refusedAt !== null &&
        this.#disk.bytes + this.#spillingFileBytes >= entry.refusedAt
      ) {
        continue; // refused by maxSpill; retried once spill files shrink
      }
      const bytes = this.#memorySize(key);
      if (entry.file !== null) {
        this.#dropMemory(key); // already on disk (or mapped): no write
        excess -= bytes;
        continue;
      }
      if (
        this.#spills.size >= this.#maxWrites || this.#failures.diskResting()
      ) {
        if (--scanBudget <= 0) break; // only free drops are left to find
        continue;
      }
      if (this.#startSpill(key, entry, bytes)) excess -= bytes;
    }
    if (excess > 0 && this.#failures.diskResting()) this.#retryLater();
  }

  /**
   * Starts writing `key` to disk; returns false when it cannot go (its value
   * cannot be serialized, or its file would pass `maxSpill`): it stays in
   * memory, and the failure is counted once for this value. With `keep`,
   * the key stays in memory after the write too (a write `ensureSpillFile`
   * asked for).
   */
  #startSpill(
    key: string,
    entry: Entry,
    bytes: number,
    keep = false,
  ): boolean {
    let frames: Frames;
    try {
      frames = this.#serialized.has(key)
        ? this.#serialized.get(key)
        : this.#serializeTimed(this.#live.get(key));
    } catch (error) {
      entry.unspillable = true; // it stays live; a new value for the key may spill
      this.#failures.record("serialize", key, error);
      return false;
    }
    const fileBytes = framesByteLength(frames);
    if (
      this.#maxSpill !== false &&
      this.#disk.bytes + this.#spillingFileBytes + fileBytes > this.#maxSpill
    ) {
      if (entry.refusedAt === null) {
        this.#failures.record(
          "max-spill",
          key,
          `its ${fileBytes} bytes would take the spill files past maxSpill (${this.#maxSpill} bytes)`,
        );
      }
      entry.refusedAt = this.#disk.bytes + this.#spillingFileBytes;
      return false;
    }
    this.#spillingFileBytes += fileBytes;
    const usedAtStart = entry.used;
    const file = `${entry.id}:${key}`;
    entry.spillBytes = bytes;
    this.#spillingBytes += bytes;
    const spill = (async () => {
      const meter = new Meter();
      try {
        await this.#disk.put(file, frames, bytes);
      } catch (error) {
        entry.spillError = error;
        this.#failures.writeFailed(classifyWriteError(error), key, error);
        return;
      }
      entry.spillError = undefined;
      meter.count(this.#counters.spills, this.#disk.size(file));
      this.#failures.writeSucceeded();
      if (this.#entries.get(key) !== entry) {
        await this.#disk.delete(file); // deleted or overwritten while written
        return;
      }
      entry.file = file;
      if (!keep && entry.used === usedAtStart && entry.pins === 0) {
        this.#dropMemory(key);
      }
    })().finally(() => {
      entry.spill = null;
      this.#spillingFileBytes -= fileBytes;
      this.#spillingBytes -= entry.spillBytes;
      entry.spillBytes = 0;
      this.#spills.delete(spill);
      this.#evict();
    });
    entry.spill = spill;
    this.#spills.add(spill);
    this.#inBackground(spill);
    return true;
  }

  /**
   * Starts the write of `key` that {@linkcode SpillBuffer.ensureSpillFile}
   * asked for, whatever the bound on writes in flight, keeping the key in
   * memory; throws when it cannot start.
   */
  #spillKeeping(key: string, entry: Entry): void {
    if (entry.unspillable) {
      throw new Error(
        `key ${
          JSON.stringify(key)
        } cannot be serialized, so it has no file to share`,
      );
    }
    // It frees no memory (the key stays), so it counts 0 spilling bytes.
    if (!this.#startSpill(key, entry, 0, true)) {
      throw new Error(
        `key ${JSON.stringify(key)} cannot be written to the spill directory ` +
          (entry.unspillable
            ? "(it cannot be serialized)"
            : "(it would pass maxSpill)"),
      );
    }
  }

  #retryLater(): void {
    if (this.#retryTimer !== undefined) return;
    const timer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#evict();
    }, Math.max(1, this.#failures.restRemaining()));
    Deno.unrefTimer(timer);
    this.#retryTimer = timer;
  }

  /** Tracks work `close()` and `idle()` wait for; logs unexpected errors when `report`. */
  #inBackground(work: Promise<unknown>, report = true): void {
    const done: Promise<void> = work.then(
      () => {
        this.#background.delete(done);
      },
      (error) => {
        this.#background.delete(done);
        if (report) {
          this.#log(
            `background store work failed: ${(error as Error).message}`,
          );
        }
      },
    );
    this.#background.add(done);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

/**
 * Throws a TypeError unless `key` is a string (for JavaScript callers).
 *
 * @example
 * ```ts
 * import { checkKey } from "./spill_buffer.ts";
 * checkKey("x"); // fine
 * ```
 */
export function checkKey(key: string): void {
  if (typeof key !== "string") {
    throw new TypeError(`a key must be a string, got ${typeof key}`);
  }
}

function checkFrames(frames: Frames): void {
  if (
    frames === null || typeof frames !== "object" ||
    !(frames.header instanceof Uint8Array) || !Array.isArray(frames.buffers) ||
    !frames.buffers.every((buffer) => buffer instanceof Uint8Array)
  ) {
    throw new TypeError(
      "frames must be { header: Uint8Array, buffers: Uint8Array[] }",
    );
  }
}

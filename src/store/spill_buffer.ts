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
import {
  isMappingTier,
  type LinkOptions,
  type MappingSpillTier,
  type SpillTier,
} from "./tier.ts";
import { isMappedBuffer, mappingStats } from "./mapping.ts";
import { readSpillRange } from "./spill_files.ts";
import type { CodecFigures, StoreMetrics, TransferFigures } from "./metrics.ts";

/** Options of a {@linkcode SpillBuffer}. */
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
   * mode: keys read back are "mapped", and same-host peers get hard links.
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
}

/** Options of {@linkcode SpillBuffer.set}. */
export interface SetOptions {
  /**
   * The value is about to be computed on: keep it in memory until
   * {@linkcode SpillBuffer.unpin}, even when it alone is larger than the target
   * (so it does not go through a spill and unspill cycle).
   */
  pinned?: boolean;
}

/**
 * The state of one key (DESIGN.md, "The store: states of one key").
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
 * A key's spill file, as {@linkcode SpillBuffer.spilledFile} gives it to a same-host peer.
 *
 * @example
 * ```ts
 * import type { SpilledFile, SpillBuffer } from "./spill_buffer.ts";
 * declare const donor: SpillBuffer;
 * const file: SpilledFile = await donor.spilledFile("x"); // { path, bytes }
 * ```
 */
export interface SpilledFile {
  /** Absolute path of the file, inside the shared spill root. */
  path: string;
  /** The file's size in bytes. */
  bytes: number;
}

/**
 * A spill file that a producer writes itself (an executor thread, in the
 * shared-memory mode): see {@linkcode SpillBuffer.prepareSpillFile}.
 *
 * @example
 * ```ts ignore
 * const prepared = await store.prepareSpillFile("x");
 * writeSpillFileSync(prepared.path, serialize(value)); // in the executor
 * await prepared.adopt(); // "x" is now spilled
 * ```
 */
export interface PreparedSpillFile {
  /** Where to write: `<path>.tmp` first, renamed to `<path>` once whole. */
  readonly path: string;
  /**
   * Takes the written file as the key's value (replacing any earlier one):
   * the key is then "spilled", and counts as one spill. Rejects, leaving
   * the store unchanged, when nothing whole was written at `path`.
   */
  adopt(): Promise<void>;
  /** Removes whatever was written; the store is unchanged. */
  abandon(): Promise<void>;
}

/** Thrown (or rejected with) when a key is not in the store. */
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

/** Thrown when a closed store is used. */
export class StoreClosedError extends Error {
  /** An error saying the store is closed. */
  constructor() {
    super("the store is closed");
    this.name = "StoreClosedError";
  }
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
  /** Mapped values; sized by their header bytes (DESIGN.md: managed memory). */
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

  /**
   * Adopts `key` from a same-host peer by hard-linking the peer's spill
   * file at `sourcePath` (which must lie inside `sharedRoot`) into this
   * store's directory: no bytes are copied, and the key is then "spilled"
   * (replacing any earlier value of it). Needs a spill tier that links
   * (`SharedTier`). Rejects with the tier's `LinkError` (its `code`:
   * `EXDEV`, `EPERM`, `ENOENT`, `OUTSIDE_ROOT`, ...) when the link cannot be
   * made; the store is then unchanged and the caller fetches the bytes
   * instead.
   */
  async linkFrom(
    key: string,
    sourcePath: string,
    sharedRoot: string,
    options?: LinkOptions,
  ): Promise<void> {
    this.#assertOpen();
    checkKey(key);
    const tier = this.#linkingTier();
    const id = ++this.#nextId;
    const file = `${id}:${key}`;
    const link = tier.linkFrom(file, sourcePath, sharedRoot, options);
    this.#inBackground(link, false); // close() waits for it
    await link;
    if (this.#closed) {
      await tier.delete(file);
      throw new StoreClosedError();
    }
    const entry = this.#newEntry(key, id);
    entry.file = file;
  }

  /**
   * Reserves a spill file for `key` that the caller writes itself, then
   * adopts: an executor that made a large result writes it straight to the
   * tmpfs and frees its buffers, so the value never passes through this
   * thread's memory. Needs a spill tier that maps files (`SharedTier`).
   */
  async prepareSpillFile(key: string): Promise<PreparedSpillFile> {
    this.#assertOpen();
    checkKey(key);
    const tier = this.#linkingTier();
    const id = ++this.#nextId;
    const file = `${id}:${key}`;
    const path = await tier.reserve(file);
    let settled = false;
    const settle = () => {
      if (settled) throw new Error(`spill file ${path} was already settled`);
      settled = true;
    };
    return {
      path,
      adopt: async () => {
        settle();
        if (this.#closed) {
          await tier.abandon(path);
          throw new StoreClosedError();
        }
        const adopting = tier.adopt(file, path);
        this.#inBackground(adopting, false); // close() waits for it
        await adopting;
        if (this.#closed) {
          await tier.delete(file);
          throw new StoreClosedError();
        }
        const c = this.#counters.spills;
        c.count++;
        c.bytes += tier.size(file);
        this.#newEntry(key, id).file = file;
      },
      abandon: () => {
        settle();
        return tier.abandon(path);
      },
    };
  }

  /**
   * The spill file of `key`, for a same-host peer to hard-link (see
   * {@linkcode SpillBuffer.linkFrom}). A key not yet on disk is written
   * first (or its write in flight is awaited); it stays in memory as it
   * was. Needs a spill tier that links (`SharedTier`). Rejects with
   * {@linkcode KeyNotFoundError}, or with an error saying why the key could
   * not be written (the peer then gets its bytes instead). The file stays
   * until the key is deleted or overwritten here; a peer's link outlives it.
   */
  async spilledFile(key: string): Promise<SpilledFile> {
    const tier = this.#linkingTier();
    for (;;) {
      this.#assertOpen();
      const entry = this.#entries.get(key);
      if (entry === undefined) throw new KeyNotFoundError(key);
      if (entry.file !== null) {
        const path = tier.pathOf(entry.file);
        if (path !== undefined) return { path, bytes: tier.size(entry.file) };
      }
      if (entry.spill === null) this.#spillForPeer(key, entry);
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

  #linkingTier(): MappingSpillTier {
    if (!isMappingTier(this.#disk)) {
      throw new TypeError(
        `hard links between workers need a spill tier that maps and links files (a SharedTier); this store's is "${this.#disk.name}"`,
      );
    }
    return this.#disk;
  }

  #keepFrames(key: string, frames: Frames): void {
    this.#serialized.put(key, frames, framesByteLength(frames));
    this.#lru.touch(key);
  }

  // --- codec ---------------------------------------------------------------

  #serializeTimed(value: unknown): Frames {
    const start = performance.now();
    const frames = serialize(value);
    this.#counters.serializations.count++;
    this.#counters.serializations.seconds += (performance.now() - start) / 1000;
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
    const start = performance.now();
    try {
      return deserialize(frames);
    } catch (error) {
      this.#failures.record("deserialize", key, error);
      throw error;
    } finally {
      this.#counters.deserializations.count++;
      this.#counters.deserializations.seconds += (performance.now() - start) /
        1000;
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
      const start = performance.now();
      try {
        const frames = await this.#disk.get(file);
        const bytes = framesByteLength(frames);
        const c = this.#counters.unspills;
        c.count++;
        c.bytes += bytes;
        c.seconds += (performance.now() - start) / 1000;
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
   * the key stays in memory after the write too (a write a peer asked for).
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
      const start = performance.now();
      try {
        await this.#disk.put(file, frames, bytes);
      } catch (error) {
        entry.spillError = error;
        this.#failures.writeFailed(classifyWriteError(error), key, error);
        return;
      }
      entry.spillError = undefined;
      const c = this.#counters.spills;
      c.count++;
      c.bytes += this.#disk.size(file);
      c.seconds += (performance.now() - start) / 1000;
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
   * Starts the write of `key` that a same-host peer asked for, whatever the
   * bound on writes in flight; throws when it cannot start.
   */
  #spillForPeer(key: string, entry: Entry): void {
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

function checkKey(key: string): void {
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

/**
 * Reused shared memory for the worker's large buffers: spill files read
 * back and messages received from peers.
 *
 * Memory a process frees goes back to the OS, and on these VMs to the host,
 * and touching fresh memory again runs at 0.3–0.5 GiB/s against ~10 GiB/s
 * for memory touched recently: reading a 64 MiB spill file that is in the
 * page cache took 210 ms into a fresh SharedArrayBuffer and 7.5 ms into a
 * reused one. A worker reading chunks back all day spent most of its CPU
 * faulting fresh pages in. So large buffers are taken from this pool and
 * come back to it once nothing can read them any more.
 *
 * Who still holds a view of a buffer? The pool hands out a SharedArrayBuffer
 * object of its own (`structuredClone` of the one it keeps: another object
 * over the same memory), and knows it is let go of on this thread when that
 * object is garbage collected (a `FinalizationRegistry`): every view this
 * thread made of it (frames, a deserialized value, a reply being written)
 * holds that one object. Executors (other threads) receive their own
 * objects for the same memory; each one they receive is counted as a hold
 * ({@linkcode BufferPool.hold}) until the executor says it collected it
 * ({@linkcode BufferPool.release}), or dies. A task that keeps an input in
 * module state keeps its buffer out of the pool for as long; a task that
 * returns (part of) an input gets a copy as its result (the executor sees
 * to it), so the result never shares memory with a buffer that may be
 * reused.
 *
 * @module
 */
import { forEachBuffer } from "./lend.ts";

/** Options of {@linkcode BufferPool}. */
export interface BufferPoolOptions {
  /** Requests below this size get a fresh buffer, not pooled. Default 1 MiB. */
  minBytes?: number;
  /**
   * Most bytes of free buffers kept for reuse, or a function that says it
   * when a buffer comes back; the rest are left to the garbage collector
   * (and so go back to the OS). Free buffers are resident memory: keep
   * this well under the memory limit.
   */
  maxFreeBytes: number | (() => number);
}

/** What the pool did since it started. */
export interface BufferPoolStats {
  /** Buffers handed out from the free list (no fresh memory). */
  reused: number;
  /** Pooled-size buffers allocated fresh (the free list had none). */
  fresh: number;
  /** Bytes handed out from the free list. */
  reusedBytes: number;
  /** Buffers back in the free list. */
  returned: number;
  /** Buffers let go of instead (the free list was full, or trimmed). */
  dropped: number;
  /** Bytes of free buffers kept now. */
  freeBytes: number;
  /** Buffers handed out and not yet back. */
  inUse: number;
}

interface Entry {
  /** The pool's own object for the memory (reused when the entry ends). */
  readonly spare: SharedArrayBuffer;
  /** Holds by executors. */
  holds: number;
  /** The object handed out on this thread is still alive. */
  handedOut: boolean;
}

/** Sizes are rounded up to this, so that buffers of close sizes are reused. */
const GRANULE = 2 ** 20;

/**
 * A pool of SharedArrayBuffers for large buffers (see the module notes).
 *
 * @example
 * ```ts
 * import { BufferPool } from "./buffer_pool.ts";
 * const pool = new BufferPool({ maxFreeBytes: 64 * 2 ** 20 });
 * const bytes = pool.allocate(4 * 2 ** 20); // a view of exactly 4 MiB
 * bytes.buffer instanceof SharedArrayBuffer; // true
 * pool.idOf(bytes.buffer as SharedArrayBuffer) !== undefined; // true: pooled
 * pool.allocate(100).buffer instanceof SharedArrayBuffer; // true, not pooled
 * ```
 */
export class BufferPool {
  readonly #minBytes: number;
  readonly #maxFreeBytes: () => number;
  readonly #free = new Map<number, SharedArrayBuffer[]>();
  readonly #entries = new Map<number, Entry>();
  readonly #ids = new WeakMap<SharedArrayBuffer, number>();
  readonly #registry = new FinalizationRegistry<number>((id) => {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    entry.handedOut = false;
    this.#settle(id, entry);
  });
  #nextId = 0;
  #stats: BufferPoolStats = {
    reused: 0,
    fresh: 0,
    reusedBytes: 0,
    returned: 0,
    dropped: 0,
    freeBytes: 0,
    inUse: 0,
  };

  /** A pool; see {@linkcode BufferPoolOptions}. */
  constructor(options: BufferPoolOptions) {
    this.#minBytes = options.minBytes ?? 2 ** 20;
    const max = options.maxFreeBytes;
    this.#maxFreeBytes = typeof max === "number" ? () => max : max;
  }

  /** Bytes of free buffers kept now (read often: no copy of the stats). */
  get freeBytes(): number {
    return this.#stats.freeBytes;
  }

  /** Counts since the pool started, and what it holds now (a copy). */
  get stats(): BufferPoolStats {
    return { ...this.#stats, inUse: this.#entries.size };
  }

  /**
   * `byteLength` bytes of shared memory, at offset 0 of their buffer (which
   * may be larger: sizes are rounded up to 1 MiB). Reused memory is not
   * zeroed where the view lies (the caller overwrites it); the rest of the
   * buffer is, so that a task reading past its input's view (through
   * `.buffer`) never sees what an earlier value left there.
   */
  allocate = (byteLength: number): Uint8Array => {
    if (byteLength < this.#minBytes) {
      return new Uint8Array(new SharedArrayBuffer(byteLength));
    }
    const size = Math.ceil(byteLength / GRANULE) * GRANULE;
    let spare = this.#free.get(size)?.pop();
    if (spare !== undefined) {
      new Uint8Array(spare, byteLength).fill(0);
      this.#stats.freeBytes -= size;
      this.#stats.reused++;
      this.#stats.reusedBytes += size;
    } else {
      spare = new SharedArrayBuffer(size);
      this.#stats.fresh++;
    }
    const handed = structuredClone(spare);
    const id = ++this.#nextId;
    this.#entries.set(id, { spare, holds: 0, handedOut: true });
    this.#ids.set(handed, id);
    this.#registry.register(handed, id);
    return new Uint8Array(handed, 0, byteLength);
  };

  /**
   * Lets go of every free buffer (they go back to the OS once collected):
   * for a process near its memory limit, where resident free buffers would
   * push data out to disk.
   */
  trim(): void {
    for (const list of this.#free.values()) this.#stats.dropped += list.length;
    this.#free.clear();
    this.#stats.freeBytes = 0;
  }

  /** Whether `allocate(byteLength)` would reuse memory (or needs none pooled). */
  hasFree(byteLength: number): boolean {
    if (byteLength < this.#minBytes) return true;
    const size = Math.ceil(byteLength / GRANULE) * GRANULE;
    return (this.#free.get(size)?.length ?? 0) > 0;
  }

  /** The pool's id of a buffer it handed out on this thread, or undefined. */
  idOf(buffer: SharedArrayBuffer): number | undefined {
    return this.#ids.get(buffer);
  }

  /** An executor received the buffer `id` (counted until released). */
  hold(id: number): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined) entry.holds++;
  }

  /** An executor collected its object of buffer `id`, or died. */
  release(id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.holds === 0) return;
    entry.holds--;
    this.#settle(id, entry);
  }

  /** Ends the entry once nothing holds it: its memory is free for reuse. */
  #settle(id: number, entry: Entry): void {
    if (entry.handedOut || entry.holds > 0) return;
    this.#entries.delete(id);
    const size = entry.spare.byteLength;
    if (this.#stats.freeBytes + size > this.#maxFreeBytes()) {
      this.#stats.dropped++; // to the GC
      return;
    }
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, list = []);
    list.push(entry.spare);
    this.#stats.freeBytes += size;
    this.#stats.returned++;
  }
}

/**
 * What an {@linkcode ExecutorPool} needs of a buffer pool: which buffers
 * are pooled, and holds by executors.
 */
export type PooledBuffers = Pick<BufferPool, "idOf" | "hold" | "release">;

/**
 * The SharedArrayBuffers reachable from `value` (through arrays, Maps,
 * Sets, plain objects and views), each once.
 *
 * @example
 * ```ts
 * import { sharedBuffersIn } from "./buffer_pool.ts";
 * const s = new SharedArrayBuffer(8);
 * sharedBuffersIn([new Uint8Array(s), { x: new Float64Array(s) }, 1]).length; // 1
 * ```
 */
export function sharedBuffersIn(value: unknown): SharedArrayBuffer[] {
  const found: SharedArrayBuffer[] = [];
  forEachBuffer(value, (b) => {
    if (b instanceof SharedArrayBuffer) found.push(b);
  });
  return found;
}

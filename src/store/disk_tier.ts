import { decodeFrames, type Frames } from "../serialize/frames.ts";
import { FileIndex, type IndexedFile } from "./file_index.ts";
import { SpillDirectory } from "./spill_files.ts";
import type { SpillTier } from "./tier.ts";

/**
 * Options of a {@linkcode DiskTier}.
 *
 * @example
 * ```ts
 * import { DiskTier, type DiskTierOptions } from "@spillway/spillway";
 * const options: DiskTierOptions = { directory: "/var/tmp/spillway-w1", ioChunk: 2 ** 20 };
 * const tier = new DiskTier(options);
 * ```
 */
export interface DiskTierOptions {
  /** Directory of the spill files; created when the first file is written. */
  directory: string;
  /**
   * Largest single `write`/`read` call in bytes. Default 1 MiB: Deno copies
   * each call's buffer on the JS thread, so 8 MiB calls stalled the event
   * loop 9–15 ms here while 1 MiB calls kept it under 4 ms at the same
   * throughput (bench/event_loop_lag.ts measures it in the store).
   */
  ioChunk?: number;
  /**
   * Read files back into SharedArrayBuffers, so values read back can be
   * shared with task executors (Web Workers) without a copy. Default false.
   */
  sharedBuffers?: boolean;
  /**
   * Where read-back bytes go: a buffer of exactly `byteLength` bytes at a
   * 64-byte aligned offset (e.g. reused memory; see the worker's buffer
   * pool). Default: a fresh buffer, shared or not per `sharedBuffers`.
   */
  allocate?: (byteLength: number) => Uint8Array | Promise<Uint8Array>;
}

/**
 * A directory of immutable spill files, one per key, in the frame layout of
 * `src/serialize/frames.ts` (the same bytes as on the wire).
 *
 * What holds:
 * - A file is written under a temporary name and renamed when whole, so a
 *   key is in the tier only once its file is complete; a failed write
 *   removes its temporary file and leaves the tier as it was.
 * - Files are never modified after the rename (hard links and mmap rely on
 *   it); overwriting a key writes a new file and then removes the old one.
 * - All I/O is async `FsFile` calls, which run off the JS thread
 *   (`Deno.writeFile` would copy on it: docs/platform.md#blocking-writes).
 * - `has`, `size` and `keys` answer from memory and never touch the disk.
 *
 * @example
 * ```ts
 * import { DiskTier } from "./disk_tier.ts";
 * import { serialize } from "../serialize/serialize.ts";
 * const disk = new DiskTier({ directory: await Deno.makeTempDir() });
 * await disk.put("x", serialize(new Float64Array(4)), 0);
 * disk.has("x"); // true
 * await disk.clear();
 * ```
 */
export class DiskTier implements SpillTier {
  readonly name = "disk";
  /** The directory of the spill files. */
  readonly directory: string;
  readonly #dir: SpillDirectory;
  readonly #allocate: (
    byteLength: number,
  ) => Uint8Array | Promise<Uint8Array>;
  readonly #files = new FileIndex<IndexedFile>((file) => file.bytes);

  /** A tier over `options.directory`. Nothing is touched until the first put. */
  constructor(options: DiskTierOptions) {
    this.directory = options.directory;
    this.#dir = new SpillDirectory(options.directory, options.ioChunk);
    const shared = options.sharedBuffers ?? false;
    this.#allocate = options.allocate ??
      ((n) =>
        new Uint8Array(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n)));
  }

  /** How many files the tier holds. */
  get count(): number {
    return this.#files.count;
  }

  /** Bytes in all complete files. */
  get bytes(): number {
    return this.#files.total;
  }

  /** Whether a complete file holds `key`. */
  has(key: string): boolean {
    return this.#files.has(key);
  }

  /** The size of `key`'s file, 0 when absent. */
  size(key: string): number {
    return this.#files.size(key);
  }

  /** The path of `key`'s file, or undefined. */
  pathOf(key: string): string | undefined {
    return this.#files.pathOf(key);
  }

  /** The keys held. */
  keys(): IterableIterator<string> {
    return this.#files.keys();
  }

  /**
   * Writes `frames` to a new file for `key`. Rejects with the OS error
   * (ENOSPC, EROFS, EIO, ...) after removing the partial file.
   */
  async put(key: string, frames: Frames, _bytes: number): Promise<void> {
    await this.#files.set(key, await this.#dir.write(key, frames));
  }

  /** The bytes of `key`'s file, read off the JS thread into a new buffer (see `allocate`). */
  async readBytes(key: string): Promise<Uint8Array> {
    const spill = this.#files.get(key);
    if (spill === undefined) {
      throw new Error(`disk tier has no key ${JSON.stringify(key)}`);
    }
    return await this.#dir.readAllocated(
      spill.path,
      spill.bytes,
      this.#allocate,
    );
  }

  /** The frames of `key`: its file read back and decoded, zero-copy. */
  async get(key: string): Promise<Frames> {
    return decodeFrames(await this.readBytes(key));
  }

  /** Removes `key`'s file. The key leaves the tier at once; the unlink follows. */
  async delete(key: string): Promise<void> {
    await this.#files.delete(key);
  }

  /**
   * Removes every file of the tier, temporary ones included, and the
   * directory itself if the tier created it.
   */
  async clear(): Promise<void> {
    await this.#files.clear();
    await this.#dir.clear();
  }
}

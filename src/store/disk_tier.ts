import { join } from "node:path";
import {
  decodeFrames,
  encodeFrames,
  type Frames,
} from "../serialize/frames.ts";
import type { SpillTier } from "./tier.ts";

/** Options of a {@linkcode DiskTier}. */
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
}

interface SpillFile {
  path: string;
  bytes: number;
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
 *   (`Deno.writeFile` would copy on it: PLATFORM.md §8).
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
  readonly directory: string;
  readonly #ioChunk: number;
  readonly #shared: boolean;
  readonly #files = new Map<string, SpillFile>();
  #bytes = 0;
  #sequence = 0;
  #ready: Promise<void> | null = null;
  #createdDirectory = false;

  /** A tier over `options.directory`. Nothing is touched until the first put. */
  constructor(options: DiskTierOptions) {
    this.directory = options.directory;
    this.#ioChunk = options.ioChunk ?? 1 << 20;
    this.#shared = options.sharedBuffers ?? false;
  }

  /** How many files the tier holds. */
  get count(): number {
    return this.#files.size;
  }

  /** Bytes in all complete files. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether a complete file holds `key`. */
  has(key: string): boolean {
    return this.#files.has(key);
  }

  /** The size of `key`'s file, 0 when absent. */
  size(key: string): number {
    return this.#files.get(key)?.bytes ?? 0;
  }

  /** The path of `key`'s file, or undefined. */
  path(key: string): string | undefined {
    return this.#files.get(key)?.path;
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
    await this.#ensureDirectory();
    const name = `${++this.#sequence}-${fileSafe(key)}.spw`;
    const path = join(this.directory, name);
    const temporary = `${path}.tmp`;
    let written = 0;
    try {
      using file = await Deno.open(temporary, { write: true, createNew: true });
      for (const chunk of encodeFrames(frames)) {
        written += await this.#writeAll(file, chunk);
      }
    } catch (error) {
      await removeQuietly(temporary);
      throw error;
    }
    try {
      await Deno.rename(temporary, path);
    } catch (error) {
      await removeQuietly(temporary);
      throw error;
    }
    const previous = this.#files.get(key);
    this.#files.set(key, { path, bytes: written });
    this.#bytes += written;
    if (previous) await this.#forget(previous);
  }

  /** The bytes of `key`'s file, read off the JS thread into a fresh buffer. */
  async readBytes(key: string): Promise<Uint8Array> {
    const spill = this.#files.get(key);
    if (spill === undefined) {
      throw new Error(`disk tier has no key ${JSON.stringify(key)}`);
    }
    const bytes = new Uint8Array(
      this.#shared
        ? new SharedArrayBuffer(spill.bytes)
        : new ArrayBuffer(spill.bytes),
    );
    using file = await Deno.open(spill.path, { read: true });
    let offset = 0;
    while (offset < bytes.length) {
      const end = Math.min(bytes.length, offset + this.#ioChunk);
      const n = await file.read(bytes.subarray(offset, end));
      if (n === null) {
        throw new Error(
          `spill file ${spill.path} ended at ${offset} of ${bytes.length} bytes`,
        );
      }
      offset += n;
    }
    return bytes;
  }

  /** The frames of `key`: its file read back and decoded, zero-copy. */
  async get(key: string): Promise<Frames> {
    return decodeFrames(await this.readBytes(key));
  }

  /** Removes `key`'s file. The key leaves the tier at once; the unlink follows. */
  async delete(key: string): Promise<void> {
    const spill = this.#files.get(key);
    if (spill === undefined) return;
    this.#files.delete(key);
    await this.#forget(spill);
  }

  /**
   * Removes every file of the tier, temporary ones included, and the
   * directory itself if the tier created it.
   */
  async clear(): Promise<void> {
    const files = [...this.#files.values()];
    this.#files.clear();
    await Promise.all(files.map((spill) => this.#forget(spill)));
    if (this.#ready === null) return;
    await this.#ready.catch(() => {});
    try {
      for await (const entry of Deno.readDir(this.directory)) {
        if (entry.name.endsWith(".spw") || entry.name.endsWith(".spw.tmp")) {
          await removeQuietly(join(this.directory, entry.name));
        }
      }
      if (this.#createdDirectory) await Deno.remove(this.directory);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /** Uncounts and unlinks a file already taken out of (or replaced in) the index. */
  async #forget(spill: SpillFile): Promise<void> {
    this.#bytes -= spill.bytes;
    await removeQuietly(spill.path);
  }

  async #writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<number> {
    let offset = 0;
    while (offset < chunk.length) {
      const end = Math.min(chunk.length, offset + this.#ioChunk);
      offset += await file.write(chunk.subarray(offset, end));
    }
    return chunk.length;
  }

  #ensureDirectory(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await Deno.mkdir(this.directory);
        this.#createdDirectory = true;
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) return;
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await Deno.mkdir(this.directory, { recursive: true });
        this.#createdDirectory = true;
      }
    })().catch((error) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }
}

/** A readable, file-name-safe rendering of a key (unique names come from a sequence). */
function fileSafe(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80);
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

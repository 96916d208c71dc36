/**
 * The spill tier of the shared-memory mode: a directory on a tmpfs whose
 * files are mapped back instead of read, and shared with same-host peers
 * by hard link (docs/architecture.md#a-spilled-key-read-back-for-a-task,
 * docs/architecture.md#a-peer-asking-for-data).
 *
 * @module
 */
import type { Frames } from "../serialize/frames.ts";
import { hardLinkFromPeer } from "./link.ts";
import { mapFrames } from "./mapping.ts";
import { FileIndex, type IndexedFile } from "./file_index.ts";
import {
  decodeSpillFile,
  SpillDirectory,
  temporaryPath,
} from "./spill_files.ts";
import type { LinkOptions, MappingSpillTier } from "./tier.ts";

/**
 * Options of a {@linkcode SharedTier}.
 *
 * @example
 * ```ts
 * import { SharedTier, type SharedTierOptions } from "./shared_tier.ts";
 * const options: SharedTierOptions = { directory: "/mnt/spillway/worker-1", refreshMs: 500 };
 * const tier = new SharedTier(options);
 * ```
 */
export interface SharedTierOptions {
  /**
   * This worker's directory, inside the host's shared spill root (a tmpfs:
   * see `checkSharedSpillRoot`); created when the first file is written.
   */
  directory: string;
  /** Largest single write call in bytes. Default 1 MiB (as `DiskTier`). */
  ioChunk?: number;
  /**
   * How old, in ms, the link counts behind `bytes` may be before reading
   * `bytes` starts a re-stat of the files in the background. Default 1000.
   */
  refreshMs?: number;
  /**
   * Files smaller than this are read into memory by `get` instead of
   * mapped: a read of a few KiB from a tmpfs is a memcpy, while a mapping
   * stays (holding the file's pages, even once deleted) until this
   * isolate's next garbage collection. Default 64 KiB.
   */
  mapAbove?: number;
}

interface SharedFile extends IndexedFile {
  /** Hard links to the file when last looked at (this tier's included). */
  links: number;
}

/**
 * A {@linkcode MappingSpillTier} on a directory of a tmpfs.
 *
 * - `put` writes files as `DiskTier` does (temporary name, rename, 1 MiB
 *   calls off the JS thread; the code is `SpillDirectory`'s, shared).
 * - `get` maps the file copy-on-write: the frames view the mapping, no
 *   bytes are read or copied, and writes into them never reach the file.
 *   Files under `mapAbove` (64 KiB) are read instead.
 * - `linkFrom` adds a key by hard-linking a peer's file; `delete` removes
 *   only this tier's link, so a peer's copy stays readable.
 *
 * Accounting: `size(key)` is the file's size (the key's data size, and what
 * a write of it cost), while `bytes` counts each file as `size / links`, so
 * that the sum of `bytes` over the workers linking one file equals what it
 * takes on the tmpfs. Link counts change when peers link or unlink, which
 * this tier does not see: they are re-read with `stat` in the background
 * when `bytes` is read and the last look is older than `refreshMs` (so
 * `bytes` may lag a peer by that long and may be fractional), and at once
 * with {@linkcode SharedTier.refresh}. A deleted file's pages stay in use
 * until the last mapping of it is released (`mapping.ts`).
 *
 * @example
 * ```ts
 * import { SharedTier } from "./shared_tier.ts";
 * import { deserialize, serialize } from "../serialize/serialize.ts";
 * const tier = new SharedTier({ directory: "/mnt/spillway/worker-1" });
 * await tier.put("x", serialize(new Float64Array(1 << 20)), 0);
 * const x = deserialize(await tier.get("x")) as Float64Array; // views the file's pages
 * await tier.clear();
 * ```
 */
export class SharedTier implements MappingSpillTier {
  readonly name = "shared";
  readonly maps: true = true;
  /** The directory of the spill files. */
  readonly directory: string;
  readonly #dir: SpillDirectory;
  /** Each file weighs its share of the tmpfs: size / links. */
  readonly #files = new FileIndex<SharedFile>((file) =>
    file.bytes / file.links
  );
  /** Paths handed out by `reserve`, not yet adopted or abandoned. */
  readonly #reserved = new Set<string>();
  readonly #refreshMs: number;
  readonly #mapAbove: number;
  #checkedAt = 0;
  #refreshing: Promise<number> | null = null;

  /** A tier over `options.directory`. Nothing is touched until the first put or link. */
  constructor(options: SharedTierOptions) {
    const refreshMs = options.refreshMs ?? 1000;
    if (!(refreshMs >= 0)) {
      throw new RangeError(`refreshMs must be >= 0, got ${refreshMs}`);
    }
    this.directory = options.directory;
    this.#dir = new SpillDirectory(options.directory, options.ioChunk);
    this.#refreshMs = refreshMs;
    this.#mapAbove = options.mapAbove ?? 64 * 1024;
  }

  /** How many files the tier holds. */
  get count(): number {
    return this.#files.count;
  }

  /**
   * This tier's share of the tmpfs: each file's size divided by its link
   * count (see the class notes on how fresh the counts are).
   */
  get bytes(): number {
    if (
      this.#files.count > 0 && this.#refreshing === null &&
      performance.now() - this.#checkedAt > this.#refreshMs
    ) {
      this.refresh().catch(() => {}); // a failed stat keeps the old count
    }
    return this.#files.total;
  }

  /** Whether the tier holds `key`. */
  has(key: string): boolean {
    return this.#files.has(key);
  }

  /** The size of `key`'s file (not divided by its links), 0 when absent. */
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
   * (ENOSPC when the tmpfs is full, ...) after removing the partial file.
   */
  async put(key: string, frames: Frames, _bytes: number): Promise<void> {
    const { path, bytes } = await this.#dir.write(key, frames);
    await this.#files.set(key, { path, bytes, links: 1 });
  }

  /**
   * The frames of `key`, mapped from its file: zero-copy, copy-on-write
   * (read into memory when the file is under `mapAbove`). Rejects when the
   * tier does not hold `key` or the file cannot be mapped (a `LibcError`
   * with the errno name, or `--allow-ffi` missing).
   */
  async get(key: string): Promise<Frames> {
    const file = this.#files.get(key);
    if (file === undefined) {
      throw new Error(`shared tier has no key ${JSON.stringify(key)}`);
    }
    if (file.bytes >= this.#mapAbove) return mapFrames(file.path);
    const bytes = new Uint8Array(file.bytes);
    await this.#dir.readInto(file.path, bytes);
    return decodeSpillFile(file.path, bytes);
  }

  /**
   * Adds `key` as a hard link to the peer file `sourcePath`, after checking
   * that it lies inside `sharedRoot` (no `..`, no symlink leading out, a
   * regular file). Rejects with a `LinkError` whose `code` says why
   * (`EXDEV`, `EPERM`, `ENOENT`, `OUTSIDE_ROOT`, ...); the tier is then
   * unchanged and the caller falls back to a byte transfer.
   */
  async linkFrom(
    key: string,
    sourcePath: string,
    sharedRoot: string,
    options: LinkOptions = {},
  ): Promise<void> {
    await this.#dir.ensure();
    const path = this.#dir.newPath(key);
    const info = await hardLinkFromPeer(sourcePath, sharedRoot, path, options);
    await this.#files.set(key, {
      path,
      bytes: info.size,
      links: Math.max(1, info.nlink ?? 1),
    });
  }

  /**
   * A fresh path in this tier's directory where an executor writes `key`'s
   * file itself (`<path>.tmp`, renamed to `<path>` when whole, as
   * `writeSpillFileSync` does); then {@linkcode SharedTier.adopt} or
   * {@linkcode SharedTier.abandon}. `clear()` removes both names.
   */
  async reserve(key: string): Promise<string> {
    await this.#dir.ensure();
    const path = this.#dir.newPath(key);
    this.#reserved.add(path);
    return path;
  }

  /**
   * Indexes the file written at `path` (from {@linkcode SharedTier.reserve})
   * as `key`'s. Rejects when `path` was not reserved here or holds no
   * regular file; the tier is then unchanged.
   */
  async adopt(key: string, path: string): Promise<void> {
    if (!this.#reserved.delete(path)) {
      throw new Error(`${path} is not a path this tier reserved`);
    }
    try {
      const info = await Deno.lstat(path);
      if (!info.isFile) throw new Error(`${path} is not a regular file`);
      await this.#files.set(key, {
        path,
        bytes: info.size,
        links: Math.max(1, info.nlink ?? 1),
      });
    } catch (error) {
      await this.abandon(path);
      throw error;
    }
  }

  /**
   * Removes whatever was written at a reserved `path` (both names). Most
   * often nothing was (the result came back small): synchronous unlinks on
   * the tmpfs cost microseconds, an async one a thread-pool hop per task.
   */
  abandon(path: string): Promise<void> {
    this.#reserved.delete(path);
    try {
      for (const name of [path, temporaryPath(path)]) {
        try {
          Deno.removeSync(name);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes this tier's link of `key`; peers' links of the file stay. */
  async delete(key: string): Promise<void> {
    await this.#files.delete(key);
  }

  /**
   * Re-reads the link count of every file now and returns the new `bytes`.
   * Waits for a refresh already running, then runs its own.
   */
  async refresh(): Promise<number> {
    while (this.#refreshing !== null) await this.#refreshing.catch(() => {});
    const run = this.#restat();
    this.#refreshing = run;
    try {
      return await run;
    } finally {
      this.#refreshing = null;
    }
  }

  /**
   * Removes every file of the tier (this tier's links only), temporary
   * ones included, and the directory itself if the tier created it.
   */
  async clear(): Promise<void> {
    await this.#files.clear();
    await this.#refreshing?.catch(() => {});
    this.#files.recount();
    await this.#dir.clear();
  }

  async #restat(): Promise<number> {
    const files = [...this.#files.files()];
    const BATCH = 64;
    for (let i = 0; i < files.length; i += BATCH) {
      await Promise.all(
        files.slice(i, i + BATCH).map(async (file) => {
          try {
            const info = await Deno.stat(file.path);
            file.links = Math.max(1, info.nlink ?? 1);
          } catch {
            // Gone (deleted meanwhile) or unreadable: keep the last count.
          }
        }),
      );
    }
    const share = this.#files.recount();
    this.#checkedAt = performance.now();
    return share;
  }
}

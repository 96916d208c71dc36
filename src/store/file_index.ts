/**
 * The key → file index of a spill tier that keeps one file per key
 * (`DiskTier`, `SharedTier`), with its byte count.
 *
 * @module
 */
import { removeQuietly } from "./spill_files.ts";

/**
 * One indexed file: where it is and its size.
 *
 * @example
 * ```ts
 * import type { IndexedFile } from "./file_index.ts";
 * const file: IndexedFile = { path: "/tmp/spill/1-x.spw", bytes: 4096 };
 * ```
 */
export interface IndexedFile {
  /** The file's path. */
  path: string;
  /** The file's size in bytes. */
  bytes: number;
}

/**
 * Which file holds each key, and the sum of the files' weights.
 *
 * A file weighs what `weigh` says when it is indexed and when it is
 * forgotten (`DiskTier`: its size; `SharedTier`: its size divided by its
 * hard links, which {@linkcode FileIndex.recount} re-sums once they have
 * changed). Indexing a key that already has a file, and deleting a key,
 * take the old file out of the index and the total at once, then unlink
 * it. `has`, `size`, `pathOf` and `keys` answer from memory.
 *
 * @example
 * ```ts
 * import { FileIndex } from "./file_index.ts";
 * const index = new FileIndex((file) => file.bytes);
 * await index.set("x", { path: "/tmp/no-such-file.spw", bytes: 10 });
 * index.total; // 10
 * await index.delete("x"); // unlinks the file, quietly if it is gone
 * index.total; // 0
 * ```
 */
export class FileIndex<F extends IndexedFile> {
  readonly #files = new Map<string, F>();
  readonly #weigh: (file: F) => number;
  #total = 0;

  /** An empty index whose files weigh `weigh(file)`. */
  constructor(weigh: (file: F) => number) {
    this.#weigh = weigh;
  }

  /** How many keys have a file. */
  get count(): number {
    return this.#files.size;
  }

  /** The sum of the weights of the files indexed. */
  get total(): number {
    return this.#total;
  }

  /** Whether `key` has a file. */
  has(key: string): boolean {
    return this.#files.has(key);
  }

  /** The file of `key`, or undefined. */
  get(key: string): F | undefined {
    return this.#files.get(key);
  }

  /** The size of `key`'s file, 0 when absent. */
  size(key: string): number {
    return this.#files.get(key)?.bytes ?? 0;
  }

  /** The path of `key`'s file, or undefined. */
  pathOf(key: string): string | undefined {
    return this.#files.get(key)?.path;
  }

  /** The keys that have a file. */
  keys(): IterableIterator<string> {
    return this.#files.keys();
  }

  /** The files indexed. */
  files(): IterableIterator<F> {
    return this.#files.values();
  }

  /** Indexes `file` as `key`'s; a file it replaces is then unlinked. */
  async set(key: string, file: F): Promise<void> {
    const previous = this.#files.get(key);
    this.#files.set(key, file);
    this.#total += this.#weigh(file);
    if (previous !== undefined) await this.#forget(previous);
  }

  /** Takes `key` out of the index at once, then unlinks its file. */
  async delete(key: string): Promise<void> {
    const file = this.#files.get(key);
    if (file === undefined) return;
    this.#files.delete(key);
    await this.#forget(file);
  }

  /** Empties the index, then unlinks every file it held. */
  async clear(): Promise<void> {
    const files = [...this.#files.values()];
    this.#files.clear();
    await Promise.all(files.map((file) => this.#forget(file)));
  }

  /** Sums the weights again (after they changed) and returns the total. */
  recount(): number {
    let total = 0;
    for (const file of this.#files.values()) total += this.#weigh(file);
    this.#total = total;
    return total;
  }

  /** Uncounts and unlinks a file already taken out of (or replaced in) the index. */
  async #forget(file: F): Promise<void> {
    this.#total -= this.#weigh(file);
    if (this.#files.size === 0) this.#total = 0; // no float residue
    await removeQuietly(file.path);
  }
}

/**
 * The file work every file-backed tier shares: one directory of immutable
 * spill files, each written under a temporary name and renamed when whole,
 * in bounded I/O calls that run off the JS thread. `DiskTier` and
 * `SharedTier` each keep their own index on top of it.
 *
 * @module
 */
import { join } from "node:path";
import { testStopAt } from "../platform/test_stop.ts";
import {
  decodeFrames,
  encodeFrames,
  FrameDecodeError,
  type Frames,
} from "../serialize/frames.ts";

/**
 * Default largest single `write`/`read` call: 1 MiB (see `DiskTierOptions.ioChunk`).
 *
 * @example
 * ```ts
 * import { DEFAULT_IO_CHUNK, SpillDirectory } from "./spill_files.ts";
 * const dir = new SpillDirectory("/tmp/spill", DEFAULT_IO_CHUNK);
 * ```
 */
export const DEFAULT_IO_CHUNK: number = 1 << 20;

/**
 * Where a spill file is written before it is whole: `<path>.tmp`, renamed
 * to `path` once complete (`SpillDirectory.clear` removes both names).
 *
 * @example
 * ```ts
 * import { temporaryPath } from "./spill_files.ts";
 * temporaryPath("/mnt/spill/w1/7-x.spw"); // "/mnt/spill/w1/7-x.spw.tmp"
 * ```
 */
export function temporaryPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Decodes the bytes of the spill file at `path` (read or mapped): the
 * frames view `bytes`, no copy. Throws a `FrameDecodeError` naming the
 * path when they are not a whole encoding.
 *
 * @example
 * ```ts
 * import { decodeSpillFile } from "./spill_files.ts";
 * const path = "/tmp/spill/1-x.spw";
 * const frames = decodeSpillFile(path, await Deno.readFile(path));
 * ```
 */
export function decodeSpillFile(path: string, bytes: Uint8Array): Frames {
  try {
    return decodeFrames(bytes);
  } catch (error) {
    throw new FrameDecodeError(
      `spill file ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * A directory of spill files named `<sequence>-<key>.spw`. It is created on
 * first use; {@linkcode SpillDirectory.clear} removes the files it may have
 * made and the directory itself if it created it.
 *
 * @example
 * ```ts
 * import { SpillDirectory } from "./spill_files.ts";
 * import { serialize } from "../serialize/serialize.ts";
 * const dir = new SpillDirectory(await Deno.makeTempDir(), 1 << 20);
 * const { path, bytes } = await dir.write("x", serialize([1, 2, 3]));
 * await dir.clear();
 * ```
 */
export class SpillDirectory {
  /** The directory. */
  readonly path: string;
  /** Largest single I/O call, in bytes. */
  readonly ioChunk: number;
  #sequence = 0;
  #ready: Promise<void> | null = null;
  #created = false;

  /** A directory at `path`; nothing is touched until the first write. */
  constructor(path: string, ioChunk: number = DEFAULT_IO_CHUNK) {
    if (!(Number.isInteger(ioChunk) && ioChunk > 0)) {
      throw new RangeError(
        `ioChunk must be a positive integer, got ${ioChunk}`,
      );
    }
    this.path = path;
    this.ioChunk = ioChunk;
  }

  /** A fresh file name for `key` (not created). */
  newPath(key: string): string {
    return join(this.path, `${++this.#sequence}-${fileSafe(key)}.spw`);
  }

  /**
   * Writes `frames` to a new file for `key`: to `<name>.tmp` first, renamed
   * once complete. Rejects with the OS error (ENOSPC, EROFS, EIO, ...) after
   * removing the partial file. Resolves with the file's path and size.
   */
  async write(
    key: string,
    frames: Frames,
  ): Promise<{ path: string; bytes: number }> {
    await this.ensure();
    const path = this.newPath(key);
    const temporary = temporaryPath(path);
    let bytes = 0;
    try {
      using file = await Deno.open(temporary, { write: true, createNew: true });
      for (const chunk of encodeFrames(frames)) {
        bytes += await this.#writeAll(file, chunk);
        testStopAt("spill-write"); // tests only: a file half written
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
    return { path, bytes };
  }

  /** Fills `into` from the start of the file at `path`; rejects if the file is shorter. */
  async readInto(path: string, into: Uint8Array): Promise<void> {
    using file = await Deno.open(path, { read: true });
    await readFully(file, path, into, this.ioChunk);
  }

  /**
   * Opens `path`, then reads its `byteLength` bytes into what `allocate`
   * gives (which may wait, e.g. for reused memory: the file is open by
   * then, so a concurrent unlink cannot take it away).
   */
  async readAllocated(
    path: string,
    byteLength: number,
    allocate: (byteLength: number) => Uint8Array | Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    using file = await Deno.open(path, { read: true });
    const into = await allocate(byteLength);
    await readFully(file, path, into, this.ioChunk);
    return into;
  }

  /** Creates the directory (and its parents) once; later calls share the first. */
  ensure(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await Deno.mkdir(this.path);
        this.#created = true;
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) return;
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await Deno.mkdir(this.path, { recursive: true });
        this.#created = true;
      }
    })().catch((error) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Removes every `.spw` and `.spw.tmp` file of the directory, then the
   * directory if this object created it. Other files stay.
   */
  async clear(): Promise<void> {
    if (this.#ready === null) return;
    await this.#ready.catch(() => {});
    try {
      for await (const entry of Deno.readDir(this.path)) {
        if (entry.name.endsWith(".spw") || entry.name.endsWith(".spw.tmp")) {
          await removeQuietly(join(this.path, entry.name));
        }
      }
      if (this.#created) await Deno.remove(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<number> {
    let offset = 0;
    while (offset < chunk.length) {
      const end = Math.min(chunk.length, offset + this.ioChunk);
      offset += await file.write(chunk.subarray(offset, end));
    }
    return chunk.length;
  }
}

/** Fills `into` from `file`'s current position, in calls of `ioChunk` bytes; rejects if it ends first. */
async function readFully(
  file: Deno.FsFile,
  path: string,
  into: Uint8Array,
  ioChunk: number,
): Promise<void> {
  let offset = 0;
  while (offset < into.length) {
    const end = Math.min(into.length, offset + ioChunk);
    const n = await file.read(into.subarray(offset, end));
    if (n === null) {
      throw new Error(
        `spill file ${path} ended at ${offset} of ${into.length} bytes`,
      );
    }
    offset += n;
  }
}

/**
 * Fills `into` from byte `offset` of the spill file of `key` at `path`
 * (`bytes` long): a slice served to a peer. Rejects with a RangeError for a
 * range outside the file, and if the file ends first.
 *
 * @example
 * ```ts
 * import { readSpillRange } from "./spill_files.ts";
 * const slice = new Uint8Array(4096);
 * await readSpillRange("chunk-0", "/tmp/spill/1-chunk-0.spw", 2 ** 20, 0, slice);
 * ```
 */
export async function readSpillRange(
  key: string,
  path: string,
  bytes: number,
  offset: number,
  into: Uint8Array,
): Promise<void> {
  if (offset < 0 || offset + into.byteLength > bytes) {
    throw new RangeError(
      `bytes ${offset}..${
        offset + into.byteLength
      } are outside the ${bytes}-byte file of ${JSON.stringify(key)}`,
    );
  }
  using file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  await readFully(file, path, into, DEFAULT_IO_CHUNK);
}

/**
 * Writes `frames` to the spill file `path` synchronously, for a thread that
 * may block (an executor writing its own result in the shared-memory mode):
 * to `<path>.tmp` first, renamed once complete, like
 * {@linkcode SpillDirectory.write}. Throws the OS error (ENOSPC, EACCES, ...)
 * after removing the partial file. Returns the file's size.
 *
 * @example
 * ```ts
 * import { writeSpillFileSync } from "./spill_files.ts";
 * import { serialize } from "../serialize/serialize.ts";
 * writeSpillFileSync("/mnt/spill/w1/7-x.spw", serialize(new Float64Array(8)));
 * ```
 */
export function writeSpillFileSync(path: string, frames: Frames): number {
  const temporary = temporaryPath(path);
  let bytes = 0;
  try {
    using file = Deno.openSync(temporary, { write: true, createNew: true });
    for (const chunk of encodeFrames(frames)) {
      for (let offset = 0; offset < chunk.length;) {
        offset += file.writeSync(chunk.subarray(offset));
      }
      bytes += chunk.length;
    }
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // never created, or already gone
    }
    throw error;
  }
  return bytes;
}

/**
 * A readable, file-name-safe rendering of a key (unique names come from a
 * sequence).
 *
 * @example
 * ```ts
 * import { fileSafe } from "./spill_files.ts";
 * fileSafe("key/with odd:chars"); // "key_with_odd_chars"
 * ```
 */
export function fileSafe(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80);
}

/**
 * Removes `path`; a file already gone is fine.
 *
 * @example
 * ```ts
 * import { removeQuietly } from "./spill_files.ts";
 * await removeQuietly("/tmp/no-such-file");
 * ```
 */
export async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Spill files mapped into memory, zero-copy
 * (docs/architecture.md#a-spilled-key-read-back-for-a-task).
 *
 * A file is mapped whole with `mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE)` and
 * wrapped in an ArrayBuffer by `Deno.UnsafePointerView.getArrayBuffer`:
 * pages are the page cache's (the tmpfs pages every worker on the host
 * shares) until written; a write gets this process its own copy of that
 * page and never reaches the file (`PROT_READ` alone would crash the
 * process on a write; `MAP_SHARED` would corrupt what peers map).
 *
 * The mapping is released by a `FinalizationRegistry` callback once the
 * ArrayBuffer is garbage: never earlier, since reading an unmapped range
 * kills the process. Consequences for callers:
 * - Never transfer a mapped ArrayBuffer to another thread: this isolate's
 *   finalizer still unmaps it and the receiver then crashes
 *   (docs/platform.md#transferring-a-mapped-buffer). {@linkcode isMappedBuffer} tells them apart; a Web Worker maps the
 *   file itself instead (this module works there as well).
 * - `Worker.terminate()` runs no finalizers: an executor drops its views and
 *   calls {@linkcode collectMappings} before it is ended.
 *
 * No `MAP_POPULATE`: on a private writable mapping the kernel pre-faults
 * for writing, that is, copies every page. Measured on a 256 MiB tmpfs
 * file: +262 MB of anonymous memory and 138 ms, against 26 ms and no copy
 * for mapping lazily and reading one element per page
 * (bench/unspill_mmap.ts).
 *
 * Counters are per isolate (each Web Worker has its own):
 * {@linkcode mappingStats}.
 *
 * @module
 */
import type { Frames } from "../serialize/frames.ts";
import type { MappingStats } from "../protocol/store_metrics.ts";
import { decodeSpillFile } from "./spill_files.ts";
import {
  close,
  FfiUnavailableError,
  fstat,
  LIBC_FLAGS,
  mmap,
  munmap,
  open,
} from "../platform/libc.ts";

const {
  MAP_PRIVATE,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  PROT_READ,
  PROT_WRITE,
} = LIBC_FLAGS;

interface Held {
  pointer: Deno.PointerObject;
  length: number;
}

const counters: MappingStats = { live: 0, bytes: 0, total: 0 };
const mappedBuffers = new WeakSet<ArrayBufferLike>();
const registry = new FinalizationRegistry<Held>(({ pointer, length }) => {
  try {
    munmap(pointer, length);
    counters.live--;
    counters.bytes -= length;
  } catch (error) {
    // The mapping stays (and stays counted): a leak, not a crash.
    console.error(`[spillway] ${(error as Error).message}`);
  }
});

/**
 * Live mappings and their bytes in this isolate, and how many were made.
 *
 * @example
 * ```ts
 * import { mappingStats } from "./mapping.ts";
 * const { live, bytes } = mappingStats();
 * console.log(`${live} mappings, ${bytes} bytes`);
 * ```
 */
export function mappingStats(): MappingStats {
  return { ...counters };
}

/**
 * Whether `buffer` is a mapping made by this module (in this isolate). Such
 * a buffer must never be transferred to another thread.
 *
 * @example
 * ```ts
 * import { isMappedBuffer } from "./mapping.ts";
 * isMappedBuffer(new ArrayBuffer(8)); // false
 * ```
 */
export function isMappedBuffer(buffer: ArrayBufferLike): boolean {
  return mappedBuffers.has(buffer);
}

function requireUnscopedFfi(path: string): void {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new FfiUnavailableError(
      `cannot map ${path}: mapping a spill file needs unscoped --allow-ffi ` +
        `(Deno refuses UnsafePointerView.getArrayBuffer under --allow-ffi=<path>)`,
    );
  }
}

/**
 * Maps the whole of `path` copy-on-write and returns bytes viewing the
 * mapping (its `.buffer` is the mapped ArrayBuffer). Writes to it never
 * reach the file. An empty file cannot be mapped: it gives an empty,
 * ordinary buffer. Needs unscoped `--allow-ffi`; FFI bypasses Deno's file
 * permissions, so the caller decides which paths may be mapped.
 *
 * @example
 * ```ts
 * import { mapFile } from "./mapping.ts";
 * const bytes = mapFile("/etc/hostname");
 * console.log(new TextDecoder().decode(bytes));
 * ```
 */
export function mapFile(path: string): Uint8Array {
  requireUnscopedFfi(path);
  const fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  let pointer: Deno.PointerObject;
  let length: number;
  try {
    const status = fstat(fd, path);
    if (!status.isFile) {
      throw new TypeError(`cannot map ${path}: not a regular file`);
    }
    length = status.size;
    if (length === 0) return new Uint8Array(0);
    pointer = mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0, path);
  } finally {
    close(fd); // a mapping outlives its fd
  }
  let buffer: ArrayBuffer;
  try {
    buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, length);
  } catch (error) {
    munmap(pointer, length); // nothing views it yet
    throw error;
  }
  registry.register(buffer, { pointer, length });
  mappedBuffers.add(buffer);
  counters.live++;
  counters.bytes += length;
  counters.total++;
  return new Uint8Array(buffer);
}

/**
 * Maps a spill file and decodes it: the header and every buffer of the
 * returned frames view the mapping, so `deserialize()` of them gives typed
 * arrays over the file's pages with no copy. Throws a `FrameDecodeError`
 * naming the path when the file is not a whole encoding.
 *
 * @example
 * ```ts
 * import { mapFrames } from "./mapping.ts";
 * import { deserialize } from "../serialize/serialize.ts";
 * const value = deserialize(mapFrames("/dev/shm/spill/1-x.spw"));
 * ```
 */
export function mapFrames(path: string): Frames {
  return decodeSpillFile(path, mapFile(path));
}

/**
 * Lets this isolate release the mappings nothing reaches any more: runs a
 * full GC when `globalThis.gc` exists (`--v8-flags=--expose-gc`), then
 * yields to the event loop, where finalizers run, up to `maxTurns` times
 * while mappings remain. Mappings still reachable stay. A Web Worker calls
 * this after dropping its views and before it is terminated, since
 * `terminate()` runs no finalizers.
 *
 * @example
 * ```ts
 * import { collectMappings } from "./mapping.ts";
 * const { live } = await collectMappings();
 * console.log(`${live} mappings still reachable`);
 * ```
 */
export async function collectMappings(maxTurns = 10): Promise<MappingStats> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let turn = 0; turn < maxTurns && counters.live > 0; turn++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return mappingStats();
}

/**
 * The byte layout of a serialized value, shared by the wire and the disk.
 *
 * ```text
 * offset  size        field
 * 0       4           magic "SPWF"
 * 4       2           version (u16 LE) = 1
 * 6       2           flags (u16 LE) = 0
 * 8       4           headerLength (u32 LE)
 * 12      4           bufferCount (u32 LE)
 * 16      8 × count   buffer lengths (u64 LE each, at most Number.MAX_SAFE_INTEGER)
 * ...     headerLength header bytes (msgpack)
 * then, for each buffer i: zero padding up to the next multiple of 64
 *         (FRAME_ALIGNMENT) from the start, then the buffer's bytes.
 * ```
 *
 * The total length is the end of the last buffer (or the end of the header when there are no
 * buffers); nothing may follow. Because every buffer starts 64-byte aligned relative to the start
 * of the encoding, a `Float64Array` (or any other typed array) can view the received bytes, or an
 * mmap of a spill file, without a copy.
 *
 * @module
 */
import {
  alignFrameOffset as alignUp,
  FRAME_ALIGNMENT,
  FRAME_MAGIC,
  FRAME_PRELUDE_BYTES as FIXED_PRELUDE,
  FRAME_VERSION as VERSION,
  readBufferLength,
  writeBufferLength,
} from "./layout.ts";

/**
 * A serialized value: a msgpack header describing structure, and out-of-band binary buffers.
 *
 * @example
 * ```ts
 * import type { Frames } from "./frames.ts";
 * const frames: Frames = { header: new Uint8Array([0x90]), buffers: [] };
 * ```
 */
export interface Frames {
  /** msgpack-encoded description of the value's structure (no binary payloads). */
  header: Uint8Array;
  /** Out-of-band binary payloads, referenced from the header by index. */
  buffers: Uint8Array[];
}

/**
 * Thrown when bytes or frames are not a valid Spillway encoding (bad magic, wrong version,
 * truncated, trailing bytes, inconsistent lengths, malformed header, ...).
 *
 * @example
 * ```ts
 * import { decodeFrames, FrameDecodeError } from "./frames.ts";
 * try {
 *   decodeFrames(new Uint8Array([1, 2, 3]));
 * } catch (e) {
 *   console.log(e instanceof FrameDecodeError); // true
 * }
 * ```
 */
export class FrameDecodeError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong with the input
   * @param options standard error options (`cause`)
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameDecodeError";
  }
}

export { FRAME_ALIGNMENT } from "./layout.ts";

const U32_MAX = 0xffff_ffff;

/** One shared run of zeros; padding chunks are subarrays of it (never written to). */
const ZEROS = new Uint8Array(FRAME_ALIGNMENT);

function checkFrames(frames: Frames): void {
  if (!(frames.header instanceof Uint8Array)) {
    throw new TypeError("frames.header must be a Uint8Array");
  }
  if (!Array.isArray(frames.buffers)) {
    throw new TypeError("frames.buffers must be an array of Uint8Array");
  }
  if (frames.header.byteLength > U32_MAX) {
    throw new RangeError(
      `header of ${frames.header.byteLength} bytes exceeds the u32 limit`,
    );
  }
  if (frames.buffers.length > U32_MAX) {
    throw new RangeError(
      `${frames.buffers.length} buffers exceed the u32 limit`,
    );
  }
  for (let i = 0; i < frames.buffers.length; i++) {
    if (!(frames.buffers[i] instanceof Uint8Array)) {
      throw new TypeError(`frames.buffers[${i}] must be a Uint8Array`);
    }
  }
}

/**
 * Total number of bytes that {@link encodeFrames} produces for `frames` (the sum of its chunk
 * lengths): the size of the wire message or of the spill file.
 *
 * @param frames the frames to measure
 * @returns the encoded byte length
 * @example
 * ```ts
 * import { framesByteLength } from "./frames.ts";
 * const n = framesByteLength({ header: new Uint8Array(3), buffers: [new Uint8Array(8)] });
 * console.log(n); // 64 + 8 = 72
 * ```
 */
export function framesByteLength(frames: Frames): number {
  checkFrames(frames);
  let end = FIXED_PRELUDE + 8 * frames.buffers.length +
    frames.header.byteLength;
  for (const b of frames.buffers) end = alignUp(end) + b.byteLength;
  return end;
}

/**
 * Encodes frames into chunks to be written in order (writev-style), without copying payloads.
 *
 * The first chunk holds the prelude, the header and the padding before the first buffer. It is
 * followed by each buffer (the caller's own `Uint8Array`, not a copy), with padding chunks in
 * between (subarrays of one shared, read-only-by-convention zero buffer). Empty padding chunks
 * and empty buffers are omitted. The concatenation of the chunks is the encoding; its length
 * is {@link framesByteLength}. The chunks stay valid only as long as the caller leaves the
 * buffers unchanged.
 *
 * @param frames the frames to encode
 * @returns the chunks, first one freshly allocated, the rest views of `frames.buffers`
 * @example
 * ```ts
 * import { decodeFrames, encodeFrames } from "./frames.ts";
 * const chunks = encodeFrames({ header: new Uint8Array([0x90]), buffers: [new Uint8Array([1, 2])] });
 * const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
 * let at = 0;
 * for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
 * console.log(decodeFrames(bytes).buffers[0]); // Uint8Array(2) [1, 2]
 * ```
 */
export function encodeFrames(frames: Frames): Uint8Array[] {
  checkFrames(frames);
  const { header, buffers } = frames;
  const count = buffers.length;
  const headerEnd = FIXED_PRELUDE + 8 * count + header.byteLength;
  const firstLen = count > 0 ? alignUp(headerEnd) : headerEnd;
  const first = new Uint8Array(firstLen);
  const view = new DataView(first.buffer);
  first.set(FRAME_MAGIC);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, header.byteLength, true);
  view.setUint32(12, count, true);
  for (let i = 0; i < count; i++) {
    writeBufferLength(view, i, buffers[i].byteLength);
  }
  first.set(header, FIXED_PRELUDE + 8 * count);
  const chunks: Uint8Array[] = [first];
  let end = firstLen;
  for (let i = 0; i < count; i++) {
    const pad = alignUp(end) - end;
    if (pad > 0) chunks.push(ZEROS.subarray(0, pad));
    end += pad;
    const b = buffers[i];
    if (b.byteLength > 0) chunks.push(b);
    end += b.byteLength;
  }
  return chunks;
}

/**
 * Decodes and validates an encoding produced by {@link encodeFrames} (concatenated).
 *
 * Everything is checked: magic, version, flags, that the buffer-length table fits before it is
 * read, that no length exceeds `Number.MAX_SAFE_INTEGER`, that padding is zero, and that the
 * declared sizes add up to exactly `bytes.byteLength` (truncated input or trailing bytes are
 * errors). No view outside `bytes` is ever created and no allocation depends on an unverified
 * count.
 *
 * The returned header and buffers are zero-copy subarrays of `bytes`: they alias it, so later
 * writes to `bytes` show through.
 *
 * @param bytes one complete encoding
 * @returns frames viewing `bytes`
 * @throws {FrameDecodeError} if `bytes` is not a valid encoding
 * @example
 * ```ts
 * import { decodeFrames, encodeFrames } from "./frames.ts";
 * const [bytes] = encodeFrames({ header: new Uint8Array([0xc0]), buffers: [] });
 * console.log(decodeFrames(bytes).header); // Uint8Array(1) [192]
 * ```
 */
export function decodeFrames(bytes: Uint8Array): Frames {
  if (!(bytes instanceof Uint8Array)) {
    throw new FrameDecodeError("input is not a Uint8Array");
  }
  const total = bytes.byteLength;
  if (total < FIXED_PRELUDE) {
    throw new FrameDecodeError(
      `truncated: ${total} bytes is shorter than the ${FIXED_PRELUDE}-byte prelude`,
    );
  }
  if (FRAME_MAGIC.some((byte, i) => bytes[i] !== byte)) {
    throw new FrameDecodeError('bad magic: not a Spillway "SPWF" encoding');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, total);
  const version = view.getUint16(4, true);
  if (version !== VERSION) {
    throw new FrameDecodeError(
      `unsupported version ${version} (expected ${VERSION})`,
    );
  }
  const flags = view.getUint16(6, true);
  if (flags !== 0) {
    throw new FrameDecodeError(`unsupported flags 0x${flags.toString(16)}`);
  }
  const headerLength = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  // count ≤ 2^32-1, so 8 * count is exact; check the table fits before touching it.
  if (count * 8 > total - FIXED_PRELUDE) {
    throw new FrameDecodeError(
      `truncated: buffer table of ${count} entries does not fit in ${total} bytes`,
    );
  }
  const headerStart = FIXED_PRELUDE + 8 * count;
  if (headerLength > total - headerStart) {
    throw new FrameDecodeError(
      `truncated: header of ${headerLength} bytes does not fit in ${total} bytes`,
    );
  }
  const header = bytes.subarray(headerStart, headerStart + headerLength);
  let end = headerStart + headerLength;
  // Every entry occupies 8 verified bytes of input, so this allocation is bounded by the input.
  const buffers: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const len = readBufferLength(view, i);
    if (len < 0) {
      throw new FrameDecodeError(
        `buffer ${i}: length exceeds Number.MAX_SAFE_INTEGER`,
      );
    }
    const start = alignUp(end);
    if (start > total || len > total - start) {
      throw new FrameDecodeError(
        `truncated: buffer ${i} (${len} bytes at offset ${start}) extends past the end of ${total} bytes`,
      );
    }
    for (let j = end; j < start; j++) {
      if (bytes[j] !== 0) {
        throw new FrameDecodeError(
          `non-zero padding byte at offset ${j} before buffer ${i}`,
        );
      }
    }
    buffers[i] = bytes.subarray(start, start + len);
    end = start + len;
  }
  if (end !== total) {
    throw new FrameDecodeError(
      `${
        total - end
      } trailing byte(s) after the end of the encoding at offset ${end}`,
    );
  }
  return { header, buffers };
}

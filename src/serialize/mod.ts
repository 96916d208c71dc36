/**
 * Spillway serialization: values ⇄ {@link Frames} ⇄ bytes.
 *
 * A value (JSON-like data plus undefined, BigInt, Date, Map, Set, ArrayBuffer, DataView and
 * every TypedArray, nested to any depth) is split by {@link serialize} into a small msgpack
 * header describing its structure and out-of-band binary buffers that are views of the
 * caller's memory, never copies. {@link encodeFrames} lays the frames out as one byte string,
 * the same on the wire and on disk, with every buffer 64-byte aligned
 * ({@link FRAME_ALIGNMENT}); {@link decodeFrames} validates such bytes and returns zero-copy
 * views, and {@link deserialize} rebuilds the value with typed arrays that view those bytes
 * (an mmap of a spill file, or a received message) without copying.
 *
 * Values of a user's own classes travel through a codec ({@link registerCodec}: a stable
 * name, `encode` and `decode`), written into the frames by name.
 *
 * Errors: {@link SerializationError} (with a `.path` such as `value.items[3].fn`) for values
 * that cannot be serialized; {@link FrameDecodeError} for any malformed input to the decoders,
 * and its subclass {@link UnknownCodecError} for frames naming a codec not registered here.
 *
 * @example
 * ```ts
 * import { decodeFrames, deserialize, encodeFrames, serialize } from "./mod.ts";
 *
 * const chunks = encodeFrames(serialize({ a: new Float64Array([1, 2, 3]) }));
 * const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
 * let at = 0;
 * for (const c of chunks) {
 *   bytes.set(c, at);
 *   at += c.byteLength;
 * }
 * const value = deserialize(decodeFrames(bytes)) as { a: Float64Array };
 * console.log(value.a.buffer === bytes.buffer); // true: zero-copy
 * ```
 *
 * @module
 */

export {
  decodeFrames,
  encodeFrames,
  FRAME_ALIGNMENT,
  FrameDecodeError,
  type Frames,
  framesByteLength,
} from "./frames.ts";
export {
  deserialize,
  type DeserializeOptions,
  SerializationError,
  serialize,
} from "./serialize.ts";
export {
  type CodecOptions,
  CodecValue,
  registerCodec,
  UnknownCodecError,
} from "./codecs.ts";

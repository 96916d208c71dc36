/**
 * The facts of the frame layout that more than one reader needs: the
 * magic, the version, the prelude size, the alignment, and how a buffer
 * length is stored. `frames.ts` decodes whole encodings with them; the
 * network reader (`src/comm/message_reader.ts`) checks a message's prelude
 * and sizes with them before the rest has arrived.
 *
 * @module
 */

/** The first four bytes of every encoding: "SPWF". */
export const FRAME_MAGIC: readonly number[] = [0x53, 0x50, 0x57, 0x46];

/** The layout version this code reads and writes. */
export const FRAME_VERSION = 1;

/** Bytes of the fixed prelude: magic, version, flags, header length, buffer count. */
export const FRAME_PRELUDE_BYTES = 16;

/** Alignment, in bytes from the start of an encoding, of every out-of-band buffer. */
export const FRAME_ALIGNMENT = 64;

const TWO_32 = 0x1_0000_0000;
/** High 32 bits of Number.MAX_SAFE_INTEGER (2^53 - 1). */
const MAX_SAFE_HIGH = 0x1f_ffff;

/**
 * `offset` rounded up to the next multiple of {@linkcode FRAME_ALIGNMENT}.
 *
 * @example
 * ```ts
 * import { alignFrameOffset } from "./layout.ts";
 * alignFrameOffset(65); // 128
 * ```
 */
export function alignFrameOffset(offset: number): number {
  const r = offset % FRAME_ALIGNMENT;
  return r === 0 ? offset : offset + (FRAME_ALIGNMENT - r);
}

/**
 * The length of buffer `index` from the length table of an encoding whose
 * prelude starts at byte 0 of `view`, or -1 when it is larger than
 * Number.MAX_SAFE_INTEGER (each caller throws its own error type).
 *
 * @example
 * ```ts
 * import { readBufferLength } from "./layout.ts";
 * const view = new DataView(new ArrayBuffer(24));
 * view.setUint32(16, 1000, true);
 * readBufferLength(view, 0); // 1000
 * ```
 */
export function readBufferLength(view: DataView, index: number): number {
  const lo = view.getUint32(FRAME_PRELUDE_BYTES + 8 * index, true);
  const hi = view.getUint32(FRAME_PRELUDE_BYTES + 8 * index + 4, true);
  return hi > MAX_SAFE_HIGH ? -1 : hi * TWO_32 + lo;
}

/**
 * Writes `length` as buffer `index`'s entry of the length table.
 *
 * @example
 * ```ts
 * import { readBufferLength, writeBufferLength } from "./layout.ts";
 * const view = new DataView(new ArrayBuffer(24));
 * writeBufferLength(view, 0, 2 ** 40);
 * readBufferLength(view, 0); // 1099511627776
 * ```
 */
export function writeBufferLength(
  view: DataView,
  index: number,
  length: number,
): void {
  view.setUint32(FRAME_PRELUDE_BYTES + 8 * index, length % TWO_32, true);
  view.setUint32(
    FRAME_PRELUDE_BYTES + 8 * index + 4,
    Math.floor(length / TWO_32),
    true,
  );
}

/**
 * A typed array's constructor, as the layout's view kinds name them.
 *
 * @example
 * ```ts
 * import type { ViewCtor } from "./layout.ts";
 * const f64: ViewCtor = Float64Array;
 * ```
 */
export interface ViewCtor {
  /** Bytes per element. */
  readonly BYTES_PER_ELEMENT: number;
  /** A view of `length` elements of `buffer` from `byteOffset`. */
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): unknown;
  /** A view of all of `buffer`. */
  new (buffer: ArrayBufferLike): unknown;
  /** Its prototype (the kind is the exact prototype). */
  readonly prototype: object;
}

const float16: ViewCtor | undefined =
  (globalThis as { Float16Array?: ViewCtor }).Float16Array;

/**
 * View kind code → typed-array constructor (11 is DataView, handled apart;
 * 12 is Float16Array where the runtime has it). The codes are part of the
 * format: never renumber.
 *
 * @example
 * ```ts
 * import { KIND_CTORS } from "./layout.ts";
 * KIND_CTORS[8] === Float64Array; // true
 * ```
 */
export const KIND_CTORS: readonly (ViewCtor | undefined)[] = [
  Int8Array, // 0
  Uint8Array, // 1
  Uint8ClampedArray, // 2
  Int16Array, // 3
  Uint16Array, // 4
  Int32Array, // 5
  Uint32Array, // 6
  Float32Array, // 7
  Float64Array, // 8
  BigInt64Array, // 9
  BigUint64Array, // 10
  undefined, // 11: DataView, handled apart
  float16, // 12: Float16Array where the runtime has it
];

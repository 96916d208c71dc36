/** Test helpers for the serialization tests (not a test file itself). */

import fc from "fast-check";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  type Frames,
  serialize,
} from "../../src/serialize/mod.ts";

/** Concatenates chunks into one fresh Uint8Array (its byteOffset is 0). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** serialize → encodeFrames → concat: the bytes of a value. */
export function toBytes(value: unknown): Uint8Array {
  return concat(encodeFrames(serialize(value)));
}

/** decodeFrames → deserialize. */
export function fromBytes(bytes: Uint8Array): unknown {
  return deserialize(decodeFrames(bytes));
}

/** The full trip through bytes. */
export function roundTrip(value: unknown): unknown {
  return fromBytes(toBytes(value));
}

/** The trip through frames only (no byte encoding). */
export function roundTripFrames(value: unknown): unknown {
  const f: Frames = serialize(value);
  return deserialize(f);
}

function bytesOf(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  return v instanceof ArrayBuffer
    ? new Uint8Array(v)
    : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Structural equality as the serializer defines it: Object.is for primitives (so -0 ≠ 0 and
 * NaN = NaN), same exact prototype for objects (typed array kinds, null-prototype objects),
 * byte equality for binary data, insertion-ordered Map/Set/object keys, and an array hole
 * equal to undefined. Returns a description of the first difference, or null when equal.
 */
export function difference(
  a: unknown,
  b: unknown,
  path = "value",
): string | null {
  if (
    typeof a !== "object" || a === null || typeof b !== "object" || b === null
  ) {
    return Object.is(a, b) ? null : `${path}: ${String(a)} !== ${String(b)}`;
  }
  const pa = Object.getPrototypeOf(a);
  if (pa !== Object.getPrototypeOf(b)) return `${path}: prototypes differ`;
  if (a instanceof Date) {
    return Object.is(a.getTime(), (b as Date).getTime())
      ? null
      : `${path}: dates differ`;
  }
  if (a instanceof ArrayBuffer || ArrayBuffer.isView(a)) {
    return bytesEqual(bytesOf(a), bytesOf(b as ArrayBuffer))
      ? null
      : `${path}: bytes differ`;
  }
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) {
      return `${path}: lengths ${a.length} !== ${bb.length}`;
    }
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], bb[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a instanceof Map) {
    const ea = [...a], eb = [...(b as Map<unknown, unknown>)];
    if (ea.length !== eb.length) return `${path}: Map sizes differ`;
    for (let i = 0; i < ea.length; i++) {
      const d = difference(ea[i][0], eb[i][0], `${path}<key ${i}>`) ??
        difference(ea[i][1], eb[i][1], `${path}<value ${i}>`);
      if (d) return d;
    }
    return null;
  }
  if (a instanceof Set) {
    const ea = [...a], eb = [...(b as Set<unknown>)];
    if (ea.length !== eb.length) return `${path}: Set sizes differ`;
    for (let i = 0; i < ea.length; i++) {
      const d = difference(ea[i], eb[i], `${path}<item ${i}>`);
      if (d) return d;
    }
    return null;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.join("\u0000") !== kb.join("\u0000") || ka.length !== kb.length) {
    return `${path}: keys [${ka}] !== [${kb}]`;
  }
  for (const k of ka) {
    const da = Object.getOwnPropertyDescriptor(a, k)!;
    const db = Object.getOwnPropertyDescriptor(b, k)!;
    const d = difference(da.value, db.value, `${path}[${JSON.stringify(k)}]`);
    if (d) return d;
  }
  return null;
}

/** Builds an object with own properties only (so "__proto__" is an own key, never the prototype). */
export function objectFrom(
  entries: readonly (readonly [string, unknown])[],
  nullProto = false,
): Record<string, unknown> {
  const o: Record<string, unknown> = nullProto ? Object.create(null) : {};
  for (const [k, v] of entries) {
    Object.defineProperty(o, k, {
      value: v,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return o;
}

// -------------------------------------------------------------------------------------------
// Arbitraries

const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  // any code point (astral too); built by hand: fc.string({ unit: "binary" }) costs ~1 s to set up
  fc.string({
    unit: fc.integer({ min: 0, max: 0x10ffff - 0x800 })
      .map((c) => String.fromCodePoint(c < 0xd800 ? c : c + 0x800)),
    maxLength: 8,
  }),
  // any UTF-16 code unit, so lone surrogates appear
  fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) =>
      String.fromCharCode(c)
    ),
    maxLength: 8,
  }),
);

const key: fc.Arbitrary<string> = fc.oneof(
  anyString,
  fc.constantFrom("__proto__", "constructor", "toString", "0", "1", "a b", ""),
);

/** A byte buffer placed at an arbitrary offset inside a larger ArrayBuffer. */
function placed(
  bpe: number,
): fc.Arbitrary<{ buffer: ArrayBuffer; offset: number; n: number }> {
  return fc.record({
    bytes: fc.uint8Array({ maxLength: 48 }),
    pre: fc.nat(3),
    post: fc.nat(3),
  }).map(({ bytes, pre, post }) => {
    const n = Math.floor(bytes.byteLength / bpe);
    const buffer = new ArrayBuffer((pre + n + post) * bpe);
    new Uint8Array(buffer, pre * bpe, n * bpe).set(bytes.subarray(0, n * bpe));
    return { buffer, offset: pre * bpe, n };
  });
}

type ViewCtor = new (
  b: ArrayBufferLike,
  o: number,
  n: number,
) => ArrayBufferView;
const float16 = (globalThis as { Float16Array?: ViewCtor }).Float16Array;
const VIEW_CTORS: ViewCtor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  ...(float16 ? [float16] : []),
];

const binary: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...VIEW_CTORS).chain((C) =>
    placed((C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT)
      .map(({ buffer, offset, n }) => new C(buffer, offset, n))
  ),
  placed(1).map(({ buffer, offset, n }) => new DataView(buffer, offset, n)),
  fc.uint8Array({ maxLength: 32 }).map((u) => u.slice().buffer),
  fc.float64Array({ maxLength: 8 }),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.double(), // includes -0, NaN, ±Infinity
  fc.integer(),
  fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 60)),
  anyString,
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.date({ noInvalidDate: false }),
  binary,
);

/** Any serializable value, nested. */
export const anyValue: fc.Arbitrary<unknown> = fc.letrec<{
  value: unknown;
  node: unknown;
}>((tie) => ({
  value: fc.oneof(
    { depthSize: "medium", withCrossShrink: true },
    leaf,
    tie("node"),
  ),
  node: fc.oneof(
    fc.array(tie("value"), { maxLength: 5 }),
    fc.sparseArray(tie("value"), { maxLength: 6 }),
    fc.array(fc.tuple(key, tie("value")), { maxLength: 5 }).map((e) =>
      objectFrom(e)
    ),
    fc.array(fc.tuple(key, tie("value")), { maxLength: 3 }).map((e) =>
      objectFrom(e, true)
    ),
    fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 4 }).map((e) =>
      new Map(e)
    ),
    fc.array(tie("value"), { maxLength: 4 }).map((e) => new Set(e)),
  ),
})).value;

/**
 * Turning values into {@link Frames} and back.
 *
 * ## Header format
 *
 * The header is ONE msgpack array of flat tokens in prefix (pre-order) order. It is flat on
 * purpose: msgpack's own encoder recurses and stops at depth 100, while a value may be nested
 * 100,000 levels deep. Both the walk in {@link serialize} and the decoder in {@link deserialize}
 * are iterative, with an explicit stack.
 *
 * Tokens: `null`, booleans, strings and numbers are themselves. Structure is marked by tag tokens,
 * msgpack ext values with an empty payload whose ext type is the tag (3 bytes each), so that they
 * can never be confused with data. A tag is followed by its operands and children:
 *
 * | tag | operands and children |
 * |---|---|
 * | `UNDEFINED` | – |
 * | `NEG_ZERO` | – (msgpack writes `-0` as the integer 0) |
 * | `BIGINT` | string: hexadecimal, `-` sign, no leading zeros |
 * | `DATE` | number: `getTime()` (NaN for an invalid Date) |
 * | `ARRAY` | count n, then n nodes |
 * | `OBJECT` / `NULL_OBJECT` | count n, then n × (key, node); a key is a string node |
 * | `MAP` | count n, then n × (key node, value node) |
 * | `SET` | count n, then n nodes |
 * | `ARRAYBUFFER` | buffer index |
 * | `TYPED` | kind code, buffer index (DataView is a kind) |
 * | `WTF16` | msgpack bin: UTF-16LE code units of a string that is not well-formed |
 * | `CODEC` | string: the codec's name (`registerCodec`), then one node: what its `encode` returned |
 *
 * Exactly one top-level node; no trailing tokens. Binary payloads never enter the header: they
 * are out-of-band buffers, referenced by index.
 *
 * Differences from the first proposal, and why:
 * - BigInt is written in hexadecimal, not decimal: converting a huge BigInt to and from base 16
 *   is linear time, base 10 is not; the text stays short and exact.
 * - `NULL_OBJECT` keeps null-prototype objects null-prototype across a round trip.
 * - `WTF16`: strings with lone surrogates are legal JS strings, but UTF-8 (msgpack str) cannot
 *   carry them (they would come back as U+FFFD). Such strings, rare in practice, are stored as
 *   raw UTF-16 code units so every string round-trips exactly. Well-formed strings (the
 *   normal case) are plain msgpack strings.
 *
 * @module
 */

import { Decoder, Encoder, ExtData, ExtensionCodec } from "./msgpack.ts";
import { FrameDecodeError, type Frames } from "./frames.ts";
import {
  className,
  codecByName,
  codecForPrototype,
  CodecValue,
  decodeWith,
  UnknownCodecError,
  unsupportedClassNote,
} from "./codecs.ts";
import { SerializationError } from "./serialization_error.ts";
import { KIND_CTORS } from "./layout.ts";

export { SerializationError };

// ---------------------------------------------------------------------------------------------
// Tags and kinds

const T_UNDEFINED = 0;
const T_NEG_ZERO = 1;
const T_BIGINT = 2;
const T_DATE = 3;
const T_ARRAY = 4;
const T_OBJECT = 5;
const T_NULL_OBJECT = 6;
const T_MAP = 7;
const T_SET = 8;
const T_ARRAYBUFFER = 9;
const T_TYPED = 10;
const T_WTF16 = 11;
// 12 is unused: readers before codecs existed rejected it as an unknown tag,
// and tests hold them to that.
const T_CODEC = 13;
const TAG_COUNT = 14;

const EMPTY = new Uint8Array(0);
const TAGS: readonly ExtData[] = Array.from(
  { length: TAG_COUNT },
  (_, i) => new ExtData(i, EMPTY),
);
const TAG_UNDEFINED = TAGS[T_UNDEFINED];
const TAG_NEG_ZERO = TAGS[T_NEG_ZERO];

/** Private codec: nobody else can register an extension that changes how our tags decode. */
const CODEC = new ExtensionCodec();
/**
 * One encoder, reused: constructing one per call was 4% of a small-task
 * cluster's CPU. `encode` returns a copy of its buffer, so reuse is safe.
 */
const ENCODER = new Encoder({ extensionCodec: CODEC });

const KIND_DATAVIEW = 11;

const KIND_NAMES: readonly string[] = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "DataView",
  "Float16Array",
];

/** Exact prototype → kind code. Subclasses are class instances and are rejected. */
const KIND_BY_PROTO = new Map<object, number>();
KIND_CTORS.forEach((c, i) => {
  if (c !== undefined) KIND_BY_PROTO.set(c.prototype, i);
});
KIND_BY_PROTO.set(DataView.prototype, KIND_DATAVIEW);

// ---------------------------------------------------------------------------------------------
// serialize

const F_ARRAY = 0;
const F_OBJECT = 1;
const F_MAP = 2;
const F_SET = 3;
const F_CODEC = 4;

/** One container being walked by serialize. */
class WalkFrame {
  kind: number;
  obj: object;
  /** Number of children (entries for a Map) emitted or being emitted. */
  i = 0;
  n: number;
  keys: string[] | null = null;
  iter: Iterator<unknown> | null = null;
  /** Map: the current entry's key and value; `inKey` while the key is being emitted. */
  key: unknown = undefined;
  val: unknown = undefined;
  inKey = false;
  constructor(kind: number, obj: object, n: number) {
    this.kind = kind;
    this.obj = obj;
    this.n = n;
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function keySegment(key: string): string {
  return IDENT.test(key) ? "." + key : "[" + JSON.stringify(key) + "]";
}

function describeMapKey(key: unknown, index: number): string {
  switch (typeof key) {
    case "string":
      return "key " + JSON.stringify(key);
    case "number":
    case "boolean":
    case "undefined":
      return "key " + String(key);
    case "bigint":
      return "key " + String(key) + "n";
    default:
      return key === null ? "key null" : "entry #" + index;
  }
}

/** The path segment of the child that frame `f` is currently emitting. */
function segmentOf(f: WalkFrame): string {
  switch (f.kind) {
    case F_ARRAY:
      return "[" + (f.i - 1) + "]";
    case F_OBJECT:
      return keySegment((f.keys as string[])[f.i - 1]);
    case F_MAP:
      return f.inKey
        ? "<Map key #" + (f.i - 1) + ">"
        : "<Map value for " + describeMapKey(f.key, f.i - 1) + ">";
    case F_CODEC:
      return "<encoded by codec " + JSON.stringify(f.key) + ">";
    default:
      return "<Set item " + (f.i - 1) + ">";
  }
}

function pathOf(stack: readonly WalkFrame[], depth: number): string {
  let p = "value";
  for (let d = 0; d < depth; d++) p += segmentOf(stack[d]);
  return p;
}

function utf16Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

function bigintToHex(b: bigint): string {
  return b < 0n ? "-" + (-b).toString(16) : b.toString(16);
}

function isDetached(b: ArrayBufferLike): boolean {
  return (b as { detached?: boolean }).detached === true;
}

/**
 * Serializes a value into a header (structure) and out-of-band buffers (binary payloads).
 *
 * Supported: `null`, `undefined`, booleans, numbers (including NaN, ±Infinity, -0), strings
 * (including ones with lone surrogates), BigInt, plain objects (also null-prototype ones),
 * arrays (holes become `undefined`; non-index properties are ignored), Map, Set, Date (also
 * invalid ones), ArrayBuffer, DataView and every TypedArray (including Float16Array where the
 * runtime has it), and instances of classes with a codec (`registerCodec`, written as the
 * codec's name and what its `encode` returns; {@link CodecValue}s are written as they are),
 * nested to any depth. Only exact built-in prototypes are accepted: subclasses and other class
 * instances are refused. As with JSON, only own enumerable string-keyed properties are written,
 * getters are invoked, and a value reachable twice (without a cycle) is written twice.
 *
 * Binary payloads are not copied: each buffer is a `Uint8Array` view of the caller's memory, so
 * the frames reflect later writes to it until they are encoded or written out.
 *
 * @param value the value to serialize
 * @returns the frames
 * @throws {SerializationError} for an unsupported or cyclic value; `.path` says where
 * @example
 * ```ts
 * import { deserialize, serialize } from "./serialize.ts";
 * const frames = serialize({ xs: new Float64Array([1, 2]), when: new Date(0) });
 * console.log(frames.buffers.length); // 1
 * console.log(deserialize(frames)); // { xs: Float64Array(2) [1, 2], when: 1970-01-01T00:00:00.000Z }
 * ```
 */
export function serialize(value: unknown): Frames {
  const tokens: unknown[] = [];
  const buffers: Uint8Array[] = [];
  const stack: WalkFrame[] = [];
  const ancestors = new Set<object>();

  const fail = (what: string, suffix = "", note = ""): never => {
    const path = pathOf(stack, stack.length) + suffix;
    throw new SerializationError(
      `cannot serialize ${what} at ${path}${note}`,
      path,
    );
  };

  const pushString = (s: string): void => {
    if (s.isWellFormed()) tokens.push(s);
    else tokens.push(TAGS[T_WTF16], utf16Bytes(s));
  };

  const enter = (kind: number, obj: object, n: number): void => {
    if (n > 0) {
      stack.push(new WalkFrame(kind, obj, n));
      ancestors.add(obj);
    }
  };

  const checkCycle = (obj: object): void => {
    if (!ancestors.has(obj)) return;
    let d = 0;
    while (stack[d].obj !== obj) d++;
    fail("a cyclic reference", "", ` (it refers back to ${pathOf(stack, d)})`);
  };

  const emitObject = (v: object): void => {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      checkCycle(v);
      for (const sym of Object.getOwnPropertySymbols(v)) {
        if (Object.prototype.propertyIsEnumerable.call(v, sym)) {
          fail("a symbol-keyed property", "[" + String(sym) + "]");
        }
      }
      const keys = Object.keys(v);
      tokens.push(TAGS[proto === null ? T_NULL_OBJECT : T_OBJECT], keys.length);
      if (keys.length > 0) {
        enter(F_OBJECT, v, keys.length);
        stack[stack.length - 1].keys = keys;
      }
      return;
    }
    if (proto === Array.prototype && Array.isArray(v)) {
      checkCycle(v);
      const n = v.length;
      tokens.push(TAGS[T_ARRAY], n);
      enter(F_ARRAY, v, n);
      return;
    }
    const kind = KIND_BY_PROTO.get(proto as object);
    if (kind !== undefined) {
      const view = v as ArrayBufferView;
      if (isDetached(view.buffer)) fail("a view of a detached ArrayBuffer");
      tokens.push(TAGS[T_TYPED], kind, buffers.length);
      buffers.push(
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
      );
      return;
    }
    if (proto === Map.prototype) {
      checkCycle(v);
      const m = v as Map<unknown, unknown>;
      tokens.push(TAGS[T_MAP], m.size);
      if (m.size > 0) {
        enter(F_MAP, m, m.size);
        stack[stack.length - 1].iter = m.entries();
      }
      return;
    }
    if (proto === Set.prototype) {
      checkCycle(v);
      const s = v as Set<unknown>;
      tokens.push(TAGS[T_SET], s.size);
      if (s.size > 0) {
        enter(F_SET, s, s.size);
        stack[stack.length - 1].iter = s.values();
      }
      return;
    }
    if (proto === Date.prototype) {
      tokens.push(TAGS[T_DATE], (v as Date).getTime());
      return;
    }
    if (proto === ArrayBuffer.prototype) {
      const ab = v as ArrayBuffer;
      if (isDetached(ab)) fail("a detached ArrayBuffer");
      tokens.push(TAGS[T_ARRAYBUFFER], buffers.length);
      buffers.push(new Uint8Array(ab));
      return;
    }
    if (proto === CodecValue.prototype) {
      const kept = v as CodecValue;
      if (
        typeof kept.codec !== "string" || kept.codec === "" ||
        !kept.codec.isWellFormed()
      ) {
        fail("a CodecValue without a valid codec name");
      }
      openCodec(kept.codec, v, kept.value);
      return;
    }
    const codec = codecForPrototype(proto as object);
    if (codec !== undefined) {
      checkCycle(v);
      let encoded: unknown;
      try {
        encoded = codec.encode(v);
      } catch (error) {
        fail(
          `a ${codec.className} instance`,
          "",
          `: the encode of its codec ${JSON.stringify(codec.name)} threw: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
      openCodec(codec.name, v, encoded);
      return;
    }
    const name = className(v);
    fail(`a ${name} instance`, "", unsupportedClassNote(name));
  };

  /** Opens the CODEC node of `holder`: its codec's name, then `encoded`. */
  const openCodec = (name: string, holder: object, encoded: unknown): void => {
    checkCycle(holder);
    tokens.push(TAGS[T_CODEC], name);
    enter(F_CODEC, holder, 1);
    const f = stack[stack.length - 1];
    f.key = name;
    f.val = encoded;
  };

  const emit = (v: unknown): void => {
    switch (typeof v) {
      case "number":
        if (v === 0 && 1 / v < 0) tokens.push(TAG_NEG_ZERO);
        else tokens.push(v);
        return;
      case "string":
        pushString(v);
        return;
      case "boolean":
        tokens.push(v);
        return;
      case "undefined":
        tokens.push(TAG_UNDEFINED);
        return;
      case "bigint":
        tokens.push(TAGS[T_BIGINT], bigintToHex(v));
        return;
      case "object":
        if (v === null) tokens.push(null);
        else emitObject(v);
        return;
      case "function":
        fail("a function");
        return;
      default:
        fail(`a ${typeof v}`);
    }
  };

  emit(value);
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    switch (f.kind) {
      case F_ARRAY:
        if (f.i >= f.n) break;
        emit((f.obj as unknown[])[f.i++]);
        continue;
      case F_OBJECT: {
        if (f.i >= f.n) break;
        const key = (f.keys as string[])[f.i++];
        pushString(key);
        emit((f.obj as Record<string, unknown>)[key]);
        continue;
      }
      case F_MAP:
        if (f.inKey) {
          f.inKey = false;
          emit(f.val);
          continue;
        }
        if (f.i >= f.n) break;
        {
          const r = (f.iter as Iterator<[unknown, unknown]>).next();
          f.i++;
          if (r.done) fail("a Map that shrank during serialization");
          f.key = (r.value as [unknown, unknown])[0];
          f.val = (r.value as [unknown, unknown])[1];
          f.inKey = true;
          emit(f.key);
        }
        continue;
      case F_CODEC:
        if (f.i >= f.n) break;
        f.i++;
        emit(f.val);
        continue;
      default: {
        if (f.i >= f.n) break;
        const r = (f.iter as Iterator<unknown>).next();
        f.i++;
        if (r.done) fail("a Set that shrank during serialization");
        emit(r.value);
        continue;
      }
    }
    // f is complete
    stack.pop();
    ancestors.delete(f.obj);
  }

  // A fresh encoder per call: a shared one would keep its largest-ever buffer alive.
  const header = ENCODER.encode(tokens);
  return { header, buffers };
}

// ---------------------------------------------------------------------------------------------
// deserialize

const D_ARRAY = 0;
const D_OBJECT = 1;
const D_MAP = 2;
const D_SET = 3;
const D_CODEC = 4;

/** One container being rebuilt by deserialize. */
class BuildFrame {
  kind: number;
  obj:
    | unknown[]
    | Record<string, unknown>
    | Map<unknown, unknown>
    | Set<unknown>;
  /** Children (Map entries) still to come. */
  remaining: number;
  key: unknown = undefined;
  haveKey = false;
  constructor(
    kind: number,
    obj:
      | unknown[]
      | Record<string, unknown>
      | Map<unknown, unknown>
      | Set<unknown>,
    remaining: number,
  ) {
    this.kind = kind;
    this.obj = obj;
    this.remaining = remaining;
  }
}

/** Returned by readNode when it opened a container instead of producing a value. */
const OPENED: unique symbol = Symbol("opened");

const HEX_BIGINT = /^(?:0|-?[1-9a-f][0-9a-f]*)$/;

function fromUtf16Bytes(b: Uint8Array): string {
  if (b.byteLength % 2 !== 0) {
    throw new FrameDecodeError("WTF16 string payload has an odd byte length");
  }
  const n = b.byteLength / 2;
  const CHUNK = 8192;
  const units: number[] = [];
  let s = "";
  for (let i = 0; i < n; i++) {
    units.push(b[2 * i] | (b[2 * i + 1] << 8));
    if (units.length === CHUNK) {
      s += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return s + String.fromCharCode(...units);
}

function setKey(obj: Record<string, unknown>, key: string, v: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, {
      value: v,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    obj[key] = v;
  }
}

/**
 * Options of {@link deserialize}.
 *
 * @example
 * ```ts
 * import type { DeserializeOptions } from "./serialize.ts";
 * const opaque: DeserializeOptions = { codecs: "keep" };
 * ```
 */
export interface DeserializeOptions {
  /**
   * What to do with values of registered classes (`registerCodec`):
   * `"decode"` (the default) calls the codec's `decode`, and a codec name
   * this process does not know is an {@link UnknownCodecError}; `"keep"`
   * returns each as a {@link CodecValue} (its name and encoded value), calls
   * no user code, and needs no codec: for processes that only move values.
   */
  codecs?: "decode" | "keep";
}

/**
 * Rebuilds a value from frames produced by {@link serialize} (or by {@link decodeFrames}).
 *
 * Zero-copy: a typed array in the result views its frame buffer's memory
 * (`new Float64Array(buf.buffer, buf.byteOffset, n)`) when `buf.byteOffset` is a multiple of
 * the element size, which is always the case for buffers from {@link decodeFrames} of an input
 * that starts 8-byte aligned; otherwise the bytes are copied. DataView, Int8Array, Uint8Array
 * and Uint8ClampedArray are always views. An ArrayBuffer is returned zero-copy only when the
 * frame buffer spans its whole underlying ArrayBuffer, else it is a copy. Views alias the input:
 * writes to one show in the other.
 *
 * Frames are validated as they are read; nothing is trusted. Buffers not referenced by the
 * header are ignored, and a buffer referenced twice yields two views of the same memory.
 *
 * @param frames the frames to decode
 * @param options what to do with values of registered classes (default: decode them)
 * @returns the value
 * @throws {UnknownCodecError} (a {@link FrameDecodeError}) when the frames name a codec not
 *   registered here, unless `codecs` is `"keep"`
 * @throws {FrameDecodeError} for any malformed header or frames, or a codec's `decode` that
 *   throws (never another error type)
 * @example
 * ```ts
 * import { deserialize, serialize } from "./serialize.ts";
 * const m = deserialize(serialize(new Map([["k", [1n, -0]]])));
 * console.log(m); // Map(1) { "k" => [ 1n, -0 ] }
 * ```
 */
export function deserialize(
  frames: Frames,
  options: DeserializeOptions = {},
): unknown {
  const keep = options.codecs === "keep";
  if (
    frames === null || typeof frames !== "object" ||
    !(frames.header instanceof Uint8Array) || !Array.isArray(frames.buffers)
  ) {
    throw new FrameDecodeError(
      "frames must be { header: Uint8Array, buffers: Uint8Array[] }",
    );
  }
  const { header, buffers } = frames;
  const limit = header.byteLength;
  let decoded: unknown;
  try {
    decoded = new Decoder({
      extensionCodec: CODEC,
      maxStrLength: limit,
      maxBinLength: limit,
      maxArrayLength: limit,
      maxMapLength: limit,
      maxExtLength: 0, // tags carry no payload
    }).decode(header);
  } catch (e) {
    throw new FrameDecodeError(
      `malformed msgpack header: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  if (!Array.isArray(decoded)) {
    throw new FrameDecodeError("header is not a msgpack array of tokens");
  }
  const t: unknown[] = decoded;
  const end = t.length;
  let p = 0;
  const stack: BuildFrame[] = [];

  const bad = (msg: string): never => {
    throw new FrameDecodeError(`${msg} (header token ${p})`);
  };

  const next = (): unknown => {
    if (p >= end) bad("unexpected end of header");
    return t[p++];
  };

  const readCount = (perChild: number): number => {
    const n = next();
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      return bad("count is not a non-negative integer");
    }
    // every child node takes at least one token
    if (n * perChild > end - p) bad(`count ${n} exceeds the remaining tokens`);
    return n;
  };

  const readBuffer = (): Uint8Array => {
    const i = next();
    if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0) {
      return bad("buffer index is not a non-negative integer");
    }
    if (i >= buffers.length) {
      bad(`buffer index ${i} out of range (${buffers.length} buffers)`);
    }
    const b = buffers[i];
    if (!(b instanceof Uint8Array)) {
      return bad(`frames.buffers[${i}] is not a Uint8Array`);
    }
    return b;
  };

  const readWtf16 = (): string => {
    const b = next();
    if (!(b instanceof Uint8Array)) return bad("WTF16 tag without a bin token");
    return fromUtf16Bytes(b);
  };

  const readTyped = (): unknown => {
    const kind = next();
    if (
      typeof kind !== "number" || !Number.isInteger(kind) || kind < 0 ||
      kind >= KIND_NAMES.length
    ) {
      return bad(`bad typed array kind ${String(kind)}`);
    }
    const b = readBuffer();
    if (kind === KIND_DATAVIEW) {
      return new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    const ctor = KIND_CTORS[kind];
    if (ctor === undefined) {
      return bad(`${KIND_NAMES[kind]} is not supported by this runtime`);
    }
    const size = ctor.BYTES_PER_ELEMENT;
    if (b.byteLength % size !== 0) {
      bad(
        `${
          KIND_NAMES[kind]
        } buffer of ${b.byteLength} bytes is not a multiple of ${size}`,
      );
    }
    if (b.byteOffset % size === 0) {
      return new ctor(b.buffer, b.byteOffset, b.byteLength / size);
    }
    return new ctor(b.slice().buffer); // misaligned: copy
  };

  const open = (
    kind: number,
    obj: BuildFrame["obj"],
    n: number,
  ): typeof OPENED | BuildFrame["obj"] => {
    if (n === 0) return obj;
    stack.push(new BuildFrame(kind, obj, n));
    return OPENED;
  };

  const readNode = (): unknown => {
    const tok = next();
    if (
      tok === null || typeof tok === "boolean" || typeof tok === "number" ||
      typeof tok === "string"
    ) {
      return tok;
    }
    if (!(tok instanceof ExtData)) {
      return bad(
        tok instanceof Uint8Array
          ? "unexpected bin token"
          : "unexpected token type",
      );
    }
    switch (tok.type) {
      case T_UNDEFINED:
        return undefined;
      case T_NEG_ZERO:
        return -0;
      case T_BIGINT: {
        const s = next();
        if (typeof s !== "string" || !HEX_BIGINT.test(s)) {
          return bad("malformed BigInt");
        }
        try {
          return s[0] === "-" ? -BigInt("0x" + s.slice(1)) : BigInt("0x" + s);
        } catch (e) {
          throw new FrameDecodeError(
            `BigInt out of range (header token ${p})`,
            {
              cause: e,
            },
          );
        }
      }
      case T_DATE: {
        const ms = next();
        if (typeof ms !== "number") return bad("Date time is not a number");
        return new Date(ms);
      }
      case T_ARRAY:
        return open(D_ARRAY, [], readCount(1));
      case T_OBJECT:
        return open(D_OBJECT, {}, readCount(2));
      case T_NULL_OBJECT:
        return open(D_OBJECT, Object.create(null), readCount(2));
      case T_MAP:
        return open(D_MAP, new Map(), readCount(2));
      case T_SET:
        return open(D_SET, new Set(), readCount(1));
      case T_ARRAYBUFFER: {
        const b = readBuffer();
        if (
          b.byteOffset === 0 && b.byteLength === b.buffer.byteLength &&
          b.buffer instanceof ArrayBuffer
        ) {
          return b.buffer;
        }
        return b.slice().buffer;
      }
      case T_TYPED:
        return readTyped();
      case T_WTF16:
        return readWtf16();
      case T_CODEC: {
        const name = next();
        if (typeof name !== "string" || name === "") {
          return bad("codec name is not a non-empty string");
        }
        if (!keep && codecByName(name) === undefined) {
          throw new UnknownCodecError(name);
        }
        if (p >= end) bad("unexpected end of header");
        const f = new BuildFrame(D_CODEC, [], 1);
        f.key = name;
        stack.push(f);
        return OPENED;
      }
      default:
        return bad(`unknown tag ${tok.type}`);
    }
  };

  const readKey = (): string => {
    const tok = next();
    if (typeof tok === "string") return tok;
    if (tok instanceof ExtData && tok.type === T_WTF16) return readWtf16();
    return bad("object key is not a string");
  };

  let v = readNode();
  for (;;) {
    // Attach finished values to their parents, closing containers that become complete.
    while (v !== OPENED) {
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (p !== end) bad(`${end - p} trailing token(s) after the value`);
        return v;
      }
      switch (f.kind) {
        case D_ARRAY:
          (f.obj as unknown[]).push(v);
          break;
        case D_OBJECT:
          setKey(f.obj as Record<string, unknown>, f.key as string, v);
          break;
        case D_MAP:
          if (!f.haveKey) {
            f.key = v;
            f.haveKey = true;
            v = OPENED; // need the value next
            continue;
          }
          (f.obj as Map<unknown, unknown>).set(f.key, v);
          f.haveKey = false;
          break;
        case D_CODEC:
          stack.pop();
          v = keep
            ? new CodecValue(f.key as string, v)
            : decodeWith(f.key as string, v);
          continue;
        default:
          (f.obj as Set<unknown>).add(v);
      }
      if (--f.remaining > 0) break;
      stack.pop();
      v = f.obj;
    }
    // Read the next child of the innermost open container.
    const f = stack[stack.length - 1];
    if (f.kind === D_OBJECT) f.key = readKey();
    v = readNode();
  }
}

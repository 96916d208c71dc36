/**
 * An estimate of the bytes a value holds in memory, for the store's
 * eviction decisions.
 *
 * @module
 */

// Per-object overheads, approximating V8 on 64-bit without pointer
// compression (Deno's build). They only need to be right to within a few
// words: what matters for eviction is the payload (strings, buffers, element
// slots), and an estimate that errs a little high evicts a little early.

/** One pointer-sized slot: an element of an array, a property, a number. */
const WORD = 8;
/** Header of a string (map, hash, length). */
const STRING_HEADER = 16;
/** Header of a BigInt; its digits follow as 64-bit words. */
const BIGINT_HEADER = 16;
/** JSArray plus its elements' FixedArray header. */
const ARRAY_HEADER = 48;
/** JSObject (map, properties, elements). */
const OBJECT_HEADER = 24;
/** JSMap / JSSet plus the hash table's header. */
const COLLECTION_HEADER = 56;
/** An entry of a Map's ordered hash table: key, value, chain. */
const MAP_ENTRY = 3 * WORD;
/** An entry of a Set's ordered hash table: value, chain. */
const SET_ENTRY = 2 * WORD;
/** A Date: a JSObject holding a double. */
const DATE_BYTES = 32;
/** A JSTypedArray / JSDataView / JSArrayBuffer object, without the bytes. */
const BUFFER_OBJECT_HEADER = 64;
/** Anything sizeof does not look into: functions, class instances, symbols. */
const OPAQUE_BYTES = 64;

/**
 * Bytes of a value that holds no references. A string counts one byte per
 * UTF-16 unit: V8 stores Latin-1 strings that way, and finding out whether a
 * string needs two bytes per unit would cost a scan of it.
 */
function primitiveBytes(value: unknown): number {
  switch (typeof value) {
    case "string":
      return STRING_HEADER + (value as string).length;
    case "bigint": {
      const magnitude = (value as bigint) < 0n
        ? -(value as bigint)
        : value as bigint;
      // Hex length * 4 is the bit length (to within 3 bits): cheap enough for
      // the sizes BigInts have.
      const bits = magnitude === 0n ? 0 : magnitude.toString(16).length * 4;
      return BIGINT_HEADER + Math.ceil(bits / 64) * WORD;
    }
    case "symbol":
    case "function":
      return OPAQUE_BYTES;
    default: // number, boolean, undefined, and null (typeof "object")
      return WORD;
  }
}

/**
 * The byte ranges of each backing buffer that the value reaches, so that each
 * byte is counted once however many views share it.
 *
 * The decision: a view counts the bytes it *views*, not its whole buffer, and
 * the ranges of all views of one buffer are merged. A 1 KiB `subarray` of a
 * 1 GiB buffer then counts 1 KiB, which is what a user expects and what the
 * value would cost to spill or send; two views of the same bytes (a msgpack
 * decode, `new Uint8Array(f64.buffer)`) count the bytes once. A value that
 * holds an ArrayBuffer itself counts the whole buffer. The cost of the
 * decision: a small view keeps its whole buffer alive, so the process holds
 * more than sizeof says. That shows up as unmanaged memory, which the memory
 * manager watches through the process's RSS.
 */
class BufferRanges {
  /** Flat [start, end, start, end, ...] per buffer. */
  #ranges = new Map<ArrayBufferLike, number[]>();

  add(buffer: ArrayBufferLike, start: number, length: number): void {
    if (length <= 0) return;
    const ranges = this.#ranges.get(buffer);
    if (ranges === undefined) this.#ranges.set(buffer, [start, start + length]);
    else ranges.push(start, start + length);
  }

  /** Bytes covered by the union of the ranges of every buffer. */
  bytes(): number {
    let total = 0;
    for (const ranges of this.#ranges.values()) {
      if (ranges.length === 2) {
        total += ranges[1] - ranges[0];
        continue;
      }
      const pairs: [number, number][] = [];
      for (let i = 0; i < ranges.length; i += 2) {
        pairs.push([ranges[i], ranges[i + 1]]);
      }
      pairs.sort((a, b) => a[0] - b[0]);
      let [start, end] = pairs[0];
      for (let i = 1; i < pairs.length; i++) {
        const [nextStart, nextEnd] = pairs[i];
        if (nextStart > end) {
          total += end - start;
          start = nextStart;
          end = nextEnd;
        } else if (nextEnd > end) {
          end = nextEnd;
        }
      }
      total += end - start;
    }
    return total;
  }
}

/** Objects still to visit; each is pushed once, the first time it is seen. */
interface Walk {
  readonly stack: object[];
  readonly seen: Set<object>;
  readonly buffers: BufferRanges;
  /** Property names already counted: see {@linkcode visit}. */
  readonly keys: Set<string>;
}

/**
 * Bytes of `child` if it is a primitive; otherwise queues it (once) and
 * returns 0, since its bytes are counted when it is visited.
 */
function reach(walk: Walk, child: unknown): number {
  if (
    child === null || (typeof child !== "object" && typeof child !== "function")
  ) {
    return primitiveBytes(child);
  }
  if (!walk.seen.has(child)) {
    walk.seen.add(child);
    walk.stack.push(child);
  }
  return 0;
}

/**
 * Objects whose prototype says so are walked like plain objects: the
 * serializer's `CodecValue` (a user class's value kept encoded on a worker),
 * whose bytes are its encoded value's.
 */
const WALK_AS_PLAIN = Symbol.for("spillway.sizeof.walk");

/** Own bytes of `object`, queueing what it references. */
function visit(walk: Walk, object: object): number {
  if (typeof object === "function") return OPAQUE_BYTES;
  if (Array.isArray(object)) {
    let bytes = ARRAY_HEADER + object.length * WORD;
    for (let i = 0; i < object.length; i++) bytes += reach(walk, object[i]);
    return bytes;
  }
  if (ArrayBuffer.isView(object)) {
    // O(1) whatever the length: the view's bytes go to the range union.
    walk.buffers.add(object.buffer, object.byteOffset, object.byteLength);
    return BUFFER_OBJECT_HEADER;
  }
  const prototype = Object.getPrototypeOf(object);
  if (
    prototype === Object.prototype || prototype === null ||
    (object as Record<symbol, unknown>)[WALK_AS_PLAIN] === true
  ) {
    let bytes = OBJECT_HEADER;
    for (const key of Object.keys(object)) {
      bytes += WORD + reach(walk, (object as Record<string, unknown>)[key]);
      // V8 interns property names: a million records { id, name } share two
      // key strings. So each distinct name counts once per walk, which keeps
      // records from counting their keys a million times while an object
      // used as a dictionary still counts the keys it holds.
      if (!walk.keys.has(key)) {
        walk.keys.add(key);
        bytes += primitiveBytes(key);
      }
    }
    return bytes;
  }
  if (object instanceof Map) {
    let bytes = COLLECTION_HEADER + object.size * MAP_ENTRY;
    for (const [key, value] of object) {
      bytes += reach(walk, key) + reach(walk, value);
    }
    return bytes;
  }
  if (object instanceof Set) {
    let bytes = COLLECTION_HEADER + object.size * SET_ENTRY;
    for (const value of object) bytes += reach(walk, value);
    return bytes;
  }
  if (object instanceof Date) return DATE_BYTES;
  if (
    object instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === "function" &&
      object instanceof SharedArrayBuffer)
  ) {
    walk.buffers.add(object, 0, object.byteLength);
    return BUFFER_OBJECT_HEADER;
  }
  // Class instances, boxed primitives, RegExps, Promises...: not values the
  // store serializes, and their contents are not ours to walk (getters and
  // private state). A fixed overhead keeps sizeof total and cheap.
  return OPAQUE_BYTES;
}

/**
 * Estimates the bytes `value` holds in memory: the payload (string text,
 * typed-array bytes, element slots) plus a small fixed overhead per object.
 *
 * Understood types: `null`, `undefined`, booleans, numbers, strings, BigInts,
 * arrays, plain objects, `Map`, `Set`, `Date`, every TypedArray, `DataView`,
 * `ArrayBuffer` and `SharedArrayBuffer`, nested to any depth (the walk uses an
 * explicit stack, not recursion). An object reached twice (a shared reference
 * or a cycle) is counted once. A typed array or `DataView` counts the bytes it
 * views, and bytes viewed by several views of one buffer count once; an
 * `ArrayBuffer` held directly counts its full length. Sizing a typed array is
 * O(1) whatever its length.
 *
 * Anything else (functions, class instances, symbols) counts a small fixed
 * overhead and is not looked into. `sizeof` never throws: an object whose
 * inspection throws (a revoked Proxy, a throwing getter) counts that overhead.
 *
 * @param value Any value.
 * @returns Estimated bytes, at least 8.
 *
 * @example Sizes of a few values
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { sizeof } from "./sizeof.ts";
 *
 * const samples = new Float64Array(1024);
 * ok(sizeof(samples) >= samples.byteLength);
 * // Shared references are counted once.
 * ok(sizeof([samples, samples]) < 2 * samples.byteLength);
 * ok(sizeof("a".repeat(1000)) >= 1000);
 * ```
 */
export function sizeof(value: unknown): number {
  if (
    value === null || (typeof value !== "object" && typeof value !== "function")
  ) {
    return primitiveBytes(value);
  }
  const walk: Walk = {
    stack: [value],
    seen: new Set([value]),
    buffers: new BufferRanges(),
    keys: new Set(),
  };
  let bytes = 0;
  while (walk.stack.length > 0) {
    const object = walk.stack.pop()!;
    try {
      bytes += visit(walk, object);
    } catch {
      bytes += OPAQUE_BYTES;
    }
  }
  return bytes + walk.buffers.bytes();
}

/**
 * Values of registered classes (`registerCodec`) across the thread boundary
 * between a worker's control thread and its executors.
 *
 * The control thread never runs user code: it keeps such values encoded,
 * as `CodecValue`s (its store and its connections deserialize with
 * `codecs: "keep"`), and writes them back into frames as they came. The
 * executors hold the real instances: they import the task modules, and the
 * `codecs:`/`--codecs` modules, which register the codecs.
 *
 * Structured clone (`postMessage`) turns any class instance into a plain
 * object, so each message that crosses carries, beside the value, the list
 * of the objects in it that are codec values (`codecs`): structured clone
 * keeps identity within one message, so the receiver finds them by identity,
 * whatever their place, and no marker is written into user data.
 *
 * - control → executor: {@linkcode collectCodecValues} lists the arguments'
 *   `CodecValue`s; the executor's {@linkcode reviveCodecValues} replaces each
 *   with its codec's `decode` of it (an unknown codec is an
 *   `UnknownCodecError` naming it).
 * - executor → control: {@linkcode encodeResult} checks a result the way
 *   `serialize` checks an argument (a class instance without a codec is a
 *   `SerializationError` naming the class) and replaces each instance of a
 *   registered class with a `CodecValue` of its encoding;
 *   {@linkcode adoptCodecValues} gives the received copies their class back.
 *
 * @module
 */
import {
  className,
  codecForPrototype,
  CodecValue,
  codecValuesMade,
  decodeWith,
  isNativePrototype,
  noteCodecValues,
  unsupportedClassNote,
} from "../serialize/codecs.ts";
import { SerializationError } from "../serialize/serialization_error.ts";

/** Object kinds structured clone refuses: `lend.ts` reports them in its own words. */
const UNSENDABLE_TAGS = new Set([
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "Promise",
  "FinalizationRegistry",
  "Generator",
  "AsyncGenerator",
]);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function keyPath(path: string, key: string): string {
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function isPlain(proto: unknown): boolean {
  return proto === Object.prototype || proto === null;
}

/** A copy of plain object `v` with the same prototype (null or Object). */
function copyPlain(v: object): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.getPrototypeOf(v) === null
    ? Object.create(null)
    : {};
  for (const key of Object.keys(v)) {
    Object.defineProperty(copy, key, {
      value: (v as Record<string, unknown>)[key],
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return copy;
}

/** The recursive visitor a `leaf` callback gets, to walk what it produces. */
type Visit = (v: unknown, path: string) => unknown;

/**
 * Walks `value` through arrays, plain objects, Maps and Sets, calling
 * `leaf` on every other object (and on those `claims` picks); returns `value` itself when `leaf` changed
 * nothing, else a copy of the containers on the way to what changed (the
 * originals are left alone: they may be a module's state, or the store's).
 */
function mapObjects(
  value: unknown,
  path: string,
  leaf: (v: object, path: string, visit: Visit) => unknown,
  claims?: (v: object) => boolean,
): unknown {
  const memo = new Map<object, unknown>();
  const visit = (v: unknown, at: string): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (memo.has(v)) return memo.get(v);
    if (claims?.(v)) {
      // Given to `leaf` even when it is a container (a marked plain object).
      const out = leaf(v, at, visit);
      memo.set(v, out);
      return out;
    }
    const proto = Object.getPrototypeOf(v);
    if (Array.isArray(v) && proto === Array.prototype) {
      memo.set(v, v); // a cycle back to here sees the original
      let copy: unknown[] | null = null;
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        const y = visit(x, `${at}[${i}]`);
        if (y !== x && copy === null) copy = v.slice();
        if (copy !== null) copy[i] = y;
      }
      if (copy !== null) memo.set(v, copy);
      return copy ?? v;
    }
    if (isPlain(proto)) {
      memo.set(v, v);
      let copy: Record<string, unknown> | null = null;
      for (const key of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[key];
        const y = visit(x, keyPath(at, key));
        if (y !== x && copy === null) copy = copyPlain(v);
        if (copy !== null) {
          Object.defineProperty(copy, key, {
            value: y,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        }
      }
      if (copy !== null) memo.set(v, copy);
      return copy ?? v;
    }
    if (proto === Map.prototype) {
      memo.set(v, v);
      const entries: [unknown, unknown][] = [];
      let changed = false;
      let i = 0;
      for (const [k, x] of v as Map<unknown, unknown>) {
        const k2 = visit(k, `${at}<Map key #${i}>`);
        const x2 = visit(x, `${at}<Map value #${i}>`);
        changed ||= k2 !== k || x2 !== x;
        entries.push([k2, x2]);
        i++;
      }
      if (!changed) return v;
      const copy = new Map(entries);
      memo.set(v, copy);
      return copy;
    }
    if (proto === Set.prototype) {
      memo.set(v, v);
      const items: unknown[] = [];
      let changed = false;
      let i = 0;
      for (const x of v as Set<unknown>) {
        const x2 = visit(x, `${at}<Set item ${i++}>`);
        changed ||= x2 !== x;
        items.push(x2);
      }
      if (!changed) return v;
      const copy = new Set(items);
      memo.set(v, copy);
      return copy;
    }
    if (isNativePrototype(proto)) return v; // Date, buffers, views
    const out = leaf(v, at, visit);
    memo.set(v, out);
    return out;
  };
  return visit(value, path);
}

/**
 * Executor side: `value` (a task's result) ready to cross to the control
 * thread. Each instance of a registered class becomes a `CodecValue` of its
 * encoding (listed in `codecs`, the list to send beside it); any other
 * class instance, or built-in `serialize` does not write (RegExp, Error,
 * SharedArrayBuffer, ...), is refused, as it would be as an argument.
 * Functions, symbols and what structured clone refuses (Promise, WeakMap,
 * ...) are left for the post to report. Containers are copied only on the
 * way to a replaced instance.
 *
 * @param value The result.
 * @param path Its name in messages. Default `value`, as `serialize` names it.
 * @returns The value to send and its codec values.
 * @throws {SerializationError} For a class instance without a codec, or an
 *   `encode` that throws; `.path` says where.
 *
 * @example
 * ```ts
 * import { encodeResult } from "./codec_wire.ts";
 * encodeResult({ a: [1, 2] }).codecs.length; // 0: nothing to encode
 * ```
 */
export function encodeResult(
  value: unknown,
  path = "value",
): { value: unknown; codecs: CodecValue[] } {
  const codecs: CodecValue[] = [];
  const out = mapObjects(value, path, (v, at, visit) => {
    if (v instanceof CodecValue) {
      const inner = visit(v.value, `${at}<encoded by codec ${v.codec}>`);
      const kept = inner === v.value ? v : new CodecValue(v.codec, inner);
      codecs.push(kept);
      return kept;
    }
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    if (UNSENDABLE_TAGS.has(tag)) return v;
    const codec = codecForPrototype(Object.getPrototypeOf(v));
    if (codec === undefined) {
      const name = className(v);
      throw new SerializationError(
        `cannot serialize a ${name} instance at ${at}${
          unsupportedClassNote(name)
        }`,
        at,
      );
    }
    let encoded: unknown;
    try {
      encoded = codec.encode(v);
    } catch (error) {
      throw new SerializationError(
        `cannot serialize a ${codec.className} instance at ${at}: the encode of its codec ${
          JSON.stringify(codec.name)
        } threw: ${error instanceof Error ? error.message : String(error)}`,
        at,
      );
    }
    const kept = new CodecValue(
      codec.name,
      visit(encoded, `${at}<encoded by codec ${JSON.stringify(codec.name)}>`),
    );
    codecs.push(kept);
    return kept;
  });
  return { value: out, codecs };
}

/**
 * Control side: the `CodecValue`s in `value` (through arrays, plain objects,
 * Maps, Sets, and inside other codec values), to send beside it. Walks
 * nothing in a process that never made a `CodecValue`.
 *
 * @example
 * ```ts
 * import { CodecValue } from "../serialize/codecs.ts";
 * import { collectCodecValues } from "./codec_wire.ts";
 * collectCodecValues([{ p: new CodecValue("geo.Point", [1, 2]) }]).length; // 1
 * ```
 */
export function collectCodecValues(value: unknown): CodecValue[] {
  if (!codecValuesMade()) return [];
  const found: CodecValue[] = [];
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== "object" || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof CodecValue) {
      found.push(v);
      stack.push(v.value);
    } else if (Array.isArray(v) || v instanceof Set) {
      for (const x of v) stack.push(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (isPlain(Object.getPrototypeOf(v))) {
      for (const key of Object.keys(v)) {
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return found;
}

/**
 * Control side: gives the received copies of a result's codec values (the
 * `codecs` list sent beside it) their class back, in place.
 *
 * @throws {TypeError} For an entry that is not `{ codec: string, value }`.
 *
 * @example
 * ```ts
 * import { adoptCodecValues } from "./codec_wire.ts";
 * const received = { codec: "geo.Point", value: [1, 2] }; // as postMessage delivers it
 * adoptCodecValues([received]);
 * ```
 */
export function adoptCodecValues(list: readonly unknown[]): void {
  for (const o of list) {
    if (
      o === null || typeof o !== "object" ||
      typeof (o as { codec?: unknown }).codec !== "string"
    ) {
      throw new TypeError("a codec value arrived without its codec's name");
    }
    if (!(o instanceof CodecValue)) {
      Object.setPrototypeOf(o, CodecValue.prototype);
    }
  }
  if (list.length > 0) noteCodecValues();
}

/**
 * Executor side: `value` (the arguments) with each object of `marked` (the
 * `codecs` list sent beside it, the same objects) replaced by its codec's
 * `decode`, inner ones first. Containers are copied on the way.
 *
 * @throws {UnknownCodecError} If a codec is not registered in this executor.
 * @throws {FrameDecodeError} If a codec's `decode` throws.
 *
 * @example
 * ```ts
 * import { reviveCodecValues } from "./codec_wire.ts";
 * reviveCodecValues([1, 2], []); // [1, 2]: nothing marked
 * ```
 */
export function reviveCodecValues(
  value: unknown,
  marked: readonly unknown[],
): unknown {
  if (marked.length === 0) return value;
  return revive(value, new Set<unknown>(marked));
}

/** `value` with the objects of `set` decoded (see {@linkcode reviveCodecValues}). */
function revive(value: unknown, set: Set<unknown>): unknown {
  return mapObjects(
    value,
    "value",
    (v, at, visit) => {
      if (!set.has(v)) return v;
      const m = v as { codec: string; value: unknown };
      return decodeWith(m.codec, visit(m.value, at));
    },
    (v) => set.has(v),
  );
}

/**
 * Lending buffers across a thread boundary: finds the ArrayBuffers inside a
 * value that is about to be posted to (or back from) an executor, and decides
 * for each one whether it is transferred (zero-copy; the sender's views are
 * detached) or copied once into a buffer of its own, which is then
 * transferred. Nothing large is ever structured-cloned: a clone of 256 MiB
 * blocks the posting thread ~150 ms, a transfer ~50 µs
 * (docs/platform.md#clone-and-transfer).
 *
 * The rules, per buffer:
 * - a `SharedArrayBuffer` (or a view over one) is left alone: it is shared
 *   with the executor as-is, for free;
 * - a buffer listed in `keep` is never transferred: the views over it are
 *   sent as a copy of the bytes they span (use it for mmap-backed buffers,
 *   which must never be transferred, and for any buffer others still read);
 * - a buffer referenced whole (the `ArrayBuffer` itself, or a view spanning
 *   all of it), or listed in `transferWhole` (and not in `keep`), is
 *   transferred once, however many views over it the value holds;
 * - a buffer referenced only through partial views (e.g. a `subarray` of a
 *   bigger frame, as the codec returns) is not transferred, since that would
 *   detach the whole frame and every other view over it: the range its views
 *   span is copied once into a new buffer and the views are rebuilt over the
 *   copy, so views that aliased still alias.
 *
 * Everything is checked before anything moves, because Deno detaches the
 * transferred buffers before it serializes: a `postMessage` that then fails
 * on a function leaves the buffers detached and their bytes lost.
 *
 * @module
 */

import { CodecValue } from "../serialize/codecs.ts";

/** What {@linkcode packForTransfer} does with the buffers it finds. */
export interface PackOptions {
  /**
   * Buffers never to transfer: views over them are sent as copies of the
   * bytes they span. Mmap-backed buffers belong here (transferring one lets
   * the sender's finalizer unmap memory the receiver still reads).
   */
  keep?: Iterable<ArrayBufferLike>;
  /**
   * Buffers to transfer whole even when only part of them is referenced
   * (`keep` wins). An executor passes the buffers it was lent: they go back
   * whole.
   */
  transferWhole?: Iterable<ArrayBufferLike>;
  /**
   * Copy every non-shared buffer not listed in `transferWhole` instead of
   * transferring it. The fallback when a buffer cannot be detached (e.g. a
   * `WebAssembly.Memory` buffer), which JavaScript cannot test beforehand.
   * Default `false`.
   */
  copyOthers?: boolean;
}

/** A value ready for `postMessage(packed.value, packed.transfer)`. */
export interface Packed<T> {
  /** The value to post: the input itself, or a rebuilt copy of its containers when views had to be copied. */
  value: T;
  /** The buffers to transfer (each once). */
  transfer: ArrayBuffer[];
  /** Bytes moved by transfer. */
  transferredBytes: number;
  /** Bytes copied (into buffers that are then transferred). */
  copiedBytes: number;
}

/**
 * A value that cannot cross to another thread: a function, a symbol, a weak
 * collection, a promise, or a detached buffer. Raised before anything is
 * detached, so the value is intact.
 *
 * @example
 * ```ts
 * import { packForTransfer, UnsendableValueError } from "./lend.ts";
 * try {
 *   packForTransfer([{ f: () => 1 }], {}, "args");
 * } catch (e) {
 *   if (e instanceof UnsendableValueError) console.log(e.path); // "args[0].f"
 * }
 * ```
 */
export class UnsendableValueError extends TypeError {
  /** Where the value sits, e.g. `args[0].f`. */
  readonly path: string;

  /**
   * @param path Where the value sits, e.g. `args[0].f`.
   * @param what What it is, e.g. `a function`.
   */
  constructor(path: string, what: string) {
    super(`${path} is ${what}, which cannot be sent to another thread`);
    this.name = "UnsendableValueError";
    this.path = path;
  }
}

/** Object kinds structured clone refuses (and Deno fails on after detaching). */
const UNSENDABLE_TAGS = new Set([
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "Promise",
  "FinalizationRegistry",
  "Generator",
  "AsyncGenerator",
]);

/** Object kinds cloned as leaves: nothing inside them is lent. */
const LEAF_TAGS = new Set([
  "Date",
  "RegExp",
  "Boolean",
  "Number",
  "String",
  "BigInt",
  "Error",
]);

interface BufferRefs {
  /** Referenced as the ArrayBuffer itself or by a view spanning all of it. */
  whole: boolean;
  views: ArrayBufferView[];
}

type TypedArrayConstructor = new (
  buffer: ArrayBuffer,
  byteOffset: number,
  length: number,
) => ArrayBufferView;

function tagOf(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** Walks `value` the way structured clone does, recording non-shared buffers. */
function findBuffers(
  value: unknown,
  path: string,
  refs: Map<ArrayBuffer, BufferRefs>,
  seen: Set<object>,
): void {
  if (typeof value === "function") {
    throw new UnsendableValueError(path || "the value", "a function");
  }
  if (typeof value === "symbol") {
    throw new UnsendableValueError(path || "the value", "a symbol");
  }
  if (value === null || typeof value !== "object") return;
  if (seen.has(value)) return;
  seen.add(value);
  if (value instanceof SharedArrayBuffer) return;
  if (value instanceof ArrayBuffer) {
    if (value.detached) {
      throw new UnsendableValueError(
        path || "the value",
        "a detached ArrayBuffer",
      );
    }
    const r = refs.get(value) ?? { whole: false, views: [] };
    r.whole = true;
    refs.set(value, r);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    const buffer = value.buffer;
    if (buffer instanceof SharedArrayBuffer) return;
    if (buffer.detached) {
      throw new UnsendableValueError(
        path || "the value",
        `a ${tagOf(value)} over a detached ArrayBuffer`,
      );
    }
    const r = refs.get(buffer) ?? { whole: false, views: [] };
    r.views.push(value);
    if (value.byteOffset === 0 && value.byteLength === buffer.byteLength) {
      r.whole = true;
    }
    refs.set(buffer, r);
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      findBuffers(value[i], child(path, i), refs, seen);
    }
    return;
  }
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      findBuffers(k, `${path}.<key ${i}>`, refs, seen);
      findBuffers(v, child(path, `<value ${i}>`), refs, seen);
      i++;
    }
    return;
  }
  if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      findBuffers(v, `${path}.<element ${i++}>`, refs, seen);
    }
    return;
  }
  const tag = tagOf(value);
  if (UNSENDABLE_TAGS.has(tag)) {
    throw new UnsendableValueError(path || "the value", `a ${tag}`);
  }
  if (LEAF_TAGS.has(tag) || value instanceof Error) return;
  // Any other object is cloned as its own enumerable string-keyed properties.
  for (const key of Object.keys(value)) {
    findBuffers(
      (value as Record<string, unknown>)[key],
      child(path, key),
      refs,
      seen,
    );
  }
}

/** A view like `view` over `buffer` at `byteOffset`. */
function rebuildView(
  view: ArrayBufferView,
  buffer: ArrayBuffer,
  byteOffset: number,
): ArrayBufferView {
  if (view instanceof DataView) {
    return new DataView(buffer, byteOffset, view.byteLength);
  }
  const typed = view as ArrayBufferView & {
    length: number;
    [Symbol.toStringTag]: string;
  };
  const Ctor = (globalThis as unknown as Record<string, TypedArrayConstructor>)[
    typed[Symbol.toStringTag]
  ];
  return new Ctor(buffer, byteOffset, typed.length);
}

/** `value` with every object in `replaced` swapped, containers copied along the way. */
function rebuild(
  value: unknown,
  replaced: Map<object, object>,
  memo: Map<object, unknown>,
): unknown {
  if (value === null || typeof value !== "object") return value;
  const swap = replaced.get(value);
  if (swap !== undefined) return swap;
  if (memo.has(value)) return memo.get(value);
  if (
    value instanceof ArrayBuffer || value instanceof SharedArrayBuffer ||
    ArrayBuffer.isView(value)
  ) {
    return value;
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    memo.set(value, copy);
    for (let i = 0; i < value.length; i++) {
      if (i in value) copy[i] = rebuild(value[i], replaced, memo);
    }
    return copy;
  }
  if (value instanceof Map) {
    const copy = new Map<unknown, unknown>();
    memo.set(value, copy);
    for (const [k, v] of value) {
      copy.set(rebuild(k, replaced, memo), rebuild(v, replaced, memo));
    }
    return copy;
  }
  if (value instanceof Set) {
    const copy = new Set<unknown>();
    memo.set(value, copy);
    for (const v of value) copy.add(rebuild(v, replaced, memo));
    return copy;
  }
  if (LEAF_TAGS.has(tagOf(value)) || value instanceof Error) return value;
  if (value instanceof CodecValue) {
    // Stays one, so that the codec values sent beside it are found by class.
    const copy = new CodecValue(value.codec, undefined);
    memo.set(value, copy);
    (copy as { value: unknown }).value = rebuild(value.value, replaced, memo);
    return copy;
  }
  const copy: Record<string, unknown> = {};
  memo.set(value, copy);
  for (const key of Object.keys(value)) {
    copy[key] = rebuild(
      (value as Record<string, unknown>)[key],
      replaced,
      memo,
    );
  }
  return copy;
}

/**
 * Prepares `value` for `postMessage` to another thread: checks that it can be
 * sent, and picks the buffers to transfer, copying the ones that must not be
 * transferred (see the module doc for the rules). The input is never
 * modified; nothing is detached until the caller posts.
 *
 * @param value What will be posted.
 * @param options Which buffers to keep, transfer whole, or copy.
 * @param path A name for `value` in error messages, e.g. `args`.
 * @returns The value to post, the transfer list and byte counts.
 * @throws {UnsendableValueError} If `value` holds something that cannot be sent.
 *
 * @example Lending a whole buffer and copying a slice
 * ```ts
 * import { packForTransfer } from "./lend.ts";
 * const frame = new Uint8Array(1024);
 * const whole = new Float64Array(1024);
 * const packed = packForTransfer([whole, frame.subarray(8, 16)], {}, "args");
 * packed.transfer.length; // 2: whole.buffer, and a new 8-byte copy of the slice
 * packed.copiedBytes; // 8
 * // worker.postMessage(packed.value, packed.transfer);
 * ```
 */
export function packForTransfer<T>(
  value: T,
  options: PackOptions = {},
  path = "",
): Packed<T> {
  const refs = new Map<ArrayBuffer, BufferRefs>();
  findBuffers(value, path, refs, new Set());
  const keep = new Set<ArrayBufferLike>(options.keep ?? []);
  const transferWhole = new Set<ArrayBufferLike>(options.transferWhole ?? []);
  const transfer: ArrayBuffer[] = [];
  const replaced = new Map<object, object>();
  let transferredBytes = 0;
  let copiedBytes = 0;
  for (const [buffer, r] of refs) {
    const copy = keep.has(buffer) ||
      (!transferWhole.has(buffer) && (options.copyOthers === true || !r.whole));
    if (!copy) {
      transfer.push(buffer);
      transferredBytes += buffer.byteLength;
      continue;
    }
    let lo = r.whole ? 0 : Infinity;
    let hi = r.whole ? buffer.byteLength : 0;
    for (const view of r.views) {
      lo = Math.min(lo, view.byteOffset);
      hi = Math.max(hi, view.byteOffset + view.byteLength);
    }
    lo -= lo % 8; // keeps every view's offset aligned for its element size
    const copied = new ArrayBuffer(hi - lo);
    new Uint8Array(copied).set(new Uint8Array(buffer, lo, hi - lo));
    if (r.whole) replaced.set(buffer, copied);
    for (const view of r.views) {
      replaced.set(view, rebuildView(view, copied, view.byteOffset - lo));
    }
    transfer.push(copied);
    copiedBytes += copied.byteLength;
  }
  const packed = replaced.size === 0
    ? value
    : rebuild(value, replaced, new Map()) as T;
  return { value: packed, transfer, transferredBytes, copiedBytes };
}

/**
 * Calls `found` once for each buffer (ArrayBuffer or SharedArrayBuffer)
 * reachable from `value` through arrays, Maps, Sets, plain objects and
 * views, detached ones included.
 *
 * @param value Any value.
 * @param found Called with each buffer, once.
 *
 * @example
 * ```ts
 * import { forEachBuffer } from "./lend.ts";
 * const seen: ArrayBufferLike[] = [];
 * forEachBuffer({ a: new Uint8Array(4), b: [new SharedArrayBuffer(8)] }, (b) => seen.push(b));
 * seen.length; // 2
 * ```
 */
export function forEachBuffer(
  value: unknown,
  found: (buffer: ArrayBufferLike) => void,
): void {
  const buffers = new Set<ArrayBufferLike>();
  const seen = new Set<object>();
  const report = (b: ArrayBufferLike) => {
    if (buffers.has(b)) return;
    buffers.add(b);
    found(b);
  };
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) report(v);
    else if (ArrayBuffer.isView(v)) report(v.buffer);
    else if (Array.isArray(v) || v instanceof Set) {
      for (const x of v) visit(x);
    } else if (v instanceof Map) {
      for (const [k, x] of v) {
        visit(k);
        visit(x);
      }
    } else {
      for (const key of Object.keys(v)) {
        visit((v as Record<string, unknown>)[key]);
      }
    }
  };
  visit(value);
}

/**
 * The distinct non-shared ArrayBuffers reachable from `value` (through
 * arrays, Maps, Sets, plain objects and views), skipping detached ones.
 *
 * @param value Any value.
 * @returns Each buffer once.
 *
 * @example
 * ```ts
 * import { reachableBuffers } from "./lend.ts";
 * const a = new Float64Array(4);
 * reachableBuffers([a, new Uint8Array(a.buffer)]).length; // 1
 * ```
 */
export function reachableBuffers(value: unknown): ArrayBuffer[] {
  const found: ArrayBuffer[] = [];
  forEachBuffer(value, (b) => {
    if (b instanceof ArrayBuffer && !b.detached) found.push(b);
  });
  return found;
}

/**
 * User codecs: how values of a user's own class travel and spill.
 *
 * {@linkcode registerCodec} gives a class a stable type id (`name`), an
 * `encode` to a serializable value and a `decode` back. The frames then carry
 * the `CODEC` tag, the name and the encoded value (see `serialize.ts`); a
 * reader that does not know the name fails with {@linkcode UnknownCodecError}
 * naming it, unless it asked to keep such values as they are
 * ({@linkcode CodecValue}: a worker's control thread, a scheduler, which move
 * values without calling user code).
 *
 * The registry lives on `globalThis`, not in this module: a program that
 * imports spillway by two URLs (a path and `jsr:`, or a worker's checkout and
 * a task module's `http:` import) has two copies of this module, and a codec
 * registered through one is known to both.
 *
 * This module imports nothing heavy: executors load it for every task.
 *
 * @module
 */
import { FrameDecodeError } from "./frames.ts";
import { KIND_CTORS } from "./layout.ts";

/**
 * How values of one class are written into frames and read back, for
 * {@linkcode registerCodec}.
 *
 * @typeParam T The class's instances.
 * @typeParam E What `encode` returns: any value `serialize` accepts (plain
 *   objects, arrays, typed arrays, Maps, other registered classes, ...).
 *
 * @example
 * ```ts
 * import type { CodecOptions } from "./codecs.ts";
 * class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 * }
 * const point: CodecOptions<Point, [number, number]> = {
 *   name: "geo.Point",
 *   encode: (p) => [p.x, p.y],
 *   decode: ([x, y]) => new Point(x, y),
 * };
 * ```
 */
export interface CodecOptions<T extends object, E = unknown> {
  /**
   * The type id written into frames: stable across processes and versions
   * (a reader finds the codec by it), unique per class, e.g. `"geo.Point"`.
   */
  name: string;
  /** The instance as a serializable value (it may hold typed arrays: they travel without a copy). */
  encode(value: T): E;
  /** The instance back from what `encode` returned (typed arrays may view received memory). */
  decode(encoded: E): T;
}

/** One registered codec. */
export interface RegisteredCodec {
  /** The type id. */
  readonly name: string;
  /** The class's name, for messages. */
  readonly className: string;
  /** The codec's `encode`. */
  readonly encode: (value: object) => unknown;
  /** The codec's `decode`. */
  readonly decode: (encoded: unknown) => object;
}

interface Registry {
  byName: Map<string, RegisteredCodec>;
  byPrototype: Map<object, RegisteredCodec>;
  /** Whether this realm ever held a {@linkcode CodecValue}. */
  made: boolean;
}

const REGISTRY_KEY = Symbol.for("spillway.codecs");

const registry: Registry = ((globalThis as Record<symbol, unknown>)[
  REGISTRY_KEY
] ??= {
  byName: new Map(),
  byPrototype: new Map(),
  made: false,
} satisfies Registry) as Registry;

/**
 * Thrown when frames name a codec this process has not registered.
 * `codec` is the name. A {@linkcode FrameDecodeError}, so readers that catch
 * those catch this too.
 *
 * @example
 * ```ts
 * import { UnknownCodecError } from "./codecs.ts";
 * const error = new UnknownCodecError("geo.Point");
 * console.log(error.codec); // geo.Point
 * ```
 */
export class UnknownCodecError extends FrameDecodeError {
  /** The codec's name, as the frames give it. */
  readonly codec: string;

  /**
   * Creates the error.
   *
   * @param codec The name the frames give.
   */
  constructor(codec: string) {
    super(
      `the value holds a ${
        JSON.stringify(codec)
      } codec value, but no codec of that name is registered here: ` +
        `register it with registerCodec(Class, { name: ${
          JSON.stringify(codec)
        }, encode, decode }) in a module this process imports (on a ` +
        "worker: a task module, or a module named in LocalCluster's `codecs:` " +
        "option or the worker's --codecs flag)",
    );
    this.name = "UnknownCodecError";
    this.codec = codec;
  }
}

/** Marks objects `sizeof` walks like plain objects (see `src/memory/sizeof.ts`). */
const SIZEOF_WALKS = Symbol.for("spillway.sizeof.walk");

/**
 * A value of a registered class, kept encoded: its codec's `name` and what
 * `encode` returned. `deserialize(frames, { codecs: "keep" })` makes these
 * instead of calling user code, and `serialize` writes them back as they
 * came, so a worker's control thread and the scheduler move such values
 * without knowing their class.
 *
 * @example
 * ```ts
 * import { CodecValue } from "./codecs.ts";
 * import { deserialize, serialize } from "./serialize.ts";
 * const kept = new CodecValue("geo.Point", [1, 2]);
 * const back = deserialize(serialize(kept), { codecs: "keep" }) as CodecValue;
 * console.log(back.codec, back.value); // geo.Point [ 1, 2 ]
 * ```
 */
export class CodecValue {
  /** The codec's name. */
  readonly codec: string;
  /** What the codec's `encode` returned. */
  readonly value: unknown;

  /**
   * A value kept encoded.
   *
   * @param codec The codec's name.
   * @param value What its `encode` returned.
   */
  constructor(codec: string, value: unknown) {
    this.codec = codec;
    this.value = value;
    registry.made = true;
  }
}
Object.defineProperty(CodecValue.prototype, SIZEOF_WALKS, { value: true });

/**
 * Whether this realm ever held a {@linkcode CodecValue}: until then, no
 * value can hold one, and the walks that look for them are skipped.
 *
 * @example
 * ```ts
 * import { codecValuesMade } from "./codecs.ts";
 * if (codecValuesMade()) console.log("some value may hold a CodecValue");
 * ```
 */
export function codecValuesMade(): boolean {
  return registry.made;
}

/**
 * Records that this realm holds {@linkcode CodecValue}s made without the
 * constructor (objects given its prototype after a structured clone).
 *
 * @example
 * ```ts
 * import { noteCodecValues } from "./codecs.ts";
 * noteCodecValues();
 * ```
 */
export function noteCodecValues(): void {
  registry.made = true;
}

/** Prototypes `serialize` writes natively: a codec for them would never be used. */
const NATIVE = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  Object.getPrototypeOf(Int8Array.prototype),
  ...KIND_CTORS.flatMap((c) => c === undefined ? [] : [c.prototype]),
]);

/**
 * Whether `serialize` writes objects with this exact prototype natively
 * (plain and null-prototype objects, arrays, Map, Set, Date, ArrayBuffer,
 * DataView, typed arrays).
 *
 * @example
 * ```ts
 * import { isNativePrototype } from "./codecs.ts";
 * isNativePrototype(Map.prototype); // true
 * isNativePrototype(RegExp.prototype); // false
 * ```
 */
export function isNativePrototype(proto: object | null): boolean {
  return NATIVE.has(proto);
}

/**
 * Teaches `serialize` and `deserialize` a class: its instances are written as
 * the codec's `name` and `encode(value)`, and read back with `decode`, on
 * the client, the workers and their executors, and in spill files.
 *
 * A process learns a codec by running this call: register it at the top
 * level of a module that every process handling the class imports. Workers
 * import the task modules (a task module that uses the class registers its
 * codec) and the modules named in `codecs:` on `LocalCluster` or `--codecs`
 * on `spillway worker`. A frame naming a codec the reader does not know is
 * an {@linkcode UnknownCodecError} naming it.
 *
 * Only instances whose prototype is exactly `Class.prototype` use the codec
 * (a subclass needs its own). Registering a name again replaces its codec
 * (a module imported anew under another URL registers its class again).
 *
 * @param Class The class.
 * @param options Its type id, `encode` and `decode`.
 * @throws {TypeError} For an empty name, a missing `encode`/`decode`, or a
 *   class `serialize` already writes natively (Map, Date, ...).
 *
 * @example A class that travels intact
 * ```ts
 * import { registerCodec } from "./codecs.ts";
 * import { deserialize, serialize } from "./serialize.ts";
 *
 * class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 *   norm(): number {
 *     return Math.hypot(this.x, this.y);
 *   }
 * }
 * registerCodec(Point, {
 *   name: "geo.Point",
 *   encode: (p) => [p.x, p.y],
 *   decode: ([x, y]: number[]) => new Point(x, y),
 * });
 * const back = deserialize(serialize({ at: new Point(3, 4) })) as { at: Point };
 * console.log(back.at instanceof Point, back.at.norm()); // true 5
 * ```
 */
export function registerCodec<T extends object, E>(
  Class: abstract new (...args: never[]) => T,
  options: CodecOptions<T, E>,
): void {
  if (typeof Class !== "function" || typeof Class.prototype !== "object") {
    throw new TypeError("registerCodec: the first argument must be a class");
  }
  const { name, encode, decode } = options ?? {};
  if (typeof name !== "string" || name === "" || !name.isWellFormed()) {
    throw new TypeError(
      `registerCodec(${Class.name}): name must be a non-empty string, the type id written into frames`,
    );
  }
  if (typeof encode !== "function" || typeof decode !== "function") {
    throw new TypeError(
      `registerCodec(${Class.name}): encode and decode must be functions`,
    );
  }
  const proto = Class.prototype as object;
  if (isNativePrototype(proto) || proto === CodecValue.prototype) {
    throw new TypeError(
      `registerCodec: ${Class.name} values are serialized natively; a codec for them would never be used`,
    );
  }
  const codec: RegisteredCodec = {
    name,
    className: Class.name || "an anonymous class",
    encode: (value) => encode.call(options, value as T),
    decode: (encoded) => decode.call(options, encoded as E),
  };
  registry.byName.set(name, codec);
  registry.byPrototype.set(proto, codec);
}

/**
 * The codec for objects with exactly this prototype, if one is registered.
 *
 * @example
 * ```ts
 * import { codecForPrototype } from "./codecs.ts";
 * codecForPrototype(RegExp.prototype); // undefined
 * ```
 */
export function codecForPrototype(
  proto: object | null,
): RegisteredCodec | undefined {
  return proto === null ? undefined : registry.byPrototype.get(proto);
}

/**
 * The codec registered under `name`, if any.
 *
 * @example
 * ```ts
 * import { codecByName } from "./codecs.ts";
 * codecByName("no such codec"); // undefined
 * ```
 */
export function codecByName(name: string): RegisteredCodec | undefined {
  return registry.byName.get(name);
}

/**
 * `encoded` decoded by the codec `name`.
 *
 * @throws {UnknownCodecError} If no codec of that name is registered.
 * @throws {FrameDecodeError} If the codec's `decode` throws (the cause).
 *
 * @example
 * ```ts
 * import { decodeWith, UnknownCodecError } from "./codecs.ts";
 * try {
 *   decodeWith("no such codec", 1);
 * } catch (error) {
 *   console.log(error instanceof UnknownCodecError); // true
 * }
 * ```
 */
export function decodeWith(name: string, encoded: unknown): object {
  const codec = registry.byName.get(name);
  if (codec === undefined) throw new UnknownCodecError(name);
  try {
    return codec.decode(encoded);
  } catch (error) {
    throw new FrameDecodeError(
      `the ${
        JSON.stringify(name)
      } codec's decode (class ${codec.className}) threw: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

/**
 * The name of an object's class for messages (`Point`), or a description
 * when it has none.
 *
 * @example
 * ```ts
 * import { className } from "./codecs.ts";
 * className(/x/); // "RegExp"
 * ```
 */
export function className(value: object): string {
  try {
    const proto = Object.getPrototypeOf(value);
    const c = (proto as { constructor?: unknown } | null)?.constructor;
    if (typeof c === "function" && typeof c.name === "string" && c.name) {
      return c.name;
    }
  } catch {
    // a hostile getter or proxy: fall through
  }
  return "object with a custom prototype";
}

/**
 * The note `serialize` adds when it refuses an instance of class `name`.
 *
 * @example
 * ```ts
 * import { unsupportedClassNote } from "./codecs.ts";
 * console.log(unsupportedClassNote("Point"));
 * ```
 */
export function unsupportedClassNote(name: string): string {
  return ": only plain objects, arrays, Map, Set, Date, ArrayBuffer, typed arrays and DataView are supported" +
    (name === "object with a custom prototype"
      ? ""
      : `; to send ${name} values, register a codec for the class with registerCodec(${name}, { name, encode, decode })`);
}

/**
 * The error for a value that cannot be serialized, apart from the codec so
 * that executors can raise it without loading msgpack.
 *
 * @module
 */

/**
 * Thrown by `serialize` for a value that cannot be serialized: a function, a symbol (as a
 * value or as a property key), a class instance or unsupported built-in (WeakMap, Promise,
 * Error, RegExp, ...), a detached ArrayBuffer, or a cyclic structure.
 *
 * The message and {@link SerializationError.path} name where the offending value is, rooted at
 * `value`, e.g. `value.items[3].fn`, `value["a b"]`, `value<Map value for key "k">`,
 * `value<Set item 2>`.
 *
 * @example
 * ```ts
 * import { serialize } from "./serialize.ts";
 * import { SerializationError } from "./serialization_error.ts";
 * try {
 *   serialize({ items: [0, 1, 2, { fn: () => 1 }] });
 * } catch (e) {
 *   if (e instanceof SerializationError) console.log(e.path); // value.items[3].fn
 * }
 * ```
 */
export class SerializationError extends Error {
  /** Where the offending value is inside the serialized value, e.g. `value.items[3].fn`. */
  readonly path: string;
  /**
   * Creates the error.
   *
   * @param message full description, including the path
   * @param path where the offending value is
   */
  constructor(message: string, path: string) {
    super(message);
    this.name = "SerializationError";
    this.path = path;
  }
}

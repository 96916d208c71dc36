import type { Tier } from "./tier.ts";

/**
 * A tier held in this process's memory: a `Map` with byte accounting. The
 * store uses one for live values and one for serialized frames.
 *
 * @example
 * ```ts
 * import { MemoryTier } from "./memory_tier.ts";
 * const tier = new MemoryTier<string>("live");
 * tier.put("x", "hello", 5);
 * tier.bytes; // 5
 * ```
 */
export class MemoryTier<V> implements Tier<V> {
  readonly name: string;
  #items = new Map<string, { value: V; bytes: number }>();
  #bytes = 0;
  #released = 0;

  /** Creates an empty tier called `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /** How many keys the tier holds. */
  get count(): number {
    return this.#items.size;
  }

  /** How many bytes the tier holds in all. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes removed so far (deleted or replaced), cumulative. */
  get released(): number {
    return this.#released;
  }

  /** Whether the tier holds `key`. */
  has(key: string): boolean {
    return this.#items.has(key);
  }

  /** Bytes held for `key`, 0 when absent. */
  size(key: string): number {
    return this.#items.get(key)?.bytes ?? 0;
  }

  /** The value of `key`; throws when absent. */
  get(key: string): V {
    const item = this.#items.get(key);
    if (item === undefined) {
      throw new Error(`${this.name} tier has no key ${JSON.stringify(key)}`);
    }
    return item.value;
  }

  /** Stores `value` of `bytes` bytes under `key`, replacing what was there. */
  put(key: string, value: V, bytes: number): void {
    this.delete(key);
    this.#items.set(key, { value, bytes });
    this.#bytes += bytes;
  }

  /** Removes `key`, if present. */
  delete(key: string): void {
    const item = this.#items.get(key);
    if (item === undefined) return;
    this.#items.delete(key);
    this.#bytes -= item.bytes;
    this.#released += item.bytes;
  }

  /** The keys held. */
  keys(): IterableIterator<string> {
    return this.#items.keys();
  }
}

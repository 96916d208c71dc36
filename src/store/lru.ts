/**
 * Least-recently-used order of keys: a doubly linked list indexed by a Map,
 * so that touching, removing and inserting at either end are O(1), and the
 * spill policy can walk from the oldest key while removing the ones it
 * evicts.
 *
 * @module
 */

interface Node {
  key: string;
  older: Node | null;
  newer: Node | null;
}

/**
 * Keys ordered from least to most recently used.
 *
 * @example
 * ```ts
 * import { Lru } from "./lru.ts";
 * const lru = new Lru();
 * lru.touch("a");
 * lru.touch("b");
 * lru.touch("a");
 * [...lru.oldestFirst()]; // ["b", "a"]
 * ```
 */
export class Lru {
  #nodes = new Map<string, Node>();
  #oldest: Node | null = null;
  #newest: Node | null = null;

  /** How many keys are ordered. */
  get size(): number {
    return this.#nodes.size;
  }

  /** Whether `key` is ordered. */
  has(key: string): boolean {
    return this.#nodes.has(key);
  }

  /** Makes `key` the most recently used, adding it if absent. */
  touch(key: string): void {
    const node = this.#nodes.get(key) ?? this.#add(key);
    this.#unlink(node);
    node.older = this.#newest;
    node.newer = null;
    if (this.#newest) this.#newest.newer = node;
    this.#newest = node;
    this.#oldest ??= node;
  }

  /** Makes `key` the least recently used (first in line for eviction). */
  makeOldest(key: string): void {
    const node = this.#nodes.get(key) ?? this.#add(key);
    this.#unlink(node);
    node.newer = this.#oldest;
    node.older = null;
    if (this.#oldest) this.#oldest.older = node;
    this.#oldest = node;
    this.#newest ??= node;
  }

  /** Removes `key`, if present. */
  delete(key: string): void {
    const node = this.#nodes.get(key);
    if (node === undefined) return;
    this.#unlink(node);
    this.#nodes.delete(key);
  }

  /**
   * Keys from least to most recently used. Deleting the key just yielded
   * is safe while iterating.
   */
  *oldestFirst(): IterableIterator<string> {
    let node = this.#oldest;
    while (node !== null) {
      const next: Node | null = node.newer;
      yield node.key;
      node = next;
    }
  }

  #add(key: string): Node {
    const node: Node = { key, older: null, newer: null };
    this.#nodes.set(key, node);
    return node;
  }

  #unlink(node: Node): void {
    if (node.older) node.older.newer = node.newer;
    else if (this.#oldest === node) this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else if (this.#newest === node) this.#newest = node.older;
    node.older = null;
    node.newer = null;
  }
}

/**
 * Task functions of the all-pairs workload (the demo and
 * `bench/allpairs.ts`): chunks of doubles, pairwise dot products, sums.
 * Workers import this module by URL.
 *
 * @module
 */

/** g(k) of the chunk formula: a short repeating pattern in [0, 1). */
function pattern(k: number): number {
  return (k % 97) / 97;
}

/**
 * Chunk `i` of `length` doubles: element k is (i + 1) · g(k), so
 * dot(chunk i, chunk j) = (i + 1)(j + 1) · Σ g(k)², which the demo checks.
 *
 * @example
 * ```ts
 * import { chunk } from "./allpairs_ops.ts";
 * chunk(0, 4); // Float64Array [0, 1/97, 2/97, 3/97]
 * ```
 */
export function chunk(i: number, length: number): Float64Array {
  const out = new Float64Array(length);
  const scale = i + 1;
  for (let k = 0; k < length; k++) out[k] = scale * pattern(k);
  return out;
}

/**
 * The dot product of two chunks.
 *
 * @example
 * ```ts
 * import { dot } from "./allpairs_ops.ts";
 * dot(new Float64Array([1, 2]), new Float64Array([3, 4])); // 11
 * ```
 */
export function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) sum += a[k] * b[k];
  return sum;
}

/**
 * The sum of its arguments.
 *
 * @example
 * ```ts
 * import { sum } from "./allpairs_ops.ts";
 * sum(1, 2, 3); // 6
 * ```
 */
export function sum(...values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/**
 * The total the all-pairs graph must produce for `chunks` chunks of
 * `length` doubles: Σ over i ≤ j of (i + 1)(j + 1) · Σ_k g(k)².
 *
 * @example
 * ```ts
 * import { expectedTotal } from "./allpairs_ops.ts";
 * expectedTotal(1, 2); // 1 · (0² + (1/97)²)
 * ```
 */
export function expectedTotal(chunks: number, length: number): number {
  let g2 = 0;
  for (let k = 0; k < length; k++) g2 += pattern(k) ** 2;
  let pairs = 0;
  for (let i = 0; i < chunks; i++) {
    for (let j = i; j < chunks; j++) pairs += (i + 1) * (j + 1);
  }
  return pairs * g2;
}

/**
 * Where a ready task runs: the rule of the scheduling design, as one pure
 * function so that a new rule is an option here, not an edit of the state
 * machine.
 *
 * @module
 */

/**
 * A worker as placement sees a holder of an input.
 *
 * @example
 * ```ts
 * import type { PlacementHolder } from "./placement.ts";
 * const holder: PlacementHolder = { id: "w1", host: "node-1" };
 * ```
 */
export interface PlacementHolder {
  /** Worker id. */
  readonly id: string;
  /** Host identity of the worker. */
  readonly host: string;
}

/**
 * A worker that may take the task: not paused, below its in-flight bound.
 * `processing` only needs a `size` (a worker's set of processing keys fits).
 *
 * @example
 * ```ts
 * import type { PlacementCandidate } from "./placement.ts";
 * const idle: PlacementCandidate = { id: "w1", host: "node-1", nthreads: 4, processing: new Set<string>() };
 * ```
 */
export interface PlacementCandidate extends PlacementHolder {
  /** Executor threads. */
  readonly nthreads: number;
  /** Tasks assigned to it and not finished. */
  readonly processing: { readonly size: number };
}

/**
 * One input of the task: its size and the workers that hold it.
 *
 * @example
 * ```ts
 * import type { PlacementInput } from "./placement.ts";
 * const input: PlacementInput = { nbytes: 8 * 2 ** 20, holders: [{ id: "w1", host: "node-1" }] };
 * ```
 */
export interface PlacementInput {
  /** Size of the input in bytes. */
  readonly nbytes: number;
  /** Workers holding a copy (each at most once). */
  readonly holders: Iterable<PlacementHolder>;
}

/**
 * Options of {@linkcode chooseWorker}.
 *
 * @example
 * ```ts
 * import type { PlacementOptions } from "./placement.ts";
 * const shared: PlacementOptions = { sameHostIsLocal: true };
 * ```
 */
export interface PlacementOptions {
  /**
   * Shared-memory mode: an input held by any worker on the candidate's host
   * counts as held by the candidate (it reads it without a network copy).
   * Default `false`.
   */
  readonly sameHostIsLocal?: boolean;
}

/**
 * Chooses the worker for a ready task: the candidate that already holds the
 * most bytes of the task's inputs (no transfer is cheapest), then the least
 * busy (`processing / nthreads`), then the smallest id, so that the choice is
 * deterministic. Candidates are assumed to be eligible: the caller leaves out
 * paused and saturated workers.
 *
 * Cost: O(holders of the inputs + candidates).
 *
 * @param inputs The task's dependencies.
 * @param candidates Workers that may take it.
 * @param options See {@linkcode PlacementOptions}.
 * @returns The chosen candidate, or `undefined` if there is none.
 *
 * @example Input bytes first, then load
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { chooseWorker } from "./placement.ts";
 * const a = { id: "a", host: "h1", nthreads: 1, processing: { size: 2 } };
 * const b = { id: "b", host: "h1", nthreads: 1, processing: { size: 0 } };
 * const big = { nbytes: 1000, holders: [a] };
 * equal(chooseWorker([big], [a, b])?.id, "a"); // holds the input, though busier
 * equal(chooseWorker([], [a, b])?.id, "b"); // no inputs: least busy
 * ```
 */
export function chooseWorker<C extends PlacementCandidate>(
  inputs: Iterable<PlacementInput>,
  candidates: Iterable<C>,
  options: PlacementOptions = {},
): C | undefined {
  const sameHost = options.sameHostIsLocal ?? false;
  // Bytes already local, by worker id (or by host in shared-memory mode).
  const local = new Map<string, number>();
  for (const input of inputs) {
    const counted = new Set<string>();
    for (const holder of input.holders) {
      const place = sameHost ? holder.host : holder.id;
      // Two holders on one host are one local copy, not two.
      if (counted.has(place)) continue;
      counted.add(place);
      local.set(place, (local.get(place) ?? 0) + input.nbytes);
    }
  }
  let best: C | undefined;
  let bestBytes = -1;
  for (const candidate of candidates) {
    const bytes = local.get(sameHost ? candidate.host : candidate.id) ?? 0;
    if (best === undefined || isBetter(candidate, bytes, best, bestBytes)) {
      best = candidate;
      bestBytes = bytes;
    }
  }
  return best;
}

function isBetter(
  candidate: PlacementCandidate,
  bytes: number,
  best: PlacementCandidate,
  bestBytes: number,
): boolean {
  if (bytes !== bestBytes) return bytes > bestBytes;
  // Compare processing/nthreads by cross-multiplying: exact on integers.
  const load = candidate.processing.size * best.nthreads;
  const bestLoad = best.processing.size * candidate.nthreads;
  if (load !== bestLoad) return load < bestLoad;
  return candidate.id < best.id;
}

/**
 * What placement calls a worker's host (its `PlacementHolder.host`), from
 * its registration: workers that can hand keys over without copying them
 * (shared-memory mode, the same host, the same spill filesystem `dev`
 * and the same spill root id, `rootId`) share a group; every private-mode
 * worker is a group of its own, since a copy between two of them costs as
 * much as one between hosts.
 *
 * @example
 * ```ts
 * import { localityGroup } from "./placement.ts";
 * const a = localityGroup({ address: "tcp://h:1", host: "h", shared: { dev: 42 } });
 * const b = localityGroup({ address: "tcp://h:2", host: "h", shared: { dev: 42 } });
 * a === b; // true
 * ```
 */
export function localityGroup(registration: {
  readonly address: string;
  readonly host: string;
  readonly shared?: { readonly dev: number; readonly rootId?: string };
}): string {
  if (registration.shared === undefined) {
    return `${registration.host} ${registration.address}`;
  }
  const { dev, rootId } = registration.shared;
  return `${registration.host} shared:${dev}` +
    (rootId === undefined ? "" : ` root:${rootId}`);
}

/**
 * Fetching a worker's task inputs from the peers that hold them: several
 * keys per request up to the transfer limit, at most that many bytes in
 * flight at once (one fetch always proceeds), nothing new while the worker
 * is paused, a key another task is fetching awaited rather than fetched
 * twice, large spilled keys taken in slices, and, in shared-memory mode,
 * hard links from a same-host peer. Which holder, and the retries when a
 * holder fails, are the shared loop's (`src/transfer/fetch_loop.ts`).
 *
 * @module
 */
import type {
  ComputeMessage,
  SchedulerOperations,
  SlicedFile,
  WorkerControlOperations,
  WorkerTransferFigures,
} from "../protocol/mod.ts";
import { SLICE_BYTES } from "../protocol/mod.ts";
import type { RpcPeer } from "../comm/rpc.ts";
import {
  decodeFrames,
  type Frames,
  framesByteLength,
} from "../serialize/frames.ts";
import type { PeerSpillBuffer } from "../store/peer_files.ts";
import { fetchFromHolders } from "../transfer/fetch_loop.ts";
import type { WorkerPeer, WorkerPeers } from "../transfer/peers.ts";
import type { WorkerMode } from "./mode.ts";
import type { Room } from "./room.ts";
import { testStopAt } from "../platform/test_stop.ts";

/** `get-slice` requests in flight per key fetched. */
const SLICES_IN_FLIGHT = 4;

/**
 * What an {@linkcode InputFetcher} works with: the worker's parts.
 *
 * @example
 * ```ts
 * import type { InputFetcherParts } from "./input_fetcher.ts";
 * type Paused = InputFetcherParts["paused"]; // () => boolean
 * ```
 */
export interface InputFetcherParts {
  /** The worker's store, where fetched keys go. */
  store: PeerSpillBuffer;
  /** Connections to peers. */
  peers: WorkerPeers;
  /** The connection to the scheduler (`who-has`, `add-replica`). */
  scheduler: () => RpcPeer<SchedulerOperations, WorkerControlOperations>;
  /** Memory reserved by steps under way. */
  room: Room;
  /** Private or shared-memory mode. */
  mode: WorkerMode;
  /** A buffer for a key taken in slices. */
  allocate: (bytes: number) => Uint8Array;
  /** The worker's transfer counters (updated here). */
  transfers: WorkerTransferFigures;
  /** Whether the worker is paused: no new fetch starts then. */
  paused: () => boolean;
  /** Bytes fetched at once. */
  transferLimit: number;
  /** The worker's own address (never asked). */
  address: () => string;
  /** Log lines. */
  log: (message: string) => void;
}

/**
 * Fetches task inputs for a worker.
 *
 * @example
 * ```ts
 * import type { InputFetcher } from "./input_fetcher.ts";
 * declare const fetcher: InputFetcher;
 * const signal = new AbortController().signal;
 * await fetcher.fetch({ who: { a: ["tcp://127.0.0.1:4001"] }, sizes: { a: 8 } }, ["a"], signal, true);
 * ```
 */
export class InputFetcher {
  readonly #deps: InputFetcherParts;
  /** Bytes of fetches in flight, bounded by the transfer limit. */
  #fetchingBytes = 0;
  readonly #fetchQueue: Array<() => void> = [];
  /** Keys being fetched, and the request bringing each. */
  readonly #fetching = new Map<string, Promise<void>>();
  #sliceBytes = 0;

  /** A fetcher over the worker's `parts`. */
  constructor(parts: InputFetcherParts) {
    this.#deps = parts;
  }

  /**
   * Bytes of slices received and copied (garbage at once), for the
   * collector: V8 does not count them.
   */
  get sliceBytes(): number {
    return this.#sliceBytes;
  }

  /** Lets waiting fetches go on (the worker resumed). */
  wake(): void {
    for (const wake of this.#fetchQueue.splice(0)) wake();
  }

  /**
   * Fetches the inputs this worker lacks from the peers that hold them;
   * `reserve`: each request reserves room for its bytes first (a task
   * reserves for all its inputs itself). Resolves with the bytes its own
   * requests brought (keys another task was already fetching are awaited,
   * not counted).
   */
  async fetch(
    message: Pick<ComputeMessage, "who" | "sizes">,
    inputs: string[],
    signal: AbortSignal,
    reserve: boolean,
  ): Promise<number> {
    let fetched = 0;
    const missing = await fetchFromHolders(inputs, {
      who: message.who,
      whoHas: (keys) => this.#deps.scheduler().request("who-has", { keys }),
      has: (key) => this.#deps.store.has(key),
      inFlight: (key) => this.#fetching.get(key),
      self: this.#deps.address(),
      signal,
      fetchFrom: async (holder, keys) => {
        // Several keys go in one request, up to the transfer limit.
        const requests: Promise<number>[] = [];
        let group: string[] = [];
        let bytes = 0;
        const flush = () => {
          if (group.length === 0) return;
          const request = this.#fetch(holder, group, bytes, reserve);
          for (const key of group) {
            this.#fetching.set(key, request.then(() => {}));
          }
          requests.push(request);
          group = [];
          bytes = 0;
        };
        for (const key of keys) {
          const size = message.sizes?.[key] ?? 0;
          if (group.length > 0 && bytes + size > this.#deps.transferLimit) {
            flush();
          }
          group.push(key);
          bytes += size;
        }
        flush();
        for (const brought of await Promise.all(requests)) fetched += brought;
      },
    });
    if (missing.length > 0) {
      throw new Error(
        `could not fetch inputs ${missing.join(", ")} from any holder`,
      );
    }
    return fetched;
  }

  /**
   * One `get-data` request. Waits while other fetches hold the transfer
   * limit's bytes (one fetch always proceeds) or the worker is paused.
   * Resolves with the bytes it brought (received or linked); a failure is
   * logged and brings nothing.
   */
  async #fetch(
    holder: string,
    keys: string[],
    bytes: number,
    reserve: boolean,
  ): Promise<number> {
    let brought = 0;
    try {
      while (
        (this.#fetchingBytes > 0 &&
          this.#fetchingBytes + bytes > this.#deps.transferLimit) ||
        this.#deps.paused()
      ) {
        await new Promise<void>((resolve) => this.#fetchQueue.push(resolve));
      }
      this.#fetchingBytes += bytes;
      // Shared mode: a same-host peer answers with a link, which needs no room.
      const release = reserve && this.#deps.mode.fetchReservesRoom
        ? await this.#deps.room.reserve(bytes)
        : () => {};
      try {
        const peer = await this.#deps.peers.get(holder);
        const link = this.#deps.mode.linkAsk;
        testStopAt("fetch"); // tests only: killed mid-transfer
        let reply = await peer.request("get-data", {
          keys,
          link,
          slices: true,
        });
        for (const [key, file] of Object.entries(reply.sliced ?? {})) {
          if (this.#deps.store.has(key)) continue;
          const frames = await this.#fetchSlices(peer, key, file);
          this.#stored(key, frames);
          brought += framesByteLength(frames);
        }
        if (reply.links !== undefined) {
          const failed = await this.#deps.mode.adoptLinks(
            this.#deps.store,
            holder,
            reply.links,
            (key, bytes) => this.#linked(key, bytes),
          );
          for (const [key, file] of Object.entries(reply.links)) {
            if (!failed.includes(key)) brought += file.bytes;
          }
          reply = failed.length === 0
            ? { data: {} }
            : await peer.request("get-data", { keys: failed });
        }
        for (const [key, frames] of Object.entries(reply.data)) {
          if (this.#deps.store.has(key)) continue;
          this.#stored(key, frames);
          brought += framesByteLength(frames);
        }
      } catch (error) {
        this.#deps.log(
          `fetching ${keys.join(", ")} from ${holder} failed: ${
            (error as Error).message
          }`,
        );
        this.#deps.peers.drop(holder);
      } finally {
        release();
        this.#fetchingBytes -= bytes;
        for (const wake of this.#fetchQueue.splice(0)) wake();
      }
    } finally {
      for (const key of keys) this.#fetching.delete(key);
    }
    return brought;
  }

  /** Keeps frames fetched from a peer, and tells the scheduler. */
  #stored(key: string, frames: Frames): void {
    this.#deps.store.setFrames(key, frames);
    const nbytes = framesByteLength(frames);
    this.#deps.transfers.fetchedKeys++;
    this.#deps.transfers.fetchedBytes += nbytes;
    this.#deps.scheduler().notify("add-replica", { key, nbytes })
      .catch(() => {});
  }

  /** Keeps count of a key taken by hard link, and tells the scheduler. */
  #linked(key: string, bytes: number): void {
    const transfers = this.#deps.transfers;
    transfers.linkedKeys = (transfers.linkedKeys ?? 0) + 1;
    transfers.linkedBytes = (transfers.linkedBytes ?? 0) + bytes;
    this.#deps.scheduler().notify("add-replica", { key, nbytes: bytes })
      .catch(() => {});
  }

  /**
   * Takes a peer's spilled key in slices (a few requests in flight) into
   * one buffer of this worker's pool, and decodes it (checked like any
   * frames received).
   */
  async #fetchSlices(
    peer: WorkerPeer,
    key: string,
    file: SlicedFile,
  ): Promise<Frames> {
    const into = this.#deps.allocate(file.bytes);
    let next = 0;
    let failed = false;
    const take = async (): Promise<void> => {
      while (!failed && next < file.bytes) {
        const offset = next;
        const length = Math.min(SLICE_BYTES, file.bytes - offset);
        next += length;
        const { bytes } = await peer.request(
          "get-slice",
          { key, file: file.file, offset, length },
        ).catch((error) => {
          failed = true; // the other requests stop too
          throw error;
        });
        if (bytes.byteLength !== length) {
          throw new Error(
            `a slice of ${key} came with ${bytes.byteLength} bytes, not ${length}`,
          );
        }
        into.set(bytes, offset);
        this.#sliceBytes += length;
      }
    };
    await Promise.all(Array.from({ length: SLICES_IN_FLIGHT }, take));
    return decodeFrames(into);
  }
}

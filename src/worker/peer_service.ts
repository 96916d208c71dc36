/**
 * What a worker serves to peers and clients on its listening address
 * (`WorkerOperations`): frames of the keys it holds (links to a same-host
 * peer in shared-memory mode, slices of large spilled keys to a peer that
 * takes them), slices, keys put by a client, and replication on request.
 *
 * @module
 */
import type { SlicedFile, WorkerOperations } from "../protocol/mod.ts";
import type { WorkerTransferFigures } from "../protocol/mod.ts";
import {
  checkBody,
  checkHolders,
  checkKeys,
  type Replicate,
  SLICE_BYTES,
} from "../protocol/mod.ts";
import { ReplyThen, type RpcHandlers } from "../comm/rpc.ts";
import { type Frames, framesByteLength } from "../serialize/frames.ts";
import type { PeerSpillBuffer } from "../store/peer_files.ts";
import type { InputFetcher } from "./input_fetcher.ts";
import type { WorkerMode } from "./mode.ts";
import type { Room } from "./room.ts";

/** Spilled keys larger than this go to peers in slices (`get-slice`). */
const SLICE_ABOVE = 4 * 2 ** 20;

/**
 * What the peer service works with: the worker's parts.
 *
 * @example
 * ```ts
 * import type { PeerServiceParts } from "./peer_service.ts";
 * type Counters = PeerServiceParts["transfers"]; // WorkerTransferFigures
 * ```
 */
export interface PeerServiceParts {
  /** The worker's store. */
  store: PeerSpillBuffer;
  /** Memory reserved by steps under way (keys read back to be served take some). */
  room: Room;
  /** Private or shared-memory mode. */
  mode: WorkerMode;
  /** The worker's transfer counters (updated here). */
  transfers: WorkerTransferFigures;
  /** Fetches keys for `replicate`. */
  fetcher: InputFetcher;
}

/**
 * The handlers of `WorkerOperations` over a worker's `parts`.
 *
 * @example
 * ```ts
 * import { peerHandlers, type PeerServiceParts } from "./peer_service.ts";
 * declare const parts: PeerServiceParts;
 * const handlers = peerHandlers(parts);
 * handlers.ping(undefined, undefined as never); // "pong"
 * ```
 */
export function peerHandlers(
  parts: PeerServiceParts,
): Omit<RpcHandlers<WorkerOperations>, "register-client"> {
  const { store, room, mode, transfers, fetcher } = parts;
  return {
    "get-data": async (body) => {
      const { link, slices } = body;
      const keys = checkKeys(
        checkBody(body, "get-data").keys,
        "get-data: keys",
      );
      const linked = await mode.serveLinks(store, keys, link);
      if (linked !== null) {
        const files = Object.values(linked.links ?? {});
        transfers.servedKeys += files.length;
        transfers.servedLinkedBytes = (transfers.servedLinkedBytes ?? 0) +
          files.reduce((sum, file) => sum + file.bytes, 0);
        return linked;
      }
      // Large keys on disk that would not fit in memory now go in slices
      // to a peer that takes them so: they are never read back whole
      // here. (Slices cost round trips: a key that fits is read whole.)
      const sliced = new Map<string, SlicedFile>();
      if (slices === true) {
        let whole = 0;
        for (const key of keys) {
          const file = store.spilledFileOf(key);
          if (file === undefined) continue;
          if (
            file.bytes > SLICE_ABOVE && !room.fits(whole + file.bytes)
          ) {
            sliced.set(key, file);
          } else whole += file.bytes;
        }
      }
      // Keys read back from disk to be served take room until sent.
      let reading = 0;
      for (const key of keys) {
        if (store.state(key) === "spilled" && !sliced.has(key)) {
          reading += store.nbytes(key);
        }
      }
      const release = await room.reserve(reading, { wait: false });
      const data: Record<string, Frames> = {};
      try {
        for (const key of keys) {
          if (!store.has(key) || sliced.has(key)) continue;
          const frames = await store.getFrames(key);
          data[key] = frames;
          transfers.servedKeys++;
          transfers.servedBytes += framesByteLength(frames);
        }
      } catch (error) {
        release();
        throw error;
      }
      for (const file of sliced.values()) {
        transfers.servedKeys++;
        transfers.servedBytes += file.bytes;
      }
      return new ReplyThen(
        sliced.size === 0
          ? { data }
          : { data, sliced: Object.fromEntries(sliced) },
        release,
      );
    },
    "get-slice": async ({ key, file, offset, length }) => {
      if (
        !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) ||
        offset < 0 || length < 0 || length > SLICE_BYTES
      ) {
        throw new RangeError(
          `get-slice: offset and length must be integers, 0 ≤ length ≤ ${SLICE_BYTES}; got ${offset} and ${length}`,
        );
      }
      const bytes = new Uint8Array(length);
      await store.readSpilledRange(key, file, offset, bytes);
      return { bytes };
    },
    "put-data": (body) => {
      const data = checkBody(
        checkBody(body, "put-data").data,
        "put-data: data",
      );
      const nbytes: Record<string, number> = {};
      // Every key's frames are checked (framesByteLength throws a
      // TypeError for a bad shape) before any is stored.
      for (const [key, frames] of Object.entries(data)) {
        if (typeof frames !== "object" || frames === null) {
          throw new TypeError(
            `put-data: the frames of ${JSON.stringify(key)} are not frames`,
          );
        }
        nbytes[key] = framesByteLength(frames as Frames);
      }
      for (const [key, frames] of Object.entries(data)) {
        store.setFrames(key, frames as Frames);
      }
      return { nbytes };
    },
    // Copy keys from their holders into this worker (a peer transfer on
    // request: replication, and bench/peer_transfer.ts).
    "replicate": async (body) => {
      const { sizes } = checkBody(body, "replicate") as Partial<Replicate>;
      // Checked before fetching: a fetch of keys nobody holds retries for
      // minutes, holding what it was given.
      const keys = checkKeys(body.keys, "replicate: keys");
      const who = checkHolders(body.who, "replicate: who");
      const start = performance.now();
      await fetcher.fetch(
        { who, sizes: sizes ?? {} },
        keys,
        new AbortController().signal,
        true,
      );
      return { seconds: (performance.now() - start) / 1000 };
    },
    "ping": () => "pong",
  };
}

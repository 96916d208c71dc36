/**
 * Spill files shared with same-host peers (shared-memory mode): a
 * {@linkcode PeerSpillBuffer} is a {@linkcode SpillBuffer} that hands its
 * keys' files to peers to hard-link, takes peers' files the same way, and
 * adopts files that an executor wrote itself. It works over the store's
 * spill-file primitive (`SpillBuffer.newSpillFile`,
 * `SpillBuffer.ensureSpillFile`), so the store's policy knows nothing of
 * peers.
 *
 * @module
 */
import { checkKey, SpillBuffer, StoreClosedError } from "./spill_buffer.ts";
import {
  isMappingTier,
  type LinkOptions,
  type MappingSpillTier,
  type SpillTier,
} from "./tier.ts";

/**
 * A key's spill file, as {@linkcode PeerSpillBuffer.spilledFile} gives it
 * to a same-host peer.
 *
 * @example
 * ```ts
 * import type { PeerSpillBuffer, SpilledFile } from "./peer_files.ts";
 * declare const donor: PeerSpillBuffer;
 * const file: SpilledFile = await donor.spilledFile("x"); // { path, bytes }
 * ```
 */
export interface SpilledFile {
  /** Absolute path of the file, inside the shared spill root. */
  path: string;
  /** The file's size in bytes. */
  bytes: number;
}

/**
 * A spill file that a producer writes itself (an executor thread, in the
 * shared-memory mode): see {@linkcode PeerSpillBuffer.prepareSpillFile}.
 *
 * @example
 * ```ts
 * import type { PeerSpillBuffer, PreparedSpillFile } from "./peer_files.ts";
 * import { writeSpillFileSync } from "./spill_files.ts";
 * import { serialize } from "../serialize/serialize.ts";
 * declare const store: PeerSpillBuffer;
 * const prepared: PreparedSpillFile = await store.prepareSpillFile("x");
 * writeSpillFileSync(prepared.path, serialize(new Float64Array(8))); // in the executor
 * await prepared.adopt(); // "x" is now spilled
 * ```
 */
export interface PreparedSpillFile {
  /** Where to write: `<path>.tmp` first, renamed to `<path>` once whole. */
  readonly path: string;
  /**
   * Takes the written file as the key's value (replacing any earlier one):
   * the key is then "spilled", and counts as one spill. Rejects, leaving
   * the store unchanged, when nothing whole was written at `path`.
   */
  adopt(): Promise<void>;
  /** Removes whatever was written; the store is unchanged. */
  abandon(): Promise<void>;
}

/**
 * A {@linkcode SpillBuffer} whose spill files same-host peers share by
 * hard link. Each method needs a spill tier that maps and links files
 * (`SharedTier`) and rejects with a TypeError saying so otherwise; with
 * any other tier the store works as a plain `SpillBuffer`.
 *
 * @example
 * ```ts
 * import { PeerSpillBuffer } from "./peer_files.ts";
 * import { SharedTier } from "./shared_tier.ts";
 * const donor = new PeerSpillBuffer({ spillTier: new SharedTier({ directory: "/mnt/spillway/w1" }), target: 0 });
 * const receiver = new PeerSpillBuffer({ spillTier: new SharedTier({ directory: "/mnt/spillway/w2" }), target: 0 });
 * donor.set("x", new Float64Array(1 << 20));
 * const file = await donor.spilledFile("x");
 * await receiver.linkFrom("x", file.path, "/mnt/spillway", { bytes: file.bytes });
 * ```
 */
export class PeerSpillBuffer extends SpillBuffer {
  /**
   * Adopts `key` from a same-host peer by hard-linking the peer's spill
   * file at `sourcePath` (which must lie inside `sharedRoot`) into this
   * store's directory: no bytes are copied, and the key is then "spilled"
   * (replacing any earlier value of it). Needs a spill tier that links
   * (`SharedTier`). Rejects with the tier's `LinkError` (its `code`:
   * `EXDEV`, `EPERM`, `ENOENT`, `OUTSIDE_ROOT`, ...) when the link cannot be
   * made; the store is then unchanged and the caller fetches the bytes
   * instead.
   */
  async linkFrom(
    key: string,
    sourcePath: string,
    sharedRoot: string,
    options?: LinkOptions,
  ): Promise<void> {
    if (this.closed) throw new StoreClosedError();
    checkKey(key);
    const tier = linkingTier(this.spillTier);
    const slot = this.newSpillFile(key);
    await slot.fill(
      () => tier.linkFrom(slot.file, sourcePath, sharedRoot, options),
      false,
    );
  }

  /**
   * Reserves a spill file for `key` that the caller writes itself, then
   * adopts: an executor that made a large result writes it straight to the
   * tmpfs and frees its buffers, so the value never passes through this
   * thread's memory. Needs a spill tier that maps files (`SharedTier`).
   */
  async prepareSpillFile(key: string): Promise<PreparedSpillFile> {
    if (this.closed) throw new StoreClosedError();
    checkKey(key);
    const tier = linkingTier(this.spillTier);
    const slot = this.newSpillFile(key);
    const path = await tier.reserve(slot.file);
    let settled = false;
    const settle = () => {
      if (settled) throw new Error(`spill file ${path} was already settled`);
      settled = true;
    };
    return {
      path,
      adopt: async () => {
        settle();
        if (this.closed) {
          await tier.abandon(path);
          throw new StoreClosedError();
        }
        await slot.fill(() => tier.adopt(slot.file, path), true);
      },
      abandon: () => {
        settle();
        return tier.abandon(path);
      },
    };
  }

  /**
   * The spill file of `key`, for a same-host peer to hard-link (see
   * {@linkcode PeerSpillBuffer.linkFrom}). A key not yet on disk is written
   * first (or its write in flight is awaited); it stays in memory as it
   * was. Needs a spill tier that links (`SharedTier`). Rejects with
   * `KeyNotFoundError`, or with an error saying why the key could not be
   * written (the peer then gets its bytes instead). The file stays until
   * the key is deleted or overwritten here; a peer's link outlives it.
   */
  async spilledFile(key: string): Promise<SpilledFile> {
    const tier = linkingTier(this.spillTier);
    return await this.ensureSpillFile(key, (file): SpilledFile | undefined => {
      const path = tier.pathOf(file);
      return path === undefined ? undefined : { path, bytes: tier.size(file) };
    });
  }
}

/** `tier` as a tier that maps and links files; a TypeError saying so otherwise. */
function linkingTier(tier: SpillTier): MappingSpillTier {
  if (!isMappingTier(tier)) {
    throw new TypeError(
      `hard links between workers need a spill tier that maps and links files (a SharedTier); this store's is "${tier.name}"`,
    );
  }
  return tier;
}

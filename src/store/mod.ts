/**
 * The worker's memory store: a {@linkcode SpillBuffer} composing a live
 * tier, a serialized tier and a disk tier under an LRU spill policy; a
 * {@linkcode PeerSpillBuffer} also shares its spill files with same-host
 * peers (shared-memory mode).
 *
 * @example
 * ```ts
 * import { SpillBuffer } from "./mod.ts";
 * await using store = new SpillBuffer({ directory: await Deno.makeTempDir(), target: 1 << 20 });
 * store.set("a", new Float64Array(1 << 18)); // 2 MiB: over the target, so it goes to disk
 * await store.idle();
 * store.state("a"); // "spilled"
 * ```
 *
 * @module
 */
export {
  KeyNotFoundError,
  type KeyState,
  type SetOptions,
  SpillBuffer,
  type SpillBufferOptions,
  type SpillFileSlot,
  StoreClosedError,
} from "./spill_buffer.ts";
export {
  PeerSpillBuffer,
  type PreparedSpillFile,
  type SpilledFile,
} from "./peer_files.ts";
export type {
  CodecFigures,
  FailureKind,
  MappingStats,
  StoreMetrics,
  TierFigures,
  TransferFigures,
} from "../protocol/store_metrics.ts";
export type { BackoffOptions } from "./failures.ts";
export {
  isMappingTier,
  type LinkOptions,
  type MappingSpillTier,
  type MaybePromise,
  type SpillTier,
  type Tier,
} from "./tier.ts";
export type { Frames } from "../serialize/frames.ts";
export { MemoryTier } from "./memory_tier.ts";
export { DiskTier, type DiskTierOptions } from "./disk_tier.ts";
export { SharedTier, type SharedTierOptions } from "./shared_tier.ts";
export { writeSpillFileSync } from "./spill_files.ts";
export { LinkError } from "./link.ts";
export {
  collectMappings,
  isMappedBuffer,
  mapFile,
  mapFrames,
  mappingStats,
} from "./mapping.ts";
export {
  checkSharedSpillRoot,
  type SharedSpillRoot,
  SharedSpillRootError,
  type SharedSpillRootProblem,
  type SharedSpillRootProblemCode,
  TMPFS_MAGIC,
  tmpfsSetupCommands,
  type TmpfsSetupOptions,
} from "./tmpfs.ts";
export { FfiUnavailableError, LibcError, libcPath } from "../platform/libc.ts";

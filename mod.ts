/**
 * Spillway: a Deno-native distributed task runtime whose workers hold data
 * larger than their memory.
 *
 * This module is the public API: the client ({@linkcode Client},
 * {@linkcode Future}) and {@linkcode LocalCluster}, the worker's memory store,
 * {@linkcode SpillBuffer}, the value codec ({@linkcode serialize},
 * {@linkcode deserialize} and the frame layout shared by wire and disk), and
 * the memory manager ({@linkcode MemoryManager}, {@linkcode sizeof},
 * {@linkcode parseMemoryLimit}).
 *
 * @example A store that spills what does not fit in 64 MiB
 * ```ts
 * import { SpillBuffer } from "@spillway/spillway";
 *
 * await using store = new SpillBuffer({
 *   directory: await Deno.makeTempDir(),
 *   target: 64 * 2 ** 20,
 * });
 * for (let i = 0; i < 4; i++) store.set(`chunk-${i}`, new Float64Array(4 * 2 ** 20));
 * await store.idle();
 * console.log(store.metrics().spilled); // { count: 2, bytes: ... }
 * const first = await store.get("chunk-0") as Float64Array; // read back from disk
 * ```
 *
 * @example A class of your own as a task's argument and result
 * ```ts
 * import { registerCodec } from "@spillway/spillway";
 *
 * // In a module the client and the workers import (a task module, or one
 * // named in `codecs:` on LocalCluster / `--codecs` on `spillway worker`):
 * export class Point {
 *   constructor(readonly x: number, readonly y: number) {}
 * }
 * registerCodec(Point, {
 *   name: "geo.Point", // the type id written into frames: keep it stable
 *   encode: (p) => [p.x, p.y],
 *   decode: ([x, y]: number[]) => new Point(x, y),
 * });
 * ```
 *
 * @module
 */
export {
  type BackoffOptions,
  type CodecFigures,
  DiskTier,
  type DiskTierOptions,
  type FailureKind,
  KeyNotFoundError,
  type KeyState,
  type LinkOptions,
  type MappingStats,
  type MaybePromise,
  PeerSpillBuffer,
  type PreparedSpillFile,
  type SetOptions,
  SpillBuffer,
  type SpillBufferOptions,
  type SpilledFile,
  type SpillFileSlot,
  type SpillTier,
  StoreClosedError,
  type StoreMetrics,
  type Tier,
  type TierFigures,
  type TransferFigures,
} from "./src/store/mod.ts";
export {
  type AsCompleted,
  asCompleted,
  CancelledError,
  Client,
  type ClientOptions,
  type ClusterCredentials,
  Future,
  type FutureOwner,
  type FuturesInside,
  type Gathered,
  type MaybeFuture,
  type ModuleProxy,
  type Opaque,
  type ProgressOptions,
  type ProgressSource,
  RemoteTaskError,
  type ResultOptions,
  type ReturnWhen,
  SchedulerLostError,
  showProgress,
  type TaskOptions,
  TimeoutError,
  wait,
  type WaitOptions,
  type WaitResult,
} from "./src/client/mod.ts";
export {
  LocalCluster,
  type LocalClusterOptions,
  type LocalClusterWorker,
  SpillPathError,
} from "./src/cluster/mod.ts";
export type { WorkerConfig } from "./src/worker/config.ts";
export type { TaskPermissions } from "./src/worker/task_permissions.ts";
export type { TlsFiles, TlsOptions } from "./src/comm/tls.ts";
export {
  AuthenticationError,
  ProtocolVersionError,
} from "./src/comm/errors.ts";
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  PROTOCOL_VERSION,
} from "./src/protocol/version.ts";
export {
  configureLogging,
  type LogFields,
  type LogFormat,
  type LogFunction,
  type LoggingSettings,
  type LogLevel,
  type LogSinkOptions,
} from "./src/comm/log.ts";
export type {
  ClusterSummary,
  ClusterTotals,
  DashboardUpdate,
  DepartedWorker,
  EventLoopSummary,
  MemorySegments,
  StartStop,
  TaskAction,
  TaskCounts,
  TaskState,
  TaskStreamRecord,
  TaskStreamRequest,
  ThresholdFractions,
  WorkerDescription,
  WorkerMemory,
  WorkerStatus,
  WorkerTaskState,
  WorkerTransferFigures,
} from "./src/protocol/mod.ts";
export {
  decodeFrames,
  deserialize,
  encodeFrames,
  FrameDecodeError,
  type Frames,
  framesByteLength,
  SerializationError,
  serialize,
} from "./src/serialize/mod.ts";
export {
  type CodecOptions,
  CodecValue,
  type DeserializeOptions,
  registerCodec,
  UnknownCodecError,
} from "./src/serialize/mod.ts";
export {
  DEFAULT_THRESHOLDS,
  formatBytes,
  type ManagedStore,
  MemoryManager,
  type MemoryManagerEventMap,
  type MemoryManagerOptions,
  type MemoryReport,
  type MemoryThresholds,
  parseBytes,
  parseMemoryLimit,
  type ParseMemoryLimitOptions,
  sizeof,
} from "./src/memory/mod.ts";

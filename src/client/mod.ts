/**
 * The client side of a Spillway cluster: {@linkcode Client} submits tasks
 * and fetches results; {@linkcode Future} names a result.
 *
 * @example
 * ```ts
 * import { Client } from "./mod.ts";
 * // The task module's type; a real program writes `typeof import("./ops.ts")`.
 * type Ops = {
 *   chunk(seed: number, n: number): Float64Array;
 *   dot(a: Float64Array, b: Float64Array): number;
 * };
 * await using client = await Client.connect("tcp://127.0.0.1:8786");
 * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * console.log(await ops.dot(ops.chunk(0, 1e6), ops.chunk(1, 1e6)).result());
 * ```
 *
 * @module
 */
export {
  Client,
  type ClientOptions,
  type ClusterCredentials,
  type FuturesInside,
  type Gathered,
  type MaybeFuture,
  type ModuleProxy,
  type Opaque,
} from "./client.ts";
export {
  Future,
  type FutureOwner,
  RemoteTaskError,
  type ResultOptions,
} from "./future.ts";
export {
  type AsCompleted,
  asCompleted,
  type ReturnWhen,
  wait,
  type WaitOptions,
  type WaitResult,
} from "./many.ts";
export { TimeoutError } from "./timeout_error.ts";
export { SchedulerLostError } from "./liveness.ts";
export { CancelledError } from "./cancelled_error.ts";
export { type TaskOptions } from "./task_options.ts";
export {
  type ProgressOptions,
  type ProgressSource,
  showProgress,
} from "./progress.ts";

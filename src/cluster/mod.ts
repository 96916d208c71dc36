/**
 * Running a Spillway cluster as processes: {@linkcode LocalCluster} starts a
 * scheduler and workers on this machine, each a separate process with
 * least-privilege Deno permissions, on free ports.
 *
 * @example A cluster of two workers, a client, a result
 * ```ts
 * import { Client, LocalCluster } from "@spillway/spillway";
 * // The task module's type; a real program writes `typeof import("./ops.ts")`.
 * type Ops = {
 *   chunk(seed: number, n: number): Float64Array;
 *   dot(a: Float64Array, b: Float64Array): number;
 * };
 *
 * await using cluster = await LocalCluster.start({
 *   workers: 2,
 *   memoryLimit: "1GiB",
 *   modules: [new URL("./tasks/", import.meta.url)],
 * });
 * await using client = await Client.connect(cluster.address);
 * const ops = client.module<Ops>(new URL("./tasks/ops.ts", import.meta.url));
 * console.log(await ops.dot(ops.chunk(0, 1e6), ops.chunk(1, 1e6)).result());
 * ```
 *
 * @module
 */
export {
  LocalCluster,
  type LocalClusterOptions,
  type LocalClusterWorker,
} from "./local_cluster.ts";
export { SpillPathError } from "./permissions.ts";

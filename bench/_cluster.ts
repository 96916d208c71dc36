/**
 * Helpers of the benchmarks that run a local cluster.
 *
 * @module
 */
import type { Client } from "../src/client/client.ts";
import type { RpcPeer } from "../src/comm/rpc.ts";
import { connect } from "../src/comm/server.ts";

/**
 * Copies `key` (of `bytes` bytes) from the worker holding it to the other
 * worker with the `replicate` operation; returns the milliseconds from the
 * request to its reply.
 */
export async function timeReplication(
  client: Client,
  scheduler: RpcPeer,
  key: string,
  bytes: number,
): Promise<number> {
  const who = await scheduler.request("who-has", { keys: [key] }) as Record<
    string,
    string[]
  >;
  const holder = who[key][0];
  const receiver = (await client.workers()).find((w) => w.address !== holder)!
    .address;
  await using to = await connect(receiver);
  const start = performance.now();
  await to.request("replicate", { keys: [key], who, sizes: { [key]: bytes } });
  return performance.now() - start;
}

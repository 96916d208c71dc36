/**
 * Starts a LocalCluster whose workers spill, holds some spilled keys, prints
 * `ready <spill root>`, and waits to be killed (the orphan test kills it
 * with SIGKILL: no close()).
 */
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops } from "../cluster/_support.ts";

const cluster = await LocalCluster.start({
  workers: 2,
  memoryLimit: "256MiB",
  target: 0, // every result spilled at once
  spillDir: Deno.args[0],
  modules: [FIXTURES],
  log: () => {},
});
const client = await Client.connect(cluster.address, { log: () => {} });
const m = client.module<Ops>(OPS);
const chunks = [0, 1, 2, 3].map((i) => m.chunk(i, 100_000));
await client.gather(chunks);
console.log(`ready ${cluster.spillRoot}`);
// Held until this process is killed.
setInterval(() => chunks.length, 1000);

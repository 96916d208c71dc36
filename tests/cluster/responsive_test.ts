/**
 * The worker's control loop stays responsive during a 2-second CPU-bound
 * task: a ping to the worker, sent after the task started, is answered
 * before it ends (order of events on the host's clock, no timing bound).
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import { FIXTURES } from "./_support.ts";

const CLOCK_OPS = new URL("./fixtures/clock_ops.ts", import.meta.url);

Deno.test("a ping is answered while the only worker spins for 2 s", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  await using peer = await connect(cluster.workers[0].address, {
    log: () => {},
  });
  const m = client.module<typeof import("./fixtures/clock_ops.ts")>(CLOCK_OPS);
  const task = m.spinClock(2000).result();
  let settled = false;
  task.finally(() => settled = true);
  const pings: { sent: number; answered: number }[] = [];
  while (!settled) {
    const sent = Date.now();
    assert.equal(await peer.request("ping"), "pong");
    pings.push({ sent, answered: Date.now() });
    await new Promise((r) => setTimeout(r, 50));
  }
  const { start, end } = await task;
  const during = pings.filter((p) => p.sent > start && p.answered < end);
  assert.ok(
    during.length > 0,
    `no ping both sent after the task started (${start}) and answered before it ended (${end}): ${
      JSON.stringify(pings)
    }`,
  );
});

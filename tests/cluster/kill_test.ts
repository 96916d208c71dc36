/**
 * A worker killed with SIGKILL mid-run: the scheduler recomputes what it
 * held and was running, the nanny starts a fresh worker process, and the
 * result is still correct.
 */
import type { SchedulerSnapshot } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import {
  exists,
  expectedDot,
  FIXTURES,
  OPS,
  type Ops,
  until,
} from "./_support.ts";

Deno.test("SIGKILL of a worker running a task and holding inputs of pending ones: the result is still correct", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 2,
    modules: [FIXTURES],
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  await using scheduler = await connect(cluster.address, { log: () => {} });
  const snapshot = async () =>
    await scheduler.request("snapshot") as SchedulerSnapshot;
  const m = client.module<Ops>(OPS);
  const n = 100_000;
  const chunks = [0, 1, 2, 3].map((i) => m.chunk(i, n));
  await client.gather(chunks);
  // Both workers hold chunks once they are computed (least busy first).
  const holders = (await snapshot()).workers.filter((w) => w.keys.length > 0);
  assert.equal(holders.length, 2, "chunks on both workers");

  const slow = m.spin(1500);
  const dots = [m.dot(chunks[0], chunks[1]), m.dot(chunks[2], chunks[3])];
  const total = m.sum(dots[0], dots[1], slow);
  // Kill the worker that runs the spin, once it runs it.
  const victim = await until(
    async () =>
      (await snapshot()).workers.find((w) => w.processing.includes(slow.key)),
    "the spin to be running",
  );
  const i = cluster.workers.findIndex((w) => w.address === victim.id);
  const { pid, spillDir } = cluster.workers[i];
  assert.deepEqual(cluster.killWorker(i), pid);

  let expected = expectedDot(0, 1, n) + expectedDot(2, 3, n) + 1500;
  assert.equal(await total.result(), expected, lines.join("\n"));
  // Every chunk is still there (recomputed where it was lost).
  const again = m.sum(m.dot(chunks[0], chunks[3]), m.dot(chunks[1], chunks[2]));
  expected = expectedDot(0, 3, n) + expectedDot(1, 2, n);
  assert.equal(await again.result(), expected);

  const fresh = await cluster.restarted(i, pid);
  assert.notEqual(fresh.pid, pid);
  assert.equal(fresh.restarts, 1);
  assert.ok(!exists(spillDir), "the killed worker's spill dir is removed");
  await until(
    async () => (await client.workers()).length === 2,
    "two workers again",
  );
  assert.ok(lines.some((l) => /was killed by SIGKILL; restarting/.test(l)));
});

Deno.test("without a nanny, the other worker takes over", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    nanny: false,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const m = client.module<Ops>(OPS);
  const chunks = [0, 1, 2, 3].map((i) => m.chunk(i, 10_000));
  await client.gather(chunks);
  cluster.killWorker(0);
  await until(
    async () => (await client.workers()).length === 1,
    "the killed worker to be removed",
  );
  const total = m.sum(m.dot(chunks[0], chunks[1]), m.dot(chunks[2], chunks[3]));
  assert.equal(
    await total.result(),
    expectedDot(0, 1, 10_000) + expectedDot(2, 3, 10_000),
  );
});

/** LocalCluster: real scheduler and worker processes on this machine. */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import {
  alive,
  exists,
  expectedDot,
  FIXTURES,
  OPS,
  type Ops,
  until,
} from "./_support.ts";

const quiet = () => {};

Deno.test("LocalCluster computes a graph; two clusters run side by side; close() leaves no process and no spill dir", async () => {
  const [a, b] = await Promise.all([
    LocalCluster.start({ workers: 2, modules: [FIXTURES], log: quiet }),
    LocalCluster.start({ workers: 1, modules: [FIXTURES], log: quiet }),
  ]);
  const pids: number[] = [];
  const dirs: string[] = [];
  try {
    assert.notEqual(a.address, b.address);
    for (const cluster of [a, b]) {
      pids.push(cluster.schedulerPid);
      dirs.push(cluster.spillRoot);
      for (const w of cluster.workers) {
        pids.push(w.pid, w.nannyPid!);
        dirs.push(w.spillDir);
        assert.ok(exists(w.spillDir), w.spillDir);
      }
    }
    await using ca = await Client.connect(a.address, { log: quiet });
    await using cb = await Client.connect(b.address, { log: quiet });
    assert.equal((await ca.workers()).length, 2);
    assert.equal((await cb.workers()).length, 1);
    const ma = ca.module<Ops>(OPS);
    const mb = cb.module<Ops>(OPS);
    const dots = [];
    for (let i = 0; i < 6; i++) {
      dots.push(ma.dot(ma.chunk(i, 10_000), ma.chunk(i + 1, 10_000)));
    }
    const total = ma.sum(...dots);
    const [ra, rb] = await Promise.all([
      total.result(),
      mb.dot(mb.chunk(2, 1000), mb.chunk(3, 1000)).result(),
    ]);
    let expected = 0;
    for (let i = 0; i < 6; i++) expected += expectedDot(i, i + 1, 10_000);
    assert.equal(ra, expected);
    assert.equal(rb, expectedDot(2, 3, 1000));
    // Both workers of `a` took part: each ran at least one of its 19 tasks
    // (12 chunks: each dot has two of its own; 6 dots; 1 sum), as the task
    // stream records them.
    const workers = await ca.workers();
    assert.equal(workers.length, 2);
    const records = await until(async () => {
      const r = await ca.taskStream();
      return r.length === 19 ? r : null;
    }, "19 task records of cluster a");
    const ran = new Set(records.map((r) => r.worker));
    for (const w of workers) {
      assert.ok(ran.has(w.address), `worker ${w.address} ran no task`);
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  for (const pid of pids) assert.ok(!alive(pid), `process ${pid} still runs`);
  for (const dir of dirs) assert.ok(!exists(dir), `${dir} still exists`);
});

Deno.test("a spill root under /dev is refused with a clear message", async () => {
  await assert.rejects(
    LocalCluster.start({ spillDir: "/dev/shm/spillway-test", log: quiet }),
    /under \/dev.*tmpfs mounted elsewhere.*allowAll/,
  );
  assert.ok(!exists("/dev/shm/spillway-test"));
});

/**
 * The task stream (`client.taskStream()`): each worker records the phases
 * of each task it runs and the scheduler keeps them. Checked on a real
 * cluster of worker processes whose stores spill every result at once
 * (target 0), so that tasks read inputs back from disk and fetch them from
 * each other; the bytes the records show must agree with the workers' own
 * counters.
 */
import type { TaskAction } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { RemoteTaskError } from "../../src/client/future.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops, until } from "./_support.ts";
import { TASK_ACTIONS } from "../../src/demo/time_table.ts";

const N = 2 ** 17; // 1 MiB of doubles per chunk

Deno.test("the task stream records where each task ran and the time of its phases", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "1GiB",
    target: 0,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const m = client.module<Ops>(OPS);
  const since = Date.now();
  // 8 chunks: more than one worker takes at once (4 per thread), so both
  // make some and dot products fetch from each other.
  const chunks = Array.from({ length: 8 }, (_, i) => m.chunk(i, N));
  const dots = [];
  for (let i = 0; i < 8; i++) {
    for (let j = i + 1; j < 8; j++) dots.push(m.dot(chunks[i], chunks[j]));
  }
  await client.gather(dots);
  const failed = m.fail("boom");
  await assert.rejects(failed.result(), RemoteTaskError);
  const until_ = Date.now();

  const records = await until(async () => {
    const r = await client.taskStream({ since });
    return r.length === 37 ? r : null;
  }, "37 task records");
  const addresses = (await client.workers()).map((w) => w.address);
  const keys = [...chunks, ...dots, failed].map((f) => f.key);
  assert.deepEqual(records.map((r) => r.key).sort(), [...keys].sort());
  for (const r of records) {
    assert.ok(addresses.includes(r.worker), r.worker);
    assert.equal(r.thread, 0);
    assert.equal(
      r.name,
      r.key === failed.key
        ? "fail"
        : chunks.some((c) => c.key === r.key)
        ? "chunk"
        : "dot",
    );
    assert.equal(
      r.startstops.filter((s) => s.action === "compute").length,
      1,
      `one compute phase in ${JSON.stringify(r)}`,
    );
    let previousStop = -Infinity;
    for (const s of r.startstops) {
      assert.ok(TASK_ACTIONS.includes(s.action), s.action);
      assert.ok(s.start <= s.stop, JSON.stringify(s));
      assert.ok(s.start >= since - 1 && s.stop <= until_ + 1, "in the run");
      // One after the other (the executor's clock may differ by a hair).
      assert.ok(s.start >= previousStop - 1, JSON.stringify(r.startstops));
      previousStop = s.stop;
    }
  }
  const erred = records.find((r) => r.key === failed.key)!;
  assert.match(erred.error ?? "", /RangeError: boom/);
  assert.equal(records.filter((r) => r.error !== undefined).length, 1);

  // The bytes agree with the workers' own counters (sent every heartbeat).
  const bytesOf = (action: TaskAction) =>
    records.reduce(
      (n, r) =>
        n +
        r.startstops.filter((s) => s.action === action).reduce(
          (m, s) => m + (s.bytes ?? 0),
          0,
        ),
      0,
    );
  assert.ok(bytesOf("transfer") > 0, "dot products fetched from a peer");
  const fetched = await until(async () => {
    const n = (await client.workers()).reduce(
      (n, w) => n + (w.transfers?.fetchedBytes ?? 0),
      0,
    );
    return n === bytesOf("transfer") ? n : null;
  }, "the workers' fetched bytes to match the records'");
  // Target 0: each chunk is spilled once made, so a dot product reads back
  // every input it did not fetch; it reads at most its two inputs.
  const read = bytesOf("disk-read");
  assert.ok(read > 0, "inputs were read back from disk");
  assert.ok(read + fetched <= dots.length * 2 * 8 * N * 1.01);
  // Each chunk's result was stored: 1 MiB and the store's small overhead.
  const stored = records.filter((r) => r.name === "chunk").map((r) =>
    r.startstops.find((s) => s.action === "store")?.bytes ?? 0
  );
  assert.equal(stored.length, chunks.length);
  for (const bytes of stored) assert.ok(bytes >= 8 * N && bytes < 8 * N + 4096);

  // since: nothing after the run; a new task, alone.
  assert.deepEqual(await client.taskStream({ since: Date.now() + 1 }), []);
  const later = Date.now();
  assert.equal(await m.inc(1).result(), 2);
  const after = await until(async () => {
    const r = await client.taskStream({ since: later });
    return r.length === 1 ? r : null;
  }, "the new task's record");
  assert.equal(after[0].name, "inc");
  assert.ok((await client.taskStream()).length >= 38, "all by default");
});

Deno.test("taskStream refuses a since that is not a time", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    memoryLimit: "256MiB",
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  await assert.rejects(
    client.taskStream({ since: Number.NaN }),
    /since must be a time in epoch milliseconds, got null/,
  );
  await assert.rejects(
    client.taskStream({ since: "yesterday" as unknown as number }),
    /since must be a time in epoch milliseconds, got "yesterday"/,
  );
});

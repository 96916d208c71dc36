/**
 * Data sets larger than the workers' combined memory limits complete by
 * spilling, each worker under its nanny (killed past 95% of the limit, as
 * users run them), with values at 1/8 of the limit (the README's rule):
 * 1 GiB of 32 MiB chunks on 2 workers × 256 MiB, and 160 MiB of 16 MiB
 * chunks on 2 workers × 128 MiB. Limits count a worker's own memory
 * (RssAnon), a peer takes spilled values in slices from the file, and
 * before a task starts or a fetch begins,
 * the worker reserves room for what it will bring into memory
 * (`src/worker/room.ts`), spilling first or waiting for a running task.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops } from "./_support.ts";
import { runAllPairs } from "../../src/demo/allpairs.ts";

const MiB = 2 ** 20;
const CHUNKS = 32;
const N = 1024 * MiB / CHUNKS / 8; // doubles per chunk

Deno.test("1 GiB in 32 MiB chunks on 2 workers × 256 MiB under nannies completes by spilling", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "256MiB",
    modules: [FIXTURES],
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const m = client.module<Ops>(OPS);
  const chunks = Array.from({ length: CHUNKS }, (_, i) => m.chunk(i, N));
  const dots = [];
  for (let k = 0; k < CHUNKS / 2; k++) {
    dots.push(m.dot(chunks[2 * k], chunks[2 * k + 1]));
  }
  const total = m.sum(...dots);
  // A stuck cluster would otherwise hang the run: fail with its logs.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`stuck; cluster log:\n${lines.join("\n")}`)),
      120_000,
    );
  });
  const [results, sum] = await Promise.race([
    Promise.all([client.gather(dots), total.result()]),
    stuck,
  ]).finally(() => clearTimeout(timer));
  for (let k = 0; k < CHUNKS / 2; k++) {
    // The same sequential loop as the task, so the same rounding.
    const a = 2 * k;
    let s = 0;
    for (let i = 0; i < N; i++) s += (a + i) * (a + 1 + i);
    assert.equal(results[k], s, `dot ${k}`);
  }
  assert.equal(sum, results.reduce((x, y) => x + y, 0));
  // Spill figures arrive with heartbeats (every second).
  const spilled = async () =>
    (await client.workers()).reduce(
      (n, w) => n + (w.store?.spills.bytes ?? 0),
      0,
    );
  let bytes = await spilled();
  for (let i = 0; i < 30 && bytes === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    bytes = await spilled();
  }
  assert.ok(bytes > 0, "the workers spilled");
  const kills = lines.filter((line) => line.includes("killing it"));
  assert.deepEqual(kills, [], "no worker passed its memory limit");
  const workers = await client.workers();
  console.log(
    `spilled ${(bytes / MiB).toFixed(0)} MiB in all; process memory now ${
      workers.map((w) => `${((w.memory?.process ?? 0) / MiB).toFixed(0)} MiB`)
        .join(", ")
    }`,
  );
});

Deno.test("the README's rule holds: 160 MiB of 16 MiB chunks (1/8 of the limit) on 2 workers × 128 MiB completes, no worker killed", async () => {
  // What `deno task start --chunks 10 --chunk 16MiB --memory-limit 128MiB`
  // runs. Nannies kill a worker past 95% of its limit.
  const lines: string[] = [];
  const result = await runAllPairs({
    chunks: 10,
    chunkBytes: 16 * MiB,
    workers: 2,
    memoryLimit: "128MiB",
    print: () => {},
    log: (line) => lines.push(line),
  });
  const kills = lines.filter((l) => /killing it|restarting/.test(l));
  assert.deepEqual(kills, [], lines.join("\n"));
  assert.ok(
    result.correct,
    `total ${result.total}, expected ${result.expected}`,
  );
  assert.equal(result.workers.length, 2);
});

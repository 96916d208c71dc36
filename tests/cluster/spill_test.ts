/**
 * A data set twice the workers' combined memory limit completes by
 * spilling: 1 GiB of Float64Array chunks on 2 workers × 256 MiB.
 *
 * Scaled from the issue's 16 × 64 MiB to 64 × 16 MiB, and run without a
 * nanny, because today's worker overshoots its limit: its RSS peaked at
 * 390–410 MiB with 64 MiB chunks and 270–330 MiB with 16 MiB chunks
 * (a ~60 MiB baseline, plus each result twice while a task returns it: the
 * executor's array and its SharedArrayBuffer copy, plus spills still being
 * written). A nanny kills such a worker at 95% of the limit (243 MiB), again
 * and again, until the scheduler fails a task as KilledWorker.
 *
 * The workers get a fixed malloc mmap threshold and `--expose-gc` from
 * LocalCluster (`src/cluster/spawn.ts`): without them a worker stayed above
 * its pause threshold with nothing left to spill, paused for good.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops } from "./_support.ts";

const MiB = 2 ** 20;
const CHUNKS = 64;
const N = 1024 * MiB / CHUNKS / 8; // doubles per chunk

Deno.test("1 GiB in 16 MiB chunks on 2 workers × 256 MiB completes by spilling", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "256MiB",
    nanny: false,
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
  const workers = await client.workers();
  console.log(
    `spilled ${(bytes / MiB).toFixed(0)} MiB in all; process memory now ${
      workers.map((w) => `${((w.memory?.process ?? 0) / MiB).toFixed(0)} MiB`)
        .join(", ")
    }`,
  );
});

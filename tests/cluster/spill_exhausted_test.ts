/**
 * Full disks at cluster level: a worker whose spill directory is a tiny
 * tmpfs (64 MiB) holds more than fits in its memory plus that disk. It
 * pauses and says "spill space exhausted" once (log, the
 * `spillway_worker_spill_failures_total{kind="no-space"}` metric, the
 * dashboard's `spillExhausted` flag). If keys are released it resumes and
 * finishes; if nothing frees within `spillExhaustedTimeout`, the tasks
 * waiting on it fail with a SpillExhaustedError, the worker stays up and
 * the keys it computed stay fetchable. Needs root (tmpfs); skipped
 * otherwise.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import type { Future } from "../../src/client/future.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { FIXTURES, OPS, type Ops, until } from "./_support.ts";

const MiB = 2 ** 20;
/** Doubles per chunk: 8 MiB, 1/32 of the worker's limit. */
const N = 8 * MiB / 8;
/** Chunks held: 320 MiB, more than 256 MiB of memory plus 64 MiB of disk. */
const CHUNKS = 40;

async function cluster(
  spillDir: string,
  spillExhaustedTimeout: number,
  lines: string[],
): Promise<LocalCluster> {
  return await LocalCluster.start({
    workers: 1,
    memoryLimit: "256MiB",
    spillDir,
    spillExhaustedTimeout,
    modules: [FIXTURES],
    dashboard: true,
    log: (line) => lines.push(line),
  });
}

/** The sum of the no-space spill failures in `/metrics`. */
async function noSpaceFailures(base: string): Promise<number> {
  const text = await (await fetch(new URL("metrics", base))).text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (
      line.startsWith("spillway_worker_spill_failures_total{") &&
      line.includes('kind="no-space"')
    ) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

/** Whether `/api/workers` flags a worker's spill space exhausted. */
async function flagged(base: string): Promise<boolean> {
  const workers = await (await fetch(new URL("api/workers", base)))
    .json() as { spillExhausted?: boolean }[];
  return workers.some((w) => w.spillExhausted === true);
}

const exhaustedLines = (lines: string[]) =>
  lines.filter((l) => l.includes("spill space exhausted:"));

Deno.test({
  name:
    "spill space exhausted: the worker pauses, says so once, resumes when keys are released and finishes",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("64m");
    const lines: string[] = [];
    await using c = await cluster(mount.path, 30_000, lines);
    await using client = await Client.connect(c.address, { log: () => {} });
    const m = client.module<Ops>(OPS);
    const chunks: Future<Float64Array>[] = [];
    for (let i = 0; i < CHUNKS; i++) chunks.push(m.chunk(i, N));
    await until(
      () => exhaustedLines(lines).length > 0,
      "the worker to say its spill space is exhausted",
      30_000,
    );
    const base = c.dashboardUrl!;
    await until(
      async () => await noSpaceFailures(base) > 0 && await flagged(base),
      "the metric and the dashboard to show no-space",
      10_000,
    );
    // Memory frees: the first 30 chunks (all those computed so far) are
    // released; the last 10 then compute, and are correct.
    for (const f of chunks.slice(0, 30)) f.release();
    for (let i = 30; i < CHUNKS; i++) {
      const value = await chunks[i].result();
      assert.equal(value.length, N);
      assert.equal(value[0], i, `chunk ${i}`);
      assert.equal(value[N - 1], i + N - 1, `chunk ${i}`);
    }
    assert.ok(lines.some((l) => l.includes("resumed")), lines.join("\n"));
    assert.equal(exhaustedLines(lines).length, 1, "logged once per episode");
    assert.deepEqual(
      lines.filter((l) => l.includes("killing it") || l.includes("restart")),
      [],
      "the worker never died",
    );
  },
});

Deno.test({
  name:
    "spill space exhausted with nothing freeing: waiting tasks fail with the spill-space error, the worker stays, held keys stay",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("64m");
    const lines: string[] = [];
    await using c = await cluster(mount.path, 3_000, lines);
    await using client = await Client.connect(c.address, { log: () => {} });
    const m = client.module<Ops>(OPS);
    const chunks: Future<Float64Array>[] = [];
    for (let i = 0; i < CHUNKS; i++) chunks.push(m.chunk(i, N));
    const outcomes = await Promise.allSettled(chunks.map((f) => f.result()));
    const failed = outcomes.flatMap((o) =>
      o.status === "rejected" ? [o.reason as Error] : []
    );
    assert.ok(failed.length > 0, "some tasks failed");
    for (const error of failed) {
      assert.match(error.message, /spill space exhausted/, error.message);
    }
    // Every computed chunk is held and correct.
    outcomes.forEach((o, i) => {
      if (o.status !== "fulfilled") return;
      assert.equal(o.value[0], i);
      assert.equal(o.value[N - 1], i + N - 1);
    });
    const computed = outcomes.filter((o) => o.status === "fulfilled").length;
    assert.ok(computed > 0, "some chunks were computed");
    assert.equal(exhaustedLines(lines).length, 1, lines.join("\n"));
    assert.ok(
      lines.some((l) => /waiting tasks failed/.test(l)),
      lines.join("\n"),
    );
    const base = c.dashboardUrl!;
    await until(
      async () => await noSpaceFailures(base) > 0 && await flagged(base),
      "the metric and the dashboard to show no-space",
      10_000,
    );
    const workers = await client.workers();
    assert.equal(workers.length, 1, "the worker is alive");
    assert.deepEqual(
      lines.filter((l) => l.includes("killing it") || l.includes("restart")),
      [],
      "the worker never died",
    );
    console.log(
      `${computed} chunks computed and held, ${failed.length} failed for want of spill space`,
    );
  },
});

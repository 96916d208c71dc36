/**
 * Executors that write their own large results to a spill file
 * (`RunOptions.spillTo`, the shared-memory mode with target 0): the value
 * never comes back to the control thread, and anything that cannot be
 * written comes back as usual instead, so nothing is lost.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeFrames } from "../../src/serialize/frames.ts";
import { deserialize } from "../../src/serialize/serialize.ts";
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { task } from "./_tasks.ts";

const MiB = 2 ** 20;
const ignore = tmpfsUnavailable !== null;

async function readValue(path: string): Promise<unknown> {
  return deserialize(decodeFrames(await Deno.readFile(path)));
}

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

Deno.test({
  name:
    "spillTo: a large result is written by the executor; only its size comes back",
  ignore,
  async fn() {
    await using tmpfs = await mountTmpfs("16m");
    await using pool = new ExecutorPool();
    const path = join(tmpfs.path, "1-k.spw");
    const n = (2 * MiB) / 8;
    const outcome = await pool.run(task("filled", n, 7), {
      spillTo: path,
      spillAbove: MiB,
    });
    assert.equal(outcome.value, undefined);
    assert.equal(outcome.spilled, (await Deno.stat(path)).size);
    assert.deepEqual(await readValue(path), new Float64Array(n).fill(7));
    assert.deepEqual(await names(tmpfs.path), ["1-k.spw"], "no .tmp left");
  },
});

Deno.test({
  name:
    "spillTo: a result under spillAbove comes back as usual and nothing is written",
  ignore,
  async fn() {
    await using tmpfs = await mountTmpfs("16m");
    await using pool = new ExecutorPool();
    const path = join(tmpfs.path, "1-k.spw");
    const outcome = await pool.run(task("filled", 16, 3), {
      spillTo: path,
      spillAbove: MiB,
    });
    assert.equal(outcome.spilled, undefined);
    assert.deepEqual(outcome.value, new Float64Array(16).fill(3));
    assert.deepEqual(await names(tmpfs.path), []);
  },
});

Deno.test({
  name:
    "spillTo on a full tmpfs: the write fails, the result comes back whole, no partial file is left",
  ignore,
  async fn() {
    await using tmpfs = await mountTmpfs("1m");
    await using pool = new ExecutorPool();
    const n = (4 * MiB) / 8;
    const outcome = await pool.run(task("filled", n, 9), {
      spillTo: join(tmpfs.path, "1-k.spw"),
      spillAbove: MiB,
    });
    assert.equal(outcome.spilled, undefined);
    assert.deepEqual(outcome.value, new Float64Array(n).fill(9));
    assert.deepEqual(await names(tmpfs.path), []);
  },
});

Deno.test({
  name:
    "spillTo: a result spill files cannot hold (a cycle) comes back for the store to report",
  ignore,
  async fn() {
    await using tmpfs = await mountTmpfs("16m");
    await using pool = new ExecutorPool();
    const outcome = await pool.run(task("cyclicWithBuffer", (2 * MiB) / 8), {
      spillTo: join(tmpfs.path, "1-k.spw"),
      spillAbove: MiB,
    });
    assert.equal(outcome.spilled, undefined);
    const value = outcome.value as { data: Float64Array; self: unknown };
    assert.equal(value.self, value);
    assert.equal(value.data.length, (2 * MiB) / 8);
    assert.deepEqual(await names(tmpfs.path), []);
  },
});

import assert from "node:assert/strict";
import { Batcher } from "../../src/comm/batcher.ts";

Deno.test("items pushed in one turn are flushed together, later ones in a new batch", async () => {
  const batches: number[][] = [];
  const batcher = new Batcher<number>((items) => batches.push(items));
  for (let i = 0; i < 1000; i++) batcher.push(i);
  assert.equal(batches.length, 0, "nothing is sent synchronously");
  await Promise.resolve();
  assert.equal(batches.length, 1);
  assert.equal(batches[0].length, 1000);
  batcher.push(7);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(batches[1], [7]);
});

Deno.test("holdWhile keeps a batch while more is coming, and sends it when nothing is", async () => {
  const batches: number[][] = [];
  let busy = true;
  const batcher = new Batcher<number>((items) => batches.push(items), {
    holdWhile: () => busy,
    maxDelayMs: 10_000,
  });
  batcher.push(1);
  await Promise.resolve();
  batcher.push(2);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(batches, [], "held while busy");
  busy = false;
  batcher.push(3); // the next flush point sees nothing more coming
  await Promise.resolve();
  assert.deepEqual(batches, [[1, 2, 3]]);
});

Deno.test("a held batch goes after maxDelayMs even if more keeps coming", async () => {
  const batches: number[][] = [];
  const batcher = new Batcher<number>((items) => batches.push(items), {
    holdWhile: () => true,
    maxDelayMs: 20,
  });
  batcher.push(1);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(batches, []);
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(batches, [[1]]);
  batcher.push(2);
  batcher.flush();
  assert.deepEqual(batches, [[1], [2]], "flush() sends at once");
});

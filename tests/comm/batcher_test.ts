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

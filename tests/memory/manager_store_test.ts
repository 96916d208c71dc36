/**
 * The memory manager driving a real SpillBuffer: the store gets its target
 * from the limit, and a process over the spill threshold makes the store
 * write its least recently used keys to disk until the process is back
 * under the target.
 */
import assert from "node:assert/strict";
import { MemoryManager } from "../../src/memory/manager.ts";
import { SpillBuffer } from "../../src/store/spill_buffer.ts";

const MiB = 1 << 20;

Deno.test("over the spill threshold, the manager makes a real store spill down to the target", async () => {
  const directory = await Deno.makeTempDir();
  await using store = new SpillBuffer({ directory, target: Infinity });
  let unmanaged = 0; // the rest of the process: code, heap, a task's buffers
  using manager = new MemoryManager({
    limit: 100 * MiB,
    store,
    sampleProcessMemory: () => unmanaged + store.managedBytes,
  });
  assert.equal(
    store.target,
    60 * MiB,
    "the store's target is 0.6 of the limit",
  );

  for (let i = 0; i < 5; i++) {
    store.set(`k${i}`, new Float64Array((10 * MiB) / 8));
  }
  await store.idle();
  assert.equal(
    store.metrics().spills.count,
    0,
    "50 MiB is under the 60 MiB target",
  );
  // The unmanaged part grows, as when a task allocates: the store alone
  // cannot see it (it is under its own target), the manager does.
  unmanaged = 30 * MiB;
  const report = await manager.sample();
  assert.ok(report.process > 70 * MiB, `process ${report.process}`);
  await store.idle();
  const after = await manager.sample();
  assert.ok(
    after.process <= 60 * MiB + MiB,
    `back under the target: ${after.process}`,
  );
  assert.equal(after.spilled, store.spilledBytes);
  assert.ok(store.metrics().spills.count >= 2);
  assert.equal(store.state("k0"), "spilled", "least recently used first");
  assert.equal(store.state("k4"), "live");
});

/**
 * The worker's buffer pool: large buffers are reused once nothing can read
 * them (collected on this thread, released by every executor that received
 * them), never while a view is reachable, and a task never gets a result
 * that shares memory with a buffer the pool may reuse.
 */
import assert from "node:assert/strict";
import { BufferPool } from "../../src/worker/buffer_pool.ts";
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import { gcUnavailable } from "../_support/gc.ts";

const MiB = 2 ** 20;
const TASKS = new URL("./fixtures/tasks.ts", import.meta.url).href;
const gc = (globalThis as { gc?: () => void }).gc;

/** Collects and turns the loop (finalizers run) until `done()` or `turns` tries. */
async function collectUntil(done: () => boolean, turns = 100): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A pooled Float64Array of `mib` MiB whose first element is `marker`. */
function marked(pool: BufferPool, mib: number, marker: number): Float64Array {
  const bytes = pool.allocate(mib * MiB);
  const view = new Float64Array(bytes.buffer, 0, (mib * MiB) / 8);
  view[0] = marker;
  return view;
}

Deno.test("small buffers are not pooled; large ones are rounded up to 1 MiB", () => {
  const pool = new BufferPool({ maxFreeBytes: 64 * MiB });
  const small = pool.allocate(1000);
  assert.equal(small.byteLength, 1000);
  assert.equal(pool.idOf(small.buffer as SharedArrayBuffer), undefined);
  const large = pool.allocate(3 * MiB + 5);
  assert.equal(large.byteLength, 3 * MiB + 5);
  assert.equal(large.byteOffset, 0);
  assert.equal(large.buffer.byteLength, 4 * MiB);
  assert.ok(large.buffer instanceof SharedArrayBuffer);
  assert.notEqual(pool.idOf(large.buffer as SharedArrayBuffer), undefined);
  assert.equal(pool.stats.fresh, 1);
});

Deno.test({
  name:
    "a buffer comes back once collected, and is reused; never while a view is reachable",
  ignore: gcUnavailable !== null,
  async fn() {
    const pool = new BufferPool({ maxFreeBytes: 64 * MiB });
    let dropped: Float64Array | null = marked(pool, 4, 7);
    const held = marked(pool, 4, 9);
    dropped = null;
    await collectUntil(() => pool.stats.returned === 1);
    assert.equal(pool.stats.returned, 1);
    assert.equal(pool.stats.freeBytes, 4 * MiB);
    assert.equal(dropped, null);
    // The next buffer of that size is the dropped one's memory (its marker
    // is still there: reused memory is not zeroed), not the held one's.
    const again = pool.allocate(4 * MiB);
    assert.equal(new Float64Array(again.buffer, 0, 1)[0], 7);
    assert.equal(pool.stats.reused, 1);
    // A shorter request reuses a buffer of the same rounded size: past its
    // view, the buffer holds zeros, not what the earlier value left.
    let longer: Uint8Array | null = pool.allocate(2 * MiB + 500);
    longer.fill(9);
    new Uint8Array(longer.buffer).fill(9);
    longer = null;
    await collectUntil(() => pool.stats.returned === 2);
    const shorter = pool.allocate(2 * MiB + 1);
    assert.equal(shorter.buffer.byteLength, 3 * MiB);
    assert.equal(shorter[0], 9, "the view itself is reused as it is");
    assert.ok(
      new Uint8Array(shorter.buffer, 2 * MiB + 1).every((b) => b === 0),
      "zeros past the view",
    );
    new Float64Array(again.buffer, 0, 1)[0] = 1;
    assert.equal(held[0], 9, "a reachable buffer is never handed out again");
    // Nothing free now: a fresh one (the 3 MiB one above was fresh too).
    pool.allocate(4 * MiB);
    assert.equal(pool.stats.fresh, 4);
  },
});

Deno.test({
  name:
    "an executor's hold keeps a buffer out of the pool until released; free bytes are capped",
  ignore: gcUnavailable !== null,
  async fn() {
    const pool = new BufferPool({ maxFreeBytes: 4 * MiB });
    let a: Float64Array | null = marked(pool, 4, 1);
    const id = pool.idOf(a.buffer as SharedArrayBuffer)!;
    pool.hold(id);
    a = null;
    await collectUntil(() => false, 10);
    assert.equal(pool.stats.returned, 0, "held by an executor");
    pool.release(id);
    assert.equal(pool.stats.returned, 1);
    let b: Float64Array | null = marked(pool, 4, 2); // reuses a's memory
    let c: Float64Array | null = marked(pool, 4, 3);
    assert.equal(pool.stats.reused, 1);
    b = c = null;
    await collectUntil(() => pool.stats.inUse === 0);
    assert.equal(pool.stats.inUse, 0);
    assert.equal(pool.stats.freeBytes, 4 * MiB, "one kept, one left to the GC");
    assert.equal(b, c);
  },
});

Deno.test({
  name:
    "with executors: a kept input stays out of the pool, a returned input comes back as a copy, others return",
  ignore: gcUnavailable !== null,
  async fn() {
    const buffers = new BufferPool({ maxFreeBytes: 64 * MiB });
    await using executors = new ExecutorPool({ threads: 1, buffers });
    // A plain input: released by the executor after its collection.
    let plain: Float64Array | null = marked(buffers, 2, 5);
    const sum = await executors.run({
      module: TASKS,
      exportName: "sum",
      args: [plain.subarray(0, 1)],
    });
    assert.equal(sum.value, 5);
    plain = null;
    await collectUntil(() => buffers.stats.returned === 1);
    assert.equal(buffers.stats.returned, 1, "back once both threads let go");

    // Returned as the result: the result is a copy, not the pooled memory.
    let input: Float64Array | null = marked(buffers, 2, 6);
    const out = await executors.run({
      module: TASKS,
      exportName: "identity",
      args: [input],
    });
    const result = out.value as Float64Array;
    assert.equal(result[0], 6);
    assert.equal(buffers.idOf(result.buffer as SharedArrayBuffer), undefined);
    input[0] = 60;
    assert.equal(result[0], 6, "the result does not share the input's memory");
    input = null;

    // Kept in module state: never reused while the executor keeps it.
    let kept: Float64Array | null = marked(buffers, 2, 8);
    await executors.run({ module: TASKS, exportName: "keep", args: [kept] });
    kept = null;
    await collectUntil(() => buffers.stats.returned === 2);
    assert.equal(buffers.stats.returned, 2, "the identity input came back");
    const inUse = buffers.stats.inUse;
    assert.equal(inUse, 1, "the kept input is still held by the executor");
    // Every free buffer is taken and written over: the kept one is not among them.
    const fresh = [marked(buffers, 2, -1), marked(buffers, 2, -1)];
    const first = await executors.run({
      module: TASKS,
      exportName: "keptFirst",
      args: [],
    });
    assert.deepEqual(first.value, [8]);
    assert.equal(fresh.length, 2);
  },
});

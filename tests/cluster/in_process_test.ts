/** Scheduler, workers and client in one process over real loopback TCP. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SchedulerServer } from "../../src/scheduler/server.ts";
import { WorkerNode } from "../../src/worker/worker_node.ts";
import { Client } from "../../src/client/client.ts";
import { RemoteTaskError } from "../../src/client/future.ts";
import { connect } from "../../src/comm/server.ts";
import { serialize } from "../../src/serialize/serialize.ts";

const ops = new URL("./fixtures/ops.ts", import.meta.url);

async function cluster(workers = 2, limits: (number | null)[] = []) {
  const root = await Deno.makeTempDir({ prefix: "spillway-cluster-" });
  const log = () => {};
  const scheduler = await SchedulerServer.start({ log });
  const nodes: WorkerNode[] = [];
  for (let i = 0; i < workers; i++) {
    nodes.push(
      await WorkerNode.start({
        scheduler: scheduler.address,
        memoryLimit: limits[i] ?? null,
        spillDir: join(root, `w${i}`),
        log,
      }),
    );
  }
  const client = await Client.connect(scheduler.address, { log });
  return {
    scheduler,
    nodes,
    client,
    async [Symbol.asyncDispose]() {
      await client.close();
      for (const n of nodes) await n.close();
      await scheduler.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("a graph of futures computes across two workers", async () => {
  await using c = await cluster();
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  const a = m.chunk(0, 1000);
  const b = m.chunk(1, 1000);
  const d = m.dot(a, b);
  let expected = 0;
  for (let i = 0; i < 1000; i++) expected += i * (1 + i);
  assert.equal(await d.result(), expected);
  const [x, y] = await c.client.gather([m.inc(1), m.inc(41)] as const);
  assert.deepEqual([x, y], [2, 42]);
  const chunkA = await a.result();
  assert.equal(chunkA.length, 1000);
  assert.equal(chunkA[999], 999);
});

Deno.test("a throwing task rejects with the remote error; dependents fail; the worker keeps working", async () => {
  await using c = await cluster(1);
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  const bad = m.fail("boom");
  const dependent = m.inc(bad as unknown as number);
  await assert.rejects(bad.result(), (e: unknown) => {
    assert.ok(e instanceof RemoteTaskError);
    assert.equal(e.remoteName, "RangeError");
    assert.equal(e.message, "boom");
    assert.equal(e.key, bad.key);
    assert.match(e.remoteStack ?? "", /fail/);
    return true;
  });
  await assert.rejects(dependent.result(), /dependency failed/);
  assert.equal(await m.inc(1).result(), 2);
});

Deno.test("released keys disappear from the workers' stores", async () => {
  await using c = await cluster(1);
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  const a = m.chunk(0, 10);
  await a.result();
  assert.equal(c.nodes[0].store.has(a.key), true);
  a.release();
  for (let i = 0; i < 100 && c.nodes[0].store.has(a.key); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(c.nodes[0].store.has(a.key), false);
});

Deno.test("scatter puts a value on a worker; workers() reports memory and store metrics", async () => {
  await using c = await cluster(2);
  const data = await c.client.scatter(new Float64Array([1, 2, 3]));
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  assert.equal(await m.dot(data, data).result(), 14);
  await new Promise((r) => setTimeout(r, 1200)); // one heartbeat
  const workers = await c.client.workers();
  assert.equal(workers.length, 2);
  for (const w of workers) {
    assert.match(w.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(w.store !== null && typeof w.store.live.count === "number");
    assert.ok(w.memory !== null && w.memory.process > 0);
  }
});

Deno.test("replicate copies a key from its holder as frames, never deserialized", async () => {
  await using c = await cluster(2);
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  const a = m.chunk(3, 100_000);
  assert.equal(await m.dot(a, a).result() > 0, true);
  const holder = c.nodes.find((n) => n.store.has(a.key))!;
  const other = c.nodes.find((n) => n !== holder)!;
  await using peer = await connect(other.address);
  await peer.request("replicate", {
    keys: [a.key],
    who: { [a.key]: [holder.address] },
    sizes: {},
  });
  assert.equal(other.store.state(a.key), "serialized");
  assert.equal(other.store.metrics().deserializations.count, 0);
  const copy = await other.store.get(a.key) as Float64Array;
  assert.equal(copy.length, 100_000);
  assert.equal(copy[99_999], 3 + 99_999);
});

Deno.test("a future dropped without release() is released when garbage collected", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    throw new Error("run the tests with --v8-flags=--expose-gc");
  }
  await using c = await cluster(1);
  const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
  let key = "";
  await (async () => {
    const dropped = m.chunk(1, 10);
    key = dropped.key;
    await dropped.result(); // awaited futures are kept until their result arrives
  })();
  assert.equal(c.nodes[0].store.has(key), true);
  for (let i = 0; i < 200 && c.nodes[0].store.has(key); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(
    c.nodes[0].store.has(key),
    false,
    "the key was released on the worker",
  );
  // A future still held is not released.
  const kept = m.chunk(2, 10);
  await kept.result();
  gc();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.nodes[0].store.has(kept.key), true);
});

Deno.test("a large spilled key that would not fit in the donor's memory goes to a peer in slices: the donor never reads it back whole", async () => {
  // The donor's limit is below what this test process already takes: no
  // value fits in its memory (it spills everything, and pauses).
  await using c = await cluster(2, [32 * 2 ** 20, null]);
  const [donor, receiver] = c.nodes;
  const big = new Float64Array(10 * 2 ** 17).map((_, i) => i * 0.5); // 10 MiB
  const small = new Float64Array(1000).fill(3);
  await using d = await connect(donor.address);
  const keys = { big: "big-key", small: "small-key" };
  await d.request("put-data", {
    data: {
      [keys.big]: serialize(big),
      [keys.small]: serialize(small),
    },
  });
  await donor.store.evict(Infinity);
  await donor.store.idle();
  assert.equal(donor.store.state(keys.big), "spilled");
  assert.equal(donor.store.state(keys.small), "spilled");
  const before = donor.store.metrics();

  await using r = await connect(receiver.address);
  await r.request("replicate", {
    keys: [keys.big, keys.small],
    who: { [keys.big]: [donor.address], [keys.small]: [donor.address] },
    sizes: {},
  });
  assert.deepEqual(await receiver.store.get(keys.big), big);
  assert.deepEqual(await receiver.store.get(keys.small), small);
  const after = donor.store.metrics();
  // The small key was read back to be sent; the big one never was.
  assert.equal(after.unspills.count - before.unspills.count, 1);
  assert.ok(after.unspills.bytes - before.unspills.bytes < 2 ** 20);
  assert.equal(donor.store.state(keys.big), "spilled");

  // Bad slice requests get clear errors and change nothing.
  const file = donor.store.spilledFileOf(keys.big)!;
  await assert.rejects(
    d.request("get-slice", {
      key: keys.big,
      file: "other",
      offset: 0,
      length: 8,
    }),
    /no longer has the spill file "other"/,
  );
  await assert.rejects(
    d.request("get-slice", {
      key: keys.big,
      file: file.file,
      offset: 0,
      length: 2 ** 21,
    }),
    /0 ≤ length ≤/,
  );
  await assert.rejects(
    d.request("get-slice", {
      key: keys.big,
      file: file.file,
      offset: file.bytes - 4,
      length: 8,
    }),
    /outside the \d+-byte file/,
  );
  await assert.rejects(
    d.request("get-slice", { key: "nope", file: "x", offset: 0, length: 1 }),
    /not found|nope/i,
  );
  assert.deepEqual(await donor.store.get(keys.big), big);
});

Deno.test({
  name:
    "buffers read back are reused, never under a task's result or an input a task kept",
  ignore: (globalThis as { gc?: () => void }).gc === undefined,
  async fn() {
    await using c = await cluster(1);
    const [node] = c.nodes;
    const m = c.client.module<typeof import("./fixtures/ops.ts")>(ops);
    const n = 2 ** 18; // 2 MiB: read back into the worker's pool
    const a = m.chunk(1, n);
    const b = m.chunk(2, n);
    const d = m.chunk(3, n);
    const e = m.chunk(4, n);
    await c.client.gather([a, b, d, e]);
    const spillAll = async () => {
      await node.store.evict(Infinity);
      await node.store.idle();
    };
    await spillAll();
    // Both read a and b back from disk into pooled buffers.
    const same = m.same(a);
    assert.equal(await m.keepFirst(b).result(), 2);
    await same.result();
    node.store.pin(same.key); // stays in memory, as it came back
    assert.equal(node.store.state(same.key), "live");
    const poolBefore = (await c.client.workers())[0].memory?.buffers;
    // Churn: read other chunks back again and again, collecting, so that
    // freed buffers (a's among them) come back to the pool and are written
    // over with other values.
    for (let i = 0; i < 8; i++) {
      await spillAll();
      await m.dot(d, e).result();
      (globalThis as { gc?: () => void }).gc!();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 1200)); // a heartbeat
    const poolAfter = (await c.client.workers())[0].memory?.buffers;
    assert.ok(
      (poolAfter?.reused ?? 0) > (poolBefore?.reused ?? 0),
      `the churn reused pooled buffers: ${JSON.stringify(poolAfter)}`,
    );
    const value = await node.store.get(same.key) as Float64Array;
    for (let i = 0; i < n; i += 4096) {
      assert.equal(value[i], 1 + i, `the result of same(a) at ${i}`);
    }
    assert.deepEqual(await m.keptFirsts().result(), [2]);
  },
});

import assert from "node:assert/strict";
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import {
  packForTransfer,
  UnsendableValueError,
} from "../../src/worker/lend.ts";
import { shared, task, until } from "./_tasks.ts";

const MiB = 1 << 20;

function ramp(length: number): Float64Array {
  const a = new Float64Array(length);
  for (let i = 0; i < a.length; i++) a[i] = i % 1000;
  return a;
}

function sameContents(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("a 64 MiB input is lent by transfer and comes back; the loop ticks meanwhile", async () => {
  await using pool = new ExecutorPool();
  const data = ramp((64 * MiB) / 8);
  const expected = ramp(data.length);
  const flags = shared(2);
  let ticksWhileRunning = 0;
  const timer = setInterval(() => {
    if (Atomics.load(flags, 0) === 1 && Atomics.load(flags, 1) === 0) {
      ticksWhileRunning++;
    }
  }, 1);
  try {
    const running = pool.run(task("sumAndSpin", data, flags, 1000));
    // Lent: detached here from the moment the task was handed over.
    assert.equal(data.length, 0);
    assert.equal((data.buffer as ArrayBuffer).detached, true);
    const outcome = await running;
    const back = outcome.args[0] as Float64Array;
    assert.equal(back.buffer.byteLength, 64 * MiB);
    assert.ok(sameContents(back, expected));
    assert.equal(outcome.value, expected.reduce((s, x) => s + x, 0));
    // Moved, not copied, both ways.
    assert.equal(pool.stats.lentBytes, 64 * MiB);
    assert.equal(pool.stats.copiedBytes, 0);
    // The control thread kept running while the executor worked (~1 tick/2 ms when idle).
    assert.ok(
      ticksWhileRunning > 50,
      `only ${ticksWhileRunning} ticks in a 1 s task`,
    );
  } finally {
    clearInterval(timer);
  }
});

Deno.test("SharedArrayBuffer inputs are shared, not lent: the task's writes are seen here", async () => {
  await using pool = new ExecutorPool();
  const cells = shared(4);
  const outcome = await pool.run(task("writeShared", cells));
  assert.equal(cells.length, 4); // not detached
  assert.equal(Atomics.load(cells, 0), 42);
  const returned = outcome.value as Int32Array;
  Atomics.store(cells, 1, 7);
  assert.equal(Atomics.load(returned, 1), 7); // the same memory
  assert.deepEqual(
    (await pool.run(task("inspect", cells, new Int32Array(cells.buffer, 4))))
      .value,
    [[16, 16], [0, 4], true, [true, true]],
  );
  assert.equal(pool.stats.lentBytes, 0);
  assert.equal(pool.stats.copiedBytes, 0);
});

Deno.test("two inputs over one buffer are transferred once and still share it", async () => {
  await using pool = new ExecutorPool();
  const f64 = new Float64Array([1, 2, 3, 4]);
  const bytes = new Uint8Array(f64.buffer);
  const head = f64.subarray(0, 2);
  const outcome = await pool.run(task("inspect", f64, bytes, head));
  assert.deepEqual(outcome.value, [[32, 32, 32], [0, 0, 0], true, [
    false,
    false,
    false,
  ]]);
  const [a, b, c] = outcome.args as [Float64Array, Uint8Array, Float64Array];
  assert.equal(a.buffer, b.buffer);
  assert.equal(a.buffer, c.buffer);
  assert.deepEqual([...c], [1, 2]);
  assert.equal(pool.stats.lentBytes, 32);
  assert.equal(pool.stats.copiedBytes, 0);
});

Deno.test("a view over part of a bigger buffer is copied, not transferred; aliasing views still alias", async () => {
  await using pool = new ExecutorPool();
  const frame = new Float64Array(1024).map((_, i) => i);
  const a = frame.subarray(10, 20);
  const b = frame.subarray(15, 30);
  const outcome = await pool.run(task("inspect", a, b));
  // Only the span of the two views crossed (offset 10 rounded down to 8 bytes: none).
  assert.deepEqual(outcome.value, [[160, 160], [0, 40], true, [false, false]]);
  assert.equal(frame.length, 1024); // the frame and its other views are untouched
  assert.equal(pool.stats.lentBytes, 0);
  assert.equal(pool.stats.copiedBytes, 160);
  const [ra, rb] = outcome.args as [Float64Array, Float64Array];
  assert.deepEqual([...ra], [...a]);
  assert.deepEqual([...rb], [...b]);
});

Deno.test("lendWhole: a partial view's whole buffer is lent instead of copying the part", async () => {
  await using pool = new ExecutorPool();
  const frame = new Uint8Array(64).map((_, i) => i);
  const body = frame.subarray(8);
  const outcome = await pool.run(task("inspect", body), {
    lendWhole: [frame.buffer],
  });
  assert.deepEqual(outcome.value, [[64], [8], false, [false]]);
  assert.equal(frame.length, 0); // every view over it is detached while lent
  const back = outcome.args[0] as Uint8Array;
  assert.equal(back.byteOffset, 8);
  assert.equal(back[0], 8);
  assert.equal(pool.stats.lentBytes, 64);
  assert.equal(pool.stats.copiedBytes, 0);
  // keep wins over lendWhole.
  const kept = new Uint8Array(16);
  await pool.run(task("inspect", kept.subarray(4)), {
    keep: [kept.buffer],
    lendWhole: [kept.buffer],
  });
  assert.equal(kept.length, 16);
});

Deno.test("keep: buffers listed are copied and stay usable here", async () => {
  await using pool = new ExecutorPool();
  const data = new Float64Array([1, 2, 3]);
  const outcome = await pool.run(task("doubleInPlace", data), {
    keep: [data.buffer],
  });
  assert.deepEqual([...data], [1, 2, 3]);
  assert.deepEqual([...(outcome.args[0] as Float64Array)], [2, 4, 6]);
  assert.equal(pool.stats.copiedBytes, 24);
});

Deno.test("inputs nested in objects, Maps and Sets are lent and come back in place", async () => {
  await using pool = new ExecutorPool();
  const x = new Float64Array([1, 2]);
  const y = new Uint8Array([3]);
  const z = new ArrayBuffer(8);
  const arg = {
    nested: { map: new Map([["x", x]]), set: new Set([y]) },
    list: [z],
  };
  const outcome = await pool.run(task("identity", arg));
  assert.equal(x.length, 0);
  assert.equal(y.length, 0);
  assert.equal(z.detached, true);
  const back = outcome.args[0] as typeof arg;
  assert.equal(outcome.value, back); // one object on the way back too
  assert.deepEqual([...back.nested.map.get("x")!], [1, 2]);
  assert.deepEqual([...[...back.nested.set][0]], [3]);
  assert.equal(back.list[0].byteLength, 8);
  assert.equal(pool.stats.lentBytes, 16 + 1 + 8);
});

Deno.test("a result that is, or views, an input buffer comes back as that buffer", async () => {
  await using pool = new ExecutorPool();
  const data = new Float64Array([1, 2, 3, 4]);
  const same = await pool.run(task("identity", data));
  assert.equal(same.value, same.args[0]);
  const part = await pool.run(task("middle", same.args[0]));
  const view = part.value as Float64Array;
  const input = part.args[0] as Float64Array;
  assert.equal(view.buffer, input.buffer); // not a copy of the slice
  assert.deepEqual([...view], [2, 3]);
  assert.equal(pool.stats.copiedBytes, 0);
});

Deno.test("results: new buffers arrive; a slice of a module's buffer is copied, the module keeps its buffer", async () => {
  await using pool = new ExecutorPool();
  const made = await pool.run(task("filled", 4, 3));
  assert.deepEqual([...(made.value as Float64Array)], [3, 3, 3, 3]);
  for (let i = 0; i < 2; i++) {
    const { value } = await pool.run(task("cachedSlice"));
    const { slice, cacheLength } = value as {
      slice: Float64Array;
      cacheLength: number;
    };
    assert.equal(cacheLength, 1024);
    assert.deepEqual([...slice], [5, 5, 5, 5]);
    assert.equal(slice.buffer.byteLength, 32);
  }
});

Deno.test("buffers that cannot be detached (WebAssembly.Memory) are copied instead, both ways", async () => {
  await using pool = new ExecutorPool();
  const memory = new WebAssembly.Memory({ initial: 1 });
  const other = new Float64Array([1, 2]);
  // A part of it is copied like any partial view; the other input is lent.
  const part = await pool.run(
    task("inspect", new Uint8Array(memory.buffer, 0, 16), other),
  );
  assert.deepEqual(part.value, [[16, 16], [0, 0], false, [false, false]]);
  assert.equal(other.length, 0);
  // All of it: Deno refuses the transfer before detaching anything, and the
  // pool falls back to copying every input.
  const again = part.args[1] as Float64Array;
  const whole = await pool.run(
    task("inspect", new Uint8Array(memory.buffer), again),
  );
  assert.deepEqual(whole.value, [[65536, 16], [0, 0], false, [false, false]]);
  assert.equal(memory.buffer.byteLength, 65536);
  assert.equal(again.length, 2);
  // A result the task cannot detach is copied by the executor.
  const result = await pool.run(task("wasmBuffer"));
  assert.equal((result.value as Uint8Array)[0], 7);
  assert.equal((result.value as Uint8Array).length, 65536);
});

Deno.test("unsendable inputs are refused before anything is detached", async () => {
  await using pool = new ExecutorPool();
  const data = new Float64Array([1, 2]);
  const error = await pool.run(task("identity", data, { deep: [{ f() {} }] }))
    .catch((e) => e);
  assert.ok(error instanceof UnsendableValueError);
  assert.equal(error.path, "args[1].deep[0].f");
  assert.equal(data.length, 2);
  const lent = new Float64Array(1);
  const p = pool.run(task("identity", lent));
  await assert.rejects(pool.run(task("identity", lent)), /detached/);
  await p;
  await assert.rejects(
    pool.run(task("identity", new WeakMap())),
    { name: "UnsendableValueError", message: /args\[0\] is a WeakMap/ },
  );
});

Deno.test("packForTransfer keeps alignment, handles cycles and never touches its input", () => {
  const buffer = new ArrayBuffer(256);
  const f64 = new Float64Array(buffer, 24, 4);
  f64.set([1, 2, 3, 4]);
  const bytes = new Uint8Array(buffer, 21, 3);
  bytes.set([7, 8, 9]);
  const dv = new DataView(buffer, 100, 4);
  const cyclic: Record<string, unknown> = { f64, bytes, dv };
  cyclic.self = cyclic;
  const packed = packForTransfer(cyclic, {}, "x");
  assert.equal(packed.transfer.length, 1);
  assert.equal(packed.copiedBytes, 104 - 16); // [16, 104): 21 rounded down to 16
  const out = packed.value as typeof cyclic;
  assert.notEqual(out, cyclic);
  assert.equal(out.self, out);
  const o64 = out.f64 as Float64Array;
  assert.deepEqual([...o64], [1, 2, 3, 4]);
  assert.equal(o64.byteOffset, 8);
  assert.deepEqual([...(out.bytes as Uint8Array)], [7, 8, 9]);
  assert.equal((out.dv as DataView).byteOffset, 84);
  assert.equal(o64.buffer, (out.dv as DataView).buffer);
  assert.equal(buffer.detached, false);
  // Whole references transfer as they are, without rebuilding.
  const whole = new Float64Array(2);
  const plain = [whole, whole.subarray(1)];
  const p2 = packForTransfer(plain);
  assert.equal(p2.value, plain);
  assert.deepEqual(p2.transfer, [whole.buffer]);
  assert.throws(
    () => packForTransfer([Symbol("s")], {}, "args"),
    UnsendableValueError,
  );
});

Deno.test("a task's inputs come back after it throws, with its writes", async () => {
  await using pool = new ExecutorPool();
  const flags = shared(2);
  const data = new Float64Array([1, 2, 3]);
  const error = await pool.run(task("failsLater", data)).catch((e) => e);
  assert.deepEqual([...(error.args[0] as Float64Array)], [99, 2, 3]);
  // An aborted task's inputs are lost with its executor (documented).
  const lost = new Float64Array(4);
  const controller = new AbortController();
  const run = pool.run(task("spinForever", flags, lost), {
    signal: controller.signal,
  });
  await until(flags, 0);
  controller.abort();
  await assert.rejects(run, { name: "AbortError" });
  assert.equal(lost.length, 0);
});

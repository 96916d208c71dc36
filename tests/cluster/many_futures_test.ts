/**
 * Working with many futures on a real LocalCluster: `client.map`,
 * `asCompleted`, `wait`, `future.result({ timeout })` and `future.done`.
 */
import assert from "node:assert/strict";
import {
  asCompleted,
  Client,
  type Future,
  LocalCluster,
  RemoteTaskError,
  SerializationError,
  TimeoutError,
  wait,
} from "../../mod.ts";
import { FIXTURES } from "./_support.ts";

const MANY_OPS = new URL("./fixtures/many_ops.ts", import.meta.url);
type ManyOps = typeof import("./fixtures/many_ops.ts");
const quiet = () => {};

Deno.test("map, asCompleted, wait, result timeout and done on a LocalCluster", async (t) => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    threadsPerWorker: 3,
    modules: [FIXTURES],
    log: quiet,
  });
  await using client = await Client.connect(cluster.address, { log: quiet });
  const ops = client.module<ManyOps>(MANY_OPS);
  // Runs (asleep, holding no CPU) until the cluster closes.
  const never = ops.sleep(10 * 60_000, 0);

  await t.step(
    "client.map: one task per element, iterables zipped to the shortest",
    async () => {
      const sums = client.map(ops.add, [1, 2, 3], [10, 20, 30, 40]);
      assert.equal(sums.length, 3);
      assert.deepEqual(await client.gather(sums), [11, 22, 33]);
      // Any iterable, and futures as elements.
      function* seeds() {
        yield 5;
        yield ops.inc(9);
      }
      const incs = client.map(ops.inc, seeds());
      assert.deepEqual(await client.gather(incs), [6, 11]);
      // Containers with futures inside as elements.
      const totals = client.map(ops.total, [[sums[0], 1], [sums[1], sums[2]]]);
      assert.deepEqual(await client.gather(totals), [12, 55]);
      assert.deepEqual(client.map(ops.inc, []), []);
      // A function of a proxy with options is a proxy function too.
      const retried = client.map(ops.withOptions({ retries: 1 }).inc, [1, 2]);
      assert.deepEqual(await client.gather(retried), [2, 3]);
    },
  );

  await t.step(
    "client.map refuses a local function and names a bad element",
    () => {
      const local = (x: number) => ops.inc(x);
      assert.throws(() => client.map(local, [1]), TypeError);
      assert.throws(
        () => client.map(ops.total, [[1], [2, () => 3] as unknown as number[]]),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError);
          assert.match(
            e.message,
            /element 1 .*argument 1 of many_ops\.total: value\[1\] is a function/,
          );
          return true;
        },
      );
    },
  );

  await t.step(
    "asCompleted yields in finishing order, errors too, and takes futures added while iterating",
    async () => {
      // A chain: each finishes after the one before.
      const x1 = ops.sleep(50, 1);
      const x2 = ops.inc(x1);
      const x3 = ops.inc(x2);
      const e = ops.fail("boom", x3);
      const finished = asCompleted<number>([e, x3, x2, x1]);
      const order: Future<number>[] = [];
      let y: Future<number> | undefined;
      for await (const f of finished) {
        assert.ok(f.done);
        order.push(f);
        // Fails after e does (it needs e).
        if (f === x1) finished.add(y = ops.add(e, 1));
      }
      assert.deepEqual(
        order.map((f) => f.key),
        [x1, x2, x3, e, y!].map((f) => f.key),
      );
      assert.equal(await x3.result(), 3);
      await assert.rejects(e.result(), RemoteTaskError);
      await assert.rejects(y!.result(), /dependency failed/);
      // Already finished futures are yielded too; nothing left ends at once.
      const again: string[] = [];
      for await (const f of asCompleted([x2, x1])) again.push(f.key);
      assert.deepEqual(again.sort(), [x1.key, x2.key].sort());
      for await (const _ of asCompleted([])) assert.fail("nothing to yield");
    },
  );

  await t.step(
    "wait: ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION and timeout",
    async () => {
      const a = ops.inc(1);
      const b = ops.inc(2);
      const bad = ops.fail("waited");
      const all = await wait([a, b, bad]);
      assert.deepEqual(all.done, new Set([a, b, bad]));
      assert.equal(all.notDone.size, 0);

      const quick = ops.inc(3);
      const first = await wait([never, quick], {
        returnWhen: "FIRST_COMPLETED",
      });
      assert.ok(first.done.has(quick));
      assert.deepEqual(first.notDone, new Set([never]));

      const failing = ops.fail("first exception");
      const firstError = await wait([never, failing], {
        returnWhen: "FIRST_EXCEPTION",
      });
      assert.deepEqual(firstError.done, new Set([failing]));
      assert.deepEqual(firstError.notDone, new Set([never]));
      // FIRST_EXCEPTION without a failure waits for all.
      const noError = await wait([ops.inc(4), ops.inc(5)], {
        returnWhen: "FIRST_EXCEPTION",
      });
      assert.equal(noError.done.size, 2);

      const timedOut = await wait([never, a], { timeout: 100 });
      assert.deepEqual(timedOut.done, new Set([a]));
      assert.deepEqual(timedOut.notDone, new Set([never]));
      await assert.rejects(
        wait([a], { returnWhen: "SOMETIMES" as "ALL_COMPLETED" }),
        RangeError,
      );
    },
  );

  await t.step(
    "result({ timeout }) rejects with TimeoutError and the task goes on; done",
    async () => {
      const slow = ops.sleep(1000, 5);
      assert.equal(slow.done, false);
      await assert.rejects(slow.result({ timeout: 50 }), (e: unknown) => {
        assert.ok(e instanceof TimeoutError);
        assert.equal(e.key, slow.key);
        assert.equal(e.timeout, 50);
        return true;
      });
      assert.equal(slow.done, false);
      assert.equal(await slow.result(), 5);
      assert.equal(slow.done, true);
      // A result in time is the result.
      assert.equal(await ops.inc(6).result({ timeout: 60_000 }), 7);
      const bad = ops.fail("done too");
      await assert.rejects(bad.result(), RemoteTaskError);
      assert.equal(bad.done, true);
      assert.equal(never.done, false);
    },
  );
});

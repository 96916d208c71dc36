/**
 * Cancel, retries and priority on real processes: one worker with one
 * executor thread, so that a spinning task holds the only executor and the
 * order tasks run in is the order the scheduler gives them out.
 */
import type { SchedulerOperations } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { CancelledError } from "../../src/client/cancelled_error.ts";
import { RemoteTaskError } from "../../src/client/future.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import { FIXTURES, until } from "./_support.ts";

const CONTROL = new URL("./fixtures/control_ops.ts", import.meta.url);
type Control = typeof import("./fixtures/control_ops.ts");

/** CPU time (user + system, in clock ticks) of process `pid`, all threads. */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** `promise`, or a failure naming `what` if it is not settled in 20 s (a hang). */
async function settles<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: still pending after 20 s`)),
      20_000,
    );
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const isCancelled = (key: string, cancelledKey: string) => (e: unknown) => {
  assert.ok(e instanceof CancelledError, `not a CancelledError: ${e}`);
  assert.equal(e.name, "CancelledError");
  assert.equal(e.key, key);
  assert.equal(e.cancelledKey, cancelledKey);
  return true;
};

Deno.test("cancel, retries and priority on one worker with one thread", async (t) => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    threadsPerWorker: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  await using scheduler = await connect<SchedulerOperations>(
    cluster.address,
    { log: () => {} },
  );
  const whoHas = async (key: string) =>
    (await scheduler.request("who-has", { keys: [key] }))[key];
  const ops = client.module<Control>(CONTROL);

  await t.step(
    "a running task that spins forever is stopped; a queued one is dropped; the worker goes on",
    async () => {
      const pid = cluster.workers[0].pid;
      const input = ops.inc(0);
      const spinning = ops.spinForever(input);
      const dependent = ops.inc(spinning);
      input.release(); // only the spinning task needs it now
      const before = cpuTicks(pid);
      // The spin runs in the only executor once the process burns CPU.
      await until(() => cpuTicks(pid) - before >= 50, "the spin to run");
      assert.deepEqual(await whoHas(input.key), [cluster.workers[0].address]);
      const queued = ops.inc(41); // behind the spin
      await client.cancel([queued]);
      await assert.rejects(
        queued.result(),
        isCancelled(queued.key, queued.key),
      );

      await spinning.cancel();
      await assert.rejects(
        settles(spinning.result(), "the cancelled spin's result"),
        isCancelled(spinning.key, spinning.key),
      );
      // Its dependent fails with it, as Dask's do.
      await assert.rejects(
        settles(dependent.result(), "the dependent's result"),
        isCancelled(dependent.key, spinning.key),
      );
      // The input only it needed is released.
      assert.deepEqual(await whoHas(input.key), []);
      // A fresh executor serves the next task: the spinning one held the only
      // thread.
      assert.equal(await settles(ops.inc(1).result(), "a task after"), 2);
      // (Whether the terminated thread stops spinning is up to Deno: 2.9's
      // terminate() leaves a thread stuck in a synchronous endless loop
      // running, so the process's CPU is not checked here.)
      // The cancelled queued task never ran (it would be in the task stream,
      // before the task after).
      const ran = (await client.taskStream()).map((r) => r.key);
      assert.ok(!ran.includes(queued.key), `${queued.key} ran`);
      assert.ok(!ran.includes(spinning.key), `${spinning.key} reported`);
      assert.equal(
        cluster.workers[0].pid,
        pid,
        "the worker process is the same",
      );
    },
  );

  await t.step(
    "a key in memory: cancel releases it and result() rejects",
    async () => {
      const x = ops.inc(1);
      assert.equal(await x.result(), 2);
      assert.equal((await whoHas(x.key)).length, 1);
      await x.cancel();
      assert.deepEqual(await whoHas(x.key), []);
      await assert.rejects(x.result(), isCancelled(x.key, x.key));
      // A new task on a cancelled future fails at once with it.
      const y = ops.inc(x);
      await assert.rejects(y.result(), isCancelled(y.key, x.key));
    },
  );

  await t.step(
    "retries: a task that fails twice succeeds with retries 2 and fails with retries 1 (last error)",
    async () => {
      const twice = ops.withOptions({ retries: 2 }).flaky("a", 2);
      assert.equal(await twice.result(), 3); // the third try
      const once = client.module<Control>(CONTROL, { retries: 1 }).flaky(
        "b",
        2,
      );
      await assert.rejects(once.result(), (e: unknown) => {
        assert.ok(e instanceof RemoteTaskError);
        assert.equal(e.remoteName, "Error");
        assert.match(e.message, /^try 2 of b failed$/);
        return true;
      });
      // Without retries the first error is final.
      await assert.rejects(ops.flaky("c", 1).result(), /try 1 of c failed/);
      // The untyped submit keeps its shape (no options).
      assert.equal(await client.submit<number>(CONTROL, "inc", 4).result(), 5);
    },
  );

  await t.step(
    "priority: among ready tasks, higher runs first; equal ones in order",
    async () => {
      // Every ticket waits on one input, so that all become ready at once.
      const first = ops.inc(0);
      const priorities = [3, 0, 5, 1, 5, -2, 0, 4];
      const tickets = priorities.map((priority) =>
        ops.withOptions({ priority }).ticket(first, "p")
      );
      const ran = await client.gather(tickets);
      const expected = priorities
        .map((priority, i) => ({ priority, i }))
        .sort((a, b) => b.priority - a.priority || a.i - b.i)
        .map(({ i }) => i);
      assert.deepEqual(
        expected.map((i) => ran[i]),
        priorities.map((_, n) => n + 1),
        `run order ${JSON.stringify(ran)}`,
      );
    },
  );

  await t.step("options are checked on the client with clear errors", () => {
    assert.throws(
      () => client.module<Control>(CONTROL, { retries: -1 }),
      /retries must be an integer >= 0.*got -1/,
    );
    assert.throws(
      () => ops.withOptions({ retries: 1.5 }),
      /retries must be an integer >= 0.*got 1.5/,
    );
    assert.throws(
      () => ops.withOptions({ priority: Number.NaN }),
      /priority must be a finite number.*got NaN/,
    );
    assert.throws(
      () => ops.withOptions({ retry: 2 } as never),
      /unknown task option "retry": the options are retries and priority/,
    );
  });
});

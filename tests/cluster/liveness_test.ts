/**
 * Nothing hangs on the client: a scheduler killed or stopped while results
 * are pending, nothing listening at the address, a worker's address given
 * for the scheduler's.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import type { Future } from "../../src/client/future.ts";
import { asCompleted, wait } from "../../src/client/many.ts";
import { SchedulerLostError } from "../../src/client/liveness.ts";
import { LocalCluster } from "../../src/cluster/local_cluster.ts";
import { CliProcess, FIXTURES, OPS, type Ops } from "./_support.ts";

const quiet = { log: () => {} };

Deno.test("a scheduler killed while results are pending: they reject naming its address, and the client stays closed", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  // Only a closed connection can end this test in time: a ping would take
  // a minute to time out.
  const client = await Client.connect(cluster.address, {
    ...quiet,
    heartbeatTimeout: 60_000,
  });
  const ops = client.module<Ops>(OPS);
  assert.equal(await ops.inc(1).result(), 2, "the cluster works");
  const long = ops.spin(30_000);
  const queued = ops.inc(ops.spin(30_000));
  const results = [long.result(), queued.result(), client.gather([long])];
  results.forEach((p) => p.catch(() => {}));
  await new Promise((resolve) => setTimeout(resolve, 200)); // submitted
  Deno.kill(cluster.schedulerPid, "SIGKILL");

  for (const pending of results) {
    const error = await pending.then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof SchedulerLostError, String(error));
    assert.equal(error.address, cluster.address);
    assert.match(
      error.message,
      new RegExp(
        `^lost the scheduler at ${cluster.address}: its connection closed`,
      ),
    );
  }
  // The client does not come back: later calls fail the same way.
  await assert.rejects(() => client.workers(), SchedulerLostError);
  await assert.rejects(() => long.result(), SchedulerLostError);
  assert.throws(() => ops.inc(1), SchedulerLostError);
  await client.close(); // already closed: no error
});

Deno.test("a scheduler that stops answering (SIGSTOP): pending results reject after the heartbeat timeout", async () => {
  await using scheduler = new CliProcess(["--allow-net=127.0.0.1"], [
    "scheduler",
    "--port",
    "0",
  ]);
  const [, address] = await scheduler.line(
    /^scheduler listening at (tcp:\/\/\S+)$/,
  );
  const client = await Client.connect(address, {
    ...quiet,
    heartbeatTimeout: 1500,
  });
  const ops = client.module<Ops>(OPS);
  // No worker: the task waits at the scheduler.
  const pending = ops.inc(1).result();
  pending.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 100));
  Deno.kill(scheduler.process.pid, "SIGSTOP");
  try {
    const error = await pending.then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof SchedulerLostError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `^lost the scheduler at ${address}: no reply to a ping within 900 ms \\(heartbeat timeout 1500 ms\\)`,
      ),
    );
    await assert.rejects(() => client.workers(), SchedulerLostError);
    // Connecting to it now fails too, after the heartbeat timeout.
    await assert.rejects(
      () => Client.connect(address, { ...quiet, heartbeatTimeout: 300 }),
      new RegExp(
        `^SchedulerLostError: lost the scheduler at ${address}: no reply to the handshake within 300 ms`,
      ),
    );
  } finally {
    Deno.kill(scheduler.process.pid, "SIGCONT");
  }
});

Deno.test("Client.connect to an address with nothing listening fails at once, naming it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `tcp://127.0.0.1:${listener.addr.port}`;
  listener.close();
  await assert.rejects(
    () => Client.connect(address, quiet),
    (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`^could not connect to the scheduler at ${address}: `),
      );
      assert.match(error.message, /refused/i);
      return true;
    },
  );
});

Deno.test("Client.connect to a worker's address says it is a worker, and names the scheduler", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  const worker = cluster.workers[0].address;
  await assert.rejects(
    () => Client.connect(worker, quiet),
    (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^${worker}: this is a Spillway worker, not a scheduler: .*this worker's scheduler is ${cluster.address}\\)$`,
        ),
      );
      return true;
    },
  );
  // The worker serves on: a client at the right address computes.
  await using client = await Client.connect(cluster.address, quiet);
  assert.equal(await client.module<Ops>(OPS).inc(1).result(), 2);
});

Deno.test("a heartbeatTimeout that is not a positive number is refused", async () => {
  await assert.rejects(
    () => Client.connect("tcp://127.0.0.1:1", { heartbeatTimeout: 0 }),
    RangeError,
  );
});

Deno.test("client.close() while results, wait and asCompleted are pending: each ends with a clear error instead of hanging", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  const client = await Client.connect(cluster.address, quiet);
  const ops = client.module<Ops>(OPS);
  const long = ops.spin(30_000);
  const pending = long.result();
  pending.catch(() => {});
  const waited = wait([long]);
  const iterated = (async () => {
    const seen: Future[] = [];
    for await (const f of asCompleted([long])) seen.push(f);
    return seen;
  })();
  await new Promise((resolve) => setTimeout(resolve, 200)); // submitted
  await client.close();
  await assert.rejects(pending, /the client is closed/);
  const { done, notDone } = await waited;
  assert.equal(done.size + notDone.size, 1);
  assert.deepEqual((await iterated).map((f) => f.key), [long.key]);
});

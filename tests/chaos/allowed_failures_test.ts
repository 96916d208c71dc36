/**
 * `allowedFailures`: how many workers may die running one task before it
 * fails with KilledWorker, set on `LocalCluster` (the scheduler's
 * `--allowed-failures`).
 */
import type { SchedulerSnapshot } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import { schedulerCommand } from "../../src/cli/scheduler.ts";
import { localCommand } from "../../src/cli/local.ts";
import { UsageError } from "../../src/cli/args.ts";
import { FIXTURES, OPS, type Ops, until } from "../cluster/_support.ts";

Deno.test("allowedFailures: 2 — a task survives one death of its worker and fails with KilledWorker on the second", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    allowedFailures: 2,
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  await using scheduler = await connect(cluster.address, { log: () => {} });
  const m = client.module<Ops>(OPS);
  /** Kills the worker once it runs `key`, and waits for its restart. */
  const killWhileRunning = async (key: string): Promise<void> => {
    await until(
      async () =>
        ((await scheduler.request("snapshot")) as SchedulerSnapshot).workers
          .some((w) => w.processing.includes(key)),
      `${key} to be running`,
    );
    const pid = cluster.killWorker(0);
    await cluster.restarted(0, pid);
  };

  const once = m.spin(1500);
  await killWhileRunning(once.key);
  assert.equal(await once.result(), 1500, "one death of two allowed");

  // With the default (3) this task would survive two deaths and finish.
  const twice = m.spin(2500);
  await killWhileRunning(twice.key);
  await killWhileRunning(twice.key);
  await assert.rejects(twice.result(), (error: Error) => {
    // The KilledWorker error.
    assert.match(error.message, /was running on 2 workers that died/);
    return true;
  });
});

Deno.test("--allowed-failures: below 1 or not a number is a usage error", async () => {
  for (const bad of ["0", "x", "-1"]) {
    await assert.rejects(
      schedulerCommand(["--allowed-failures", bad, "--no-dashboard"]),
      UsageError,
    );
    await assert.rejects(
      localCommand(["--allowed-failures", bad, "--no-dashboard"]),
      UsageError,
    );
  }
});

Deno.test("LocalCluster refuses an allowedFailures that is not a positive integer", async () => {
  for (const bad of [0, 1.5, -2, NaN]) {
    await assert.rejects(
      LocalCluster.start({ allowedFailures: bad }),
      RangeError,
    );
  }
});

Deno.test("a worker its nanny kills for memory counts against the task it was running, and the scheduler's log names that task", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 1,
    memoryLimit: "128MiB",
    modules: [new URL("./fixtures/", import.meta.url)],
    allowedFailures: 1,
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const m = client.module<typeof import("./fixtures/chaos_ops.ts")>(
    new URL("./fixtures/chaos_ops.ts", import.meta.url),
  );
  const big = m.hog(256, 10_000);
  await assert.rejects(big.result(), (error: Error) => {
    assert.match(error.message, /running on 1 workers that died/);
    return true;
  });
  // The restarted worker registers, saying why its predecessor died.
  await until(
    () =>
      lines.find((l) =>
        /^scheduler: .*worker \S+ (died|removed) \(killed by its nanny for memory at [\d.]+ MiB\) while running /
          .test(l) && l.includes(big.key)
      ),
    "the scheduler's line about the memory kill",
  );
  assert.ok(lines.some((l) => /memory limit: killing it/.test(l)));
});

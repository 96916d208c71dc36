/**
 * What is refused at start: a memory limit no worker can run with, and a
 * non-loopback interface without `--insecure-allow-remote`.
 */
import assert from "node:assert/strict";
import { LocalCluster } from "../../src/cluster/local_cluster.ts";
import { isLoopbackHost } from "../../src/cluster/remote.ts";
import { MIN_MEMORY_LIMIT } from "../../src/memory/floor.ts";
import { runDeno } from "../_support/run.ts";
import { Client } from "../../src/client/client.ts";
import {
  CLI,
  CliProcess,
  expectedDot,
  FIXTURES,
  OPS,
  type Ops,
} from "./_support.ts";

const quiet = { log: () => {} };

const FLOOR =
  /memory limit 2 B is below the smallest a worker can run with \(112 MiB\); use at least 112 MiB/;

Deno.test("the memory floor is at most 128 MiB, the limit tests and benchmarks run workers at", () => {
  assert.ok(MIN_MEMORY_LIMIT <= 128 * 2 ** 20);
  assert.equal(MIN_MEMORY_LIMIT, 112 * 2 ** 20);
});

Deno.test("worker, local and demo refuse a memory limit below the floor, naming the smallest that works", async () => {
  const runs = await Promise.all([
    ["worker", "tcp://127.0.0.1:8786", "--memory-limit", "2"],
    ["worker", "tcp://127.0.0.1:8786", "--no-nanny", "--memory-limit", "2"],
    ["local", "--memory-limit", "2"],
    ["demo", "--memory-limit", "2"],
  ].map((args) =>
    runDeno(["--no-prompt", "--allow-net=127.0.0.1"], CLI, args).then((r) => ({
      args,
      ...r,
    }))
  ));
  for (const { args, code, stdout, stderr } of runs) {
    const what = args.join(" ");
    assert.equal(code, 2, `${what}: ${stderr}`);
    assert.equal(stdout, "", what);
    const first = stderr.split("\n")[0];
    assert.match(first, /^spillway: --memory-limit 2: /, what);
    assert.match(first, FLOOR, what);
  }
});

Deno.test("the floor itself is accepted: a worker at 112 MiB starts and computes", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    memoryLimit: MIN_MEMORY_LIMIT,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, quiet);
  const ops = client.module<Ops>(OPS);
  assert.equal(
    await ops.dot(ops.chunk(0, 1000), ops.chunk(1, 1000)).result(),
    expectedDot(0, 1, 1000),
  );
  const [worker] = await client.workers();
  assert.equal(worker.memoryLimit, MIN_MEMORY_LIMIT);
  assert.equal(worker.status, "running");
});

Deno.test("LocalCluster.start refuses a memory limit below the floor before starting anything", async () => {
  await assert.rejects(
    () => LocalCluster.start({ memoryLimit: 2, log: () => {} }),
    (error: Error) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, FLOOR);
      return true;
    },
  );
  await assert.rejects(
    () => LocalCluster.start({ memoryLimit: "64MiB", log: () => {} }),
    /memory limit 64\.00 MiB is below the smallest a worker can run with \(112 MiB\)/,
  );
});

Deno.test("loopback hosts: 127.0.0.0/8, ::1 and localhost, in their spellings", () => {
  for (
    const h of [
      "127.0.0.1",
      "127.1.2.3",
      "localhost",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
    ]
  ) assert.ok(isLoopbackHost(h), h);
  for (
    const h of [
      "0.0.0.0",
      "::",
      "192.168.1.5",
      "10.0.0.1",
      "::ffff:10.0.0.1",
      "fe80::1",
      "example.com",
      "128.0.0.1",
    ]
  ) assert.ok(!isLoopbackHost(h), h);
});

Deno.test("a non-loopback --host is refused without --insecure-allow-remote, with an explanation naming it", async () => {
  const runs = await Promise.all([
    ["scheduler", "--host", "0.0.0.0", "--port", "0"],
    ["worker", "tcp://127.0.0.1:8786", "--host", "0.0.0.0"],
    ["worker", "tcp://127.0.0.1:8786", "--no-nanny", "--host", "0.0.0.0"],
    ["local", "--host", "0.0.0.0"],
  ].map((args) =>
    runDeno(["--no-prompt", "--allow-net"], CLI, args).then((r) => ({
      args,
      ...r,
    }))
  ));
  for (const { args, code, stdout, stderr } of runs) {
    const what = args.join(" ");
    assert.equal(code, 2, `${what}: ${stderr}`);
    assert.equal(stdout, "", what);
    const first = stderr.split("\n")[0];
    assert.match(
      first,
      /^spillway: --host host 0\.0\.0\.0 is not a loopback address: .*anyone who can reach a port bound there can run code on every worker; pass --insecure-allow-remote to bind it anyway/,
      what,
    );
  }
});

Deno.test("with --insecure-allow-remote the scheduler binds 0.0.0.0 and warns; a loopback host needs nothing", async () => {
  {
    await using remote = new CliProcess(["--allow-net"], [
      "scheduler",
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--insecure-allow-remote",
    ]);
    await remote.line(/^scheduler listening at tcp:\/\/0\.0\.0\.0:\d+$/);
    assert.ok(
      remote.stderr.some((l) =>
        /^WARNING: the scheduler listens on 0\.0\.0\.0, .*anyone who can reach its port can run code on every worker/
          .test(l)
      ),
      remote.stderr.join("\n"),
    );
  }
  for (const host of ["127.0.0.2", "localhost"]) {
    await using local = new CliProcess(["--allow-net"], [
      "scheduler",
      "--host",
      host,
      "--port",
      "0",
    ]);
    await local.line(/^scheduler listening at tcp:\/\/\S+$/);
    assert.deepEqual(local.stderr, [], host);
  }
});

Deno.test("with --insecure-allow-remote a worker accepts 0.0.0.0 and warns", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nobody = `tcp://127.0.0.1:${listener.addr.port}`;
  listener.close();
  // Nothing listens at the scheduler's address: it gets as far as trying.
  const r = await runDeno(["--no-prompt", "-A"], CLI, [
    "worker",
    nobody,
    "--no-nanny",
    "--host",
    "0.0.0.0",
    "--insecure-allow-remote",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^WARNING: the worker listens on 0\.0\.0\.0, .*can run code on every worker/m,
  );
  assert.match(r.stderr, /could not start the worker \(scheduler tcp:/);
});

Deno.test("a LocalCluster on 0.0.0.0 with insecureAllowRemote computes; its processes warn", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 1,
    host: "0.0.0.0",
    insecureAllowRemote: true,
    modules: [FIXTURES],
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, quiet);
  assert.equal(await client.module<Ops>(OPS).inc(1).result(), 2);
  assert.ok(
    lines.some((l) =>
      /^scheduler: WARNING: the scheduler listens on 0\.0\.0\.0/.test(l)
    ),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) =>
      /^worker-0: WARNING: the worker listens on 0\.0\.0\.0/.test(l)
    ),
    lines.join("\n"),
  );
});

Deno.test("LocalCluster.start refuses a non-loopback host without insecureAllowRemote", async () => {
  await assert.rejects(
    () => LocalCluster.start({ host: "0.0.0.0", log: () => {} }),
    /host 0\.0\.0\.0 is not a loopback address: .*pass insecureAllowRemote: true to bind it anyway/,
  );
});

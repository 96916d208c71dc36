/**
 * Workers that lose their scheduler try to reach it again for
 * `--reconnect-timeout`: a scheduler restarted on the same address gets its
 * workers back; after the window the worker exits as before.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { EXIT_LOST_SCHEDULER } from "../../src/cluster/nanny.ts";
import { CliProcess, FIXTURES, OPS, type Ops, SRC, until } from "./_support.ts";

const fixtures = FIXTURES.pathname.replace(/\/$/, "");
const STARTED = /^worker process (\d+) started \(spill dir (.+)\)$/;
const LISTENING = /^worker listening at (tcp:\/\/\S+)$/;
const quiet = { log: () => {} };

/** A port nobody listens on now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

function scheduler(port: number): CliProcess {
  return new CliProcess(["--allow-net=127.0.0.1"], [
    "scheduler",
    "--port",
    String(port),
  ]);
}

/** A nanny'd worker with only what it needs. */
function worker(address: string, spillRoot: string, ...more: string[]) {
  return new CliProcess([
    "--allow-net=127.0.0.1",
    `--allow-read=${spillRoot},${fixtures},${SRC}`,
    `--allow-write=${spillRoot}`,
    "--allow-sys=hostname",
    `--allow-run=${Deno.execPath()},cat`,
  ], [
    "worker",
    address,
    "--spill-dir",
    spillRoot,
    "--modules",
    fixtures,
    ...more,
  ]);
}

Deno.test("a scheduler restarted on the same address gets its worker back: the worker re-registers, empty, and computes", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-reconnect-" });
  try {
    const port = freePort();
    const first = scheduler(port);
    const [, address] = await first.line(
      /^scheduler listening at (tcp:\/\/\S+)$/,
    );
    await using w = worker(
      address,
      join(root, "w"),
      "--reconnect-timeout",
      "30s",
    );
    const [, pid] = await w.line(STARTED);
    const [, workerAddress] = await w.line(LISTENING);
    // This client's key stays on the worker until the scheduler dies.
    const old = await Client.connect(address, quiet);
    const held = old.module<Ops>(OPS).chunk(0, 1000);
    assert.equal((await held.result()).length, 1000);
    const keys = (ws: { store: { live: { count: number } } | null }[]) =>
      ws[0].store?.live.count;
    await until(
      async () => keys(await old.workers()) === 1,
      "the worker to report its key",
    );

    await first.stop("SIGKILL");
    await until(
      () => w.stderr.some((l) => /lost the scheduler at .*reconnect/.test(l)),
      "the worker to notice",
    );
    await using second = scheduler(port);
    await second.line(/^scheduler listening at (tcp:\/\/\S+)$/);
    await using client = await Client.connect(address, quiet);
    const workers = await until(async () => {
      const ws = await client.workers();
      return ws.length === 1 && ws[0].store !== null ? ws : null;
    }, "the worker to register again and report");
    assert.equal(workers[0].address, workerAddress, "the same worker");
    assert.equal(keys(workers), 0, "it dropped what the old scheduler knew");
    await old.close();
    const ops = client.module<Ops>(OPS);
    assert.equal(await ops.inc(ops.inc(1)).result(), 3);
    // The same worker process, not a fresh one from the nanny.
    assert.deepEqual(
      w.stdout.filter((l) => STARTED.test(l)),
      [`worker process ${pid} started (spill dir ${
        w.stdout.find((l) => STARTED.test(l))!.match(STARTED)![2]
      })`],
    );
    assert.ok(
      w.stderr.some((l) => /registered again with the scheduler at/.test(l)),
      w.stderr.join("\n"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a worker whose scheduler stays away past --reconnect-timeout exits with the lost-scheduler status", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-reconnect-" });
  try {
    await using s = scheduler(0);
    const [, address] = await s.line(/^scheduler listening at (tcp:\/\/\S+)$/);
    await using w = worker(
      address,
      join(root, "w"),
      "--reconnect-timeout",
      "300ms",
    );
    await w.line(LISTENING);
    await s.stop("SIGKILL");
    const status = await w.exited();
    assert.equal(status.code, EXIT_LOST_SCHEDULER, w.stderr.join("\n"));
    const log = w.stderr.join("\n");
    assert.match(
      log,
      new RegExp(
        `could not reconnect to the scheduler at ${address} within 0\\.3 s`,
      ),
    );
    assert.match(log, /lost its scheduler; stopping/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--reconnect-timeout takes a duration or 0; anything else is a usage error", async () => {
  const bad = new CliProcess(["--allow-net=127.0.0.1"], [
    "worker",
    "tcp://127.0.0.1:8786",
    "--reconnect-timeout",
    "soon",
  ]);
  const status = await bad.exited();
  assert.equal(status.code, 2);
  assert.match(
    bad.stderr[0],
    /^spillway: --reconnect-timeout: invalid duration "soon".*\(or 0\)$/,
  );
});

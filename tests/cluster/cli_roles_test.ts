/**
 * `cli.ts scheduler` and `cli.ts worker <address>` as separate processes,
 * started as a user would, with least-privilege flags; and the nanny.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { statfs } from "../../src/platform/libc.ts";
import { TMPFS_MAGIC } from "../../src/store/tmpfs.ts";
import { filesUnder } from "../_support/files.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import {
  alive,
  CliProcess,
  exists,
  expectedDot,
  FIXTURES,
  OPS,
  type Ops,
  SRC,
  until,
} from "./_support.ts";

const fixtures = FIXTURES.pathname.replace(/\/$/, "");
const STARTED = /^worker process (\d+) started \(spill dir (.+)\)$/;
const LISTENING = /^worker listening at (tcp:\/\/\S+)$/;

function scheduler(): CliProcess {
  return new CliProcess(["--allow-net=127.0.0.1"], [
    "scheduler",
    "--port",
    "0",
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

Deno.test("a scheduler and two workers started from the CLI compute a graph; SIGTERM stops them and removes the spill dirs", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-cli-test-" });
  try {
    await using s = scheduler();
    const [, address] = await s.line(
      /^scheduler listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
    );
    await using w0 = worker(
      address,
      join(root, "w0"),
      "--memory-limit",
      "1GiB",
    );
    await using w1 = worker(address, join(root, "w1"), "--nthreads", "2");
    const started = await Promise.all([w0, w1].map((w) => w.line(STARTED)));
    await Promise.all([w0, w1].map((w) => w.line(LISTENING)));
    const pids = started.map((m) => Number(m[1]));
    const dirs = started.map((m) => m[2]);
    for (const dir of dirs) assert.ok(exists(dir), dir);

    await using client = await Client.connect(address, { log: () => {} });
    const workers = await client.workers();
    assert.equal(workers.length, 2);
    assert.deepEqual(
      workers.map((w) => w.memoryLimit).sort(),
      [2 ** 30, null].sort(),
    );
    const m = client.module<Ops>(OPS);
    const dots = [0, 1, 2, 3].map((i) =>
      m.dot(m.chunk(i, 50_000), m.chunk(i + 1, 50_000))
    );
    let expected = 0;
    for (let i = 0; i < 4; i++) expected += expectedDot(i, i + 1, 50_000);
    assert.equal(await m.sum(...dots).result(), expected);
    await client.close();

    for (const w of [w0, w1]) {
      const status = await w.stop("SIGTERM");
      assert.equal(status.code, 0, w.stderr.join("\n"));
    }
    for (const pid of pids) assert.ok(!alive(pid), `worker process ${pid}`);
    for (const dir of dirs) assert.ok(!exists(dir), `${dir} removed`);
    assert.deepEqual([...Deno.readDirSync(join(root, "w0"))], []);
    assert.equal((await s.stop("SIGTERM")).code, 0, s.stderr.join("\n"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the nanny starts a fresh worker process when its worker is killed, and removes the old spill dir", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-nanny-test-" });
  try {
    await using s = scheduler();
    const [, address] = await s.line(/^scheduler listening at (tcp:\/\/\S+)$/);
    await using w = worker(address, root);
    const [, pidText, dir] = await w.line(STARTED);
    const [, first] = await w.line(LISTENING);
    await using client = await Client.connect(address, { log: () => {} });
    assert.deepEqual((await client.workers()).map((x) => x.address), [first]);

    Deno.kill(Number(pidText), "SIGKILL");
    const from = w.stdout.length;
    const [, newPid, newDir] = await w.line(STARTED, from);
    const [, second] = await w.line(LISTENING, from);
    assert.notEqual(newPid, pidText);
    assert.notEqual(newDir, dir);
    assert.ok(!exists(dir), "the killed worker's spill dir is removed");
    await until(async () => {
      const addresses = (await client.workers()).map((x) => x.address);
      return addresses.length === 1 && addresses[0] === second;
    }, "the fresh worker to register");
    const m = client.module<Ops>(OPS);
    assert.equal(await m.inc(41).result(), 42);
    assert.ok(
      w.stderr.some((l) => /was killed by SIGKILL; restarting/.test(l)),
      w.stderr.join("\n"),
    );
    await client.close();
    assert.equal((await w.stop("SIGINT")).code, 0);
    assert.ok(!alive(Number(newPid)));
    assert.deepEqual([...Deno.readDirSync(root)], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the nanny kills a worker past 95% of its memory limit", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-nanny-test-" });
  try {
    await using s = scheduler();
    const [, address] = await s.line(/^scheduler listening at (tcp:\/\/\S+)$/);
    // 120 MiB: a worker process starts at ~60 MiB; a 64 MiB chunk pushes it over.
    await using w = worker(address, root, "--memory-limit", "120MiB");
    const [, pid] = await w.line(STARTED);
    await w.line(LISTENING);
    await using client = await Client.connect(address, { log: () => {} });
    const m = client.module<Ops>(OPS);
    m.chunk(0, 8 * 2 ** 20);
    await until(
      () => w.stderr.find((l) => l.includes(`worker process ${pid} uses`)),
      "the memory kill",
    );
    assert.match(
      w.stderr.join("\n"),
      /uses [\d.]+ MiB, past 95% of its 120\.00 MiB memory limit: killing it/,
    );
    await w.line(new RegExp(`^worker process (?!${pid}\\b)\\d+ started`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the nanny gives up after five quick failures in a row", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  const root = await Deno.makeTempDir({ prefix: "spillway-nanny-test-" });
  try {
    await using w = worker(`tcp://127.0.0.1:${port}`, root);
    const status = await w.exited();
    assert.equal(status.code, 1);
    const log = w.stderr.join("\n");
    assert.match(log, /could not start the worker/);
    assert.match(log, /5 quick failures in a row .*: giving up/);
    assert.equal(w.stdout.filter((l) => STARTED.test(l)).length, 5);
    assert.deepEqual([...Deno.readDirSync(root)], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// The test below needs a temp directory that is not a tmpfs.
const TEMP_DIR = Deno.env.get("TMPDIR") ?? "/tmp";
const tempIsTmpfs = (() => {
  try {
    return statfs(TEMP_DIR).type === TMPFS_MAGIC;
  } catch {
    return false; // the test then says what is wrong with TEMP_DIR
  }
})();

Deno.test({
  name:
    "a worker whose shared spill root is not a tmpfs says so once and is not restarted (exit 78)",
  ignore: tempIsTmpfs,
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-nanny-test-" });
  try {
    await using w = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${root},${fixtures},${SRC}`,
      `--allow-write=${root}`,
      "--allow-sys=hostname",
      "--allow-ffi",
      `--allow-run=${Deno.execPath()},cat`,
    ], ["worker", "tcp://127.0.0.1:9", "--spill-dir", root, "--shared-memory"]);
    const status = await w.exited();
    assert.equal(status.code, 78);
    const log = w.stderr.join("\n");
    assert.equal(log.match(/is not a tmpfs/g)?.length, 1, log);
    assert.match(
      log,
      /mount -t tmpfs -o size=\d+,huge=within_size,mode=1777 tmpfs/,
    );
    assert.match(log, /cannot run with this configuration .*not restarting/);
    assert.equal(w.stdout.filter((l) => STARTED.test(l)).length, 1);
    assert.deepEqual([...Deno.readDirSync(root)], [], "spill dir removed");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("`local` runs a cluster until SIGINT, then stops it and removes its spill dirs", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-local-test-" });
  try {
    await using local = new CliProcess([
      `--allow-run=${Deno.execPath()}`,
      `--allow-read=${root}`,
      `--allow-write=${root}`,
    ], [
      "local",
      "--workers",
      "2",
      "--memory-limit",
      "512MiB",
      "--spill-dir",
      root,
      "--modules",
      fixtures,
    ]);
    const [, address] = await local.line(
      /^scheduler listening at (tcp:\/\/\S+)$/,
    );
    const workers = [];
    for (let i = 0; i < 2; i++) {
      workers.push(
        await local.line(/^worker listening at \S+ \(pid (\d+)\)$/, i + 1),
      );
    }
    await using client = await Client.connect(address, { log: () => {} });
    const m = client.module<Ops>(OPS);
    assert.equal(
      await m.dot(m.chunk(0, 1000), m.chunk(1, 1000)).result(),
      expectedDot(0, 1, 1000),
    );
    assert.deepEqual(
      (await client.workers()).map((w) => w.memoryLimit),
      [512 * 2 ** 20, 512 * 2 ** 20],
    );
    await client.close();
    assert.equal((await local.stop("SIGINT")).code, 0, local.stderr.join("\n"));
    for (const [, pid] of workers) assert.ok(!alive(Number(pid)));
    assert.deepEqual([...Deno.readDirSync(root)], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name:
    "`local --shared-memory --target 0` on a tmpfs: results go to the tmpfs at once; SIGINT removes them",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("300m");
    await using local = new CliProcess([
      `--allow-run=${Deno.execPath()}`,
      `--allow-read=${tmpfs.path}`,
      `--allow-write=${tmpfs.path}`,
    ], [
      "local",
      "--workers",
      "2",
      "--memory-limit",
      "256MiB",
      "--spill-dir",
      tmpfs.path,
      "--shared-memory",
      "--target",
      "0",
      "--modules",
      fixtures,
    ]);
    const [, address] = await local.line(
      /^scheduler listening at (tcp:\/\/\S+)$/,
    );
    await using client = await Client.connect(address, { log: () => {} });
    const m = client.module<Ops>(OPS);
    const n = 2 ** 20; // 8 MiB: an executor writes it to the tmpfs itself
    const a = m.chunk(0, n);
    const b = m.chunk(1, n);
    assert.equal(await m.dot(a, b).result(), expectedDot(0, 1, n));
    // Held by the client, both chunks are spill files already (target 0;
    // with the default target they would stay in the workers' memory).
    const big = (await filesUnder(tmpfs.path)).filter((f) =>
      f.info.size >= n * 8
    );
    assert.ok(big.length >= 2, JSON.stringify(big));
    assert.match(local.stderr.join("\n"), /\(shared memory\)/);
    await client.close();
    assert.equal((await local.stop("SIGINT")).code, 0, local.stderr.join("\n"));
    assert.deepEqual(await filesUnder(tmpfs.path), []);
  },
});

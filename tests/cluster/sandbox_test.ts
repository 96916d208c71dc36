/**
 * Tasks run in a sandbox: in a LocalCluster and under the `worker`
 * command, a task that reads /etc/passwd, writes a file, opens a socket or
 * runs a program fails with a permission error naming the grant that would
 * allow it, and the worker keeps serving; with the grant
 * (`taskPermissions`, `--task-allow-*`), the task does it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, RemoteTaskError } from "../../src/client/mod.ts";
import { LocalCluster } from "../../src/cluster/local_cluster.ts";
import { CliProcess, exists, FIXTURES, SRC } from "./_support.ts";

type Escape = typeof import("./fixtures/escape_ops.ts");
type Npm = typeof import("./fixtures/npm_ops.ts");
const ESCAPE = new URL("./escape_ops.ts", FIXTURES);
const NPM = new URL("./npm_ops.ts", FIXTURES);
const fixtures = FIXTURES.pathname.replace(/\/$/, "");
const quiet = { log: () => {} };

/** A TCP listener on loopback that accepts (and closes) connections. */
function listener(): { port: number; accepted: Promise<void> } & Disposable {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    for await (const connection of server) connection.close();
  })().catch(() => {});
  return {
    port: server.addr.port,
    accepted,
    [Symbol.dispose]: () => server.close(),
  };
}

/**
 * Rejects with the sandbox's refusal of `kind`, naming the grant for
 * `where` (`worker`: the flag; `cluster`: the option).
 */
async function refused(
  result: Promise<unknown>,
  kind: "read" | "write" | "net" | "run" | "env",
): Promise<void> {
  await assert.rejects(result, (e: unknown) => {
    assert.ok(e instanceof RemoteTaskError, String(e));
    assert.equal(e.remoteName, "NotCapable", e.message);
    assert.match(e.message, new RegExp(`Requires ${kind} access`));
    assert.ok(e.message.includes(`--task-allow-${kind} on`), e.message);
    assert.ok(e.message.includes(`taskPermissions.${kind} on`), e.message);
    return true;
  });
}

/** The four escapes, each refused; the worker still runs tasks after. */
async function escapesRefused(client: Client, dir: string): Promise<void> {
  const m = client.module<Escape>(ESCAPE);
  using server = listener();
  const written = join(dir, "escaped.txt");
  await refused(m.readFile("/etc/passwd").result(), "read");
  await refused(m.writeFile(written, "out").result(), "write");
  await refused(m.openSocket(server.port).result(), "net");
  await refused(m.spawn("true").result(), "run");
  await refused(m.env("HOME").result(), "env");
  assert.ok(!exists(written), "nothing was written");
  // The worker keeps serving, and npm: modules load from Deno's cache.
  assert.equal(await m.inc(41).result(), 42);
  const npm = client.module<Npm>(NPM);
  assert.deepEqual(await npm.roundTrip([1, 2, 3]).result(), [1, 2, 3]);
}

Deno.test("LocalCluster: a task that reads /etc/passwd, writes, connects or spawns fails with the grant to use; others run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spillway-sandbox-" });
  try {
    await using cluster = await LocalCluster.start({
      workers: 1,
      modules: [FIXTURES],
      dashboard: false,
      ...quiet,
    });
    await using client = await Client.connect(cluster.address, quiet);
    await escapesRefused(client, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LocalCluster taskPermissions: granted, the tasks do it; what is not granted stays refused (no nanny too)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spillway-sandbox-" });
  try {
    using server = listener();
    for (const nanny of [true, false]) {
      await using cluster = await LocalCluster.start({
        workers: 1,
        nanny,
        modules: [FIXTURES],
        dashboard: false,
        taskPermissions: {
          read: ["/etc/passwd"],
          write: [dir],
          net: [`127.0.0.1:${server.port}`],
          run: ["true"],
        },
        ...quiet,
      });
      await using client = await Client.connect(cluster.address, quiet);
      const m = client.module<Escape>(ESCAPE);
      const file = join(dir, `granted-${nanny}.txt`);
      assert.ok((await m.readFile("/etc/passwd").result()) > 0);
      assert.equal(await m.writeFile(file, "granted").result(), 7);
      assert.equal(await Deno.readTextFile(file), "granted");
      assert.equal(await m.openSocket(server.port).result(), true);
      assert.equal(await m.spawn("true").result(), 0);
      // Only what was granted: env was not, nor other files.
      await refused(m.env("HOME").result(), "env");
      await refused(m.readFile("/etc/hostname").result(), "read");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function scheduler(): CliProcess {
  return new CliProcess(["--allow-net=127.0.0.1"], [
    "scheduler",
    "--port",
    "0",
    "--no-dashboard",
  ]);
}

const LISTENING = /^worker listening at (tcp:\/\/\S+)$/;

Deno.test("worker command: the escapes fail with the --task-allow-* flag to use; with the flags they succeed", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-sandbox-cli-" });
  try {
    await using s = scheduler();
    const [, address] = await s.line(
      /^scheduler listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
    );
    const out = join(root, "out");
    await Deno.mkdir(out);
    using server = listener();
    // A nanny'd worker with only what it needs (and, for the grants, what
    // it hands on).
    const spill = join(root, "spill");
    await using plain = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${spill},${fixtures},${SRC}`,
      `--allow-write=${spill}`,
      "--allow-sys=hostname",
      `--allow-run=${Deno.execPath()},cat`,
    ], ["worker", address, "--spill-dir", spill, "--modules", fixtures]);
    await plain.line(LISTENING);
    {
      await using client = await Client.connect(address, quiet);
      await escapesRefused(client, out);
    }
    await plain.stop("SIGTERM");

    await using granted = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${spill},${fixtures},${SRC},/etc/passwd`,
      `--allow-write=${spill},${out}`,
      "--allow-sys=hostname",
      `--allow-run=${Deno.execPath()},cat,true`,
      "--allow-env",
    ], [
      "worker",
      address,
      "--spill-dir",
      spill,
      "--modules",
      fixtures,
      "--task-allow-read=/etc/passwd",
      `--task-allow-write=${out}`,
      `--task-allow-net=127.0.0.1:${server.port}`,
      "--task-allow-run=true",
      "--task-allow-env",
    ]);
    await granted.line(LISTENING);
    await using client = await Client.connect(address, quiet);
    const m = client.module<Escape>(ESCAPE);
    assert.ok((await m.readFile("/etc/passwd").result()) > 0);
    assert.equal(await m.writeFile(join(out, "w.txt"), "cli").result(), 3);
    assert.equal(await Deno.readTextFile(join(out, "w.txt")), "cli");
    assert.equal(await m.openSocket(server.port).result(), true);
    assert.equal(await m.spawn("true").result(), 0);
    // Bare --task-allow-env: any variable.
    assert.equal(await m.env("PATH").result(), Deno.env.get("PATH") ?? null);
    await refused(m.readFile("/etc/hostname").result(), "read");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("worker command: granting tasks what the process does not hold is refused at start, naming the flag", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-sandbox-cli-" });
  try {
    await using w = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${root},${SRC}`,
      `--allow-write=${root}`,
      "--allow-sys=hostname",
      `--allow-run=${Deno.execPath()},cat`,
    ], [
      "worker",
      "tcp://127.0.0.1:1",
      "--spill-dir",
      root,
      "--task-allow-write=/srv/nowhere",
      "--task-allow-env=HOME",
    ]);
    const status = await w.exited();
    assert.equal(status.code, 1);
    const said = w.stderr.join("\n");
    assert.match(
      said,
      /cannot grant its tasks what this process does not hold/,
    );
    assert.ok(said.includes("--allow-write=/srv/nowhere"), said);
    assert.ok(said.includes("--allow-env=HOME"), said);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("worker --no-nanny without --unstable-worker-options warns that its tasks are not sandboxed", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-sandbox-cli-" });
  try {
    const flags = [
      "--allow-net=127.0.0.1",
      `--allow-read=${root},${SRC}`,
      `--allow-write=${root}`,
      "--allow-sys=hostname",
    ];
    // Nothing listens at the scheduler's address: it gets as far as trying.
    const args = ["worker", "tcp://127.0.0.1:1", "--spill-dir", root];
    await using plain = new CliProcess(flags, [...args, "--no-nanny"]);
    assert.equal((await plain.exited()).code, 1);
    assert.match(
      plain.stderr.join("\n"),
      /WARNING: tasks run with all of this process's permissions, not in the sandbox/,
    );
    await using sandboxed = new CliProcess(
      ["--unstable-worker-options", ...flags],
      [...args, "--no-nanny", "--sandbox"],
    );
    assert.equal((await sandboxed.exited()).code, 1);
    assert.doesNotMatch(sandboxed.stderr.join("\n"), /WARNING: tasks run/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Authentication on real processes: the shared token and the handshake
 * (client, worker, peer), the protocol version, the pre-handshake message
 * limit, `--max-message-size`, the token never on a command line, the
 * non-loopback rule with a token, and the dashboard's bearer token and
 * login page.
 */
import assert from "node:assert/strict";
import { LocalCluster } from "../../src/cluster/local_cluster.ts";
import { Client } from "../../src/client/client.ts";
import { Connection } from "../../src/comm/connection.ts";
import { connect } from "../../src/comm/server.ts";
import {
  AuthenticationError,
  ProtocolVersionError,
} from "../../src/comm/errors.ts";
import {
  HANDSHAKE_MAX_BYTES,
  offerHandshake,
} from "../../src/comm/handshake.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/version.ts";
import type { WorkerOperations } from "../../src/protocol/operations.ts";
import { CLI, CliProcess, FIXTURES, OPS, type Ops, until } from "./_support.ts";
import { runDeno } from "../_support/run.ts";

const quiet = { log: () => {} };
const TOKEN = "correct horse battery staple, 0123456789abcdef";

/** A process's resident memory, bytes. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** Says neither "missing", "wrong", "no token" nor which side was wrong. */
function assertUndisclosed(message: string): void {
  assert.match(message, /authentication failed/);
  assert.doesNotMatch(
    message,
    /missing|wrong|invalid|incorrect|no token|not set|expected|mismatch/i,
  );
}

/** The command lines of `pid` and of all its descendants. */
async function commandLines(pid: number): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: number) => {
    try {
      out.push(
        (await Deno.readTextFile(`/proc/${p}/cmdline`)).replaceAll("\0", " "),
      );
    } catch {
      return; // gone
    }
    let children = "";
    try {
      children = await Deno.readTextFile(`/proc/${p}/task/${p}/children`);
    } catch {
      return;
    }
    for (const child of children.trim().split(/\s+/).filter((c) => c !== "")) {
      await visit(Number(child));
    }
  };
  await visit(pid);
  return out;
}

Deno.test("a LocalCluster with authToken: true computes for Client.connect(cluster); the token is on no child's command line", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    authToken: true,
    modules: [FIXTURES],
    log: () => {},
  });
  const token = cluster.authToken;
  assert.ok(token !== null && token.length >= 32, String(token));
  await using client = await Client.connect(cluster, quiet);
  const ops = client.module<Ops>(OPS);
  // Inputs on both workers: the workers fetch from each other (peer
  // connections, authenticated too).
  const a = ops.chunk(0, 1000);
  const b = ops.chunk(1, 1000);
  assert.equal(typeof await ops.dot(a, b).result(), "number");
  const lines = [
    ...await commandLines(cluster.schedulerPid),
    ...(await Promise.all(
      cluster.workers.map((w) => commandLines(w.nannyPid ?? w.pid)),
    )).flat(),
  ];
  assert.ok(lines.length >= 5, lines.join("\n")); // scheduler, 2 nannies, 2 workers
  for (const line of lines) assert.ok(!line.includes(token), line);
  // The children have it, in their environment.
  const env = await Deno.readTextFile(`/proc/${cluster.workers[0].pid}/environ`)
    .catch(() => "");
  if (env !== "") assert.ok(env.includes(`SPILLWAY_AUTH_TOKEN=${token}`));
});

Deno.test("a wrong token and a missing token are refused, and the message says neither", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    authToken: TOKEN,
    modules: [FIXTURES],
    log: () => {},
  });
  assert.equal(cluster.authToken, TOKEN);
  const wrong = await Client.connect(cluster.address, {
    ...quiet,
    authToken: `${TOKEN}!`,
  }).then(() => null, (e: Error) => e);
  const missing = await Client.connect(cluster.address, quiet).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(wrong !== null && missing !== null);
  assertUndisclosed(wrong.message);
  assertUndisclosed(missing.message);
  assert.ok(wrong.cause instanceof AuthenticationError);
  assert.ok(missing.cause instanceof AuthenticationError);
  // The same words either way (past the address).
  assert.equal(
    wrong.message.replace(/^.*?: /, ""),
    missing.message.replace(/^.*?: /, ""),
  );
  // A client with a token refuses a server without one, the same way.
  await using open = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  assert.equal(open.authToken, null);
  const impostor = await Client.connect(open.address, {
    ...quiet,
    authToken: TOKEN,
  }).then(() => null, (e: Error) => e);
  assert.ok(impostor !== null);
  assertUndisclosed(impostor.message);
  // And the right token works.
  await using client = await Client.connect(cluster.address, {
    ...quiet,
    authToken: TOKEN,
  });
  assert.equal(await client.module<Ops>(OPS).inc(1).result(), 2);
});

Deno.test("a rogue client connecting straight to a worker's address without the token is refused (peer connections are authenticated)", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    authToken: TOKEN,
    modules: [FIXTURES],
    log: () => {},
  });
  const worker = cluster.workers[0].address;
  for (const authToken of [null, "guess"]) {
    await assert.rejects(
      connect<WorkerOperations>(worker, {
        authToken,
        protocolVersion: PROTOCOL_VERSION,
        log: () => {},
      }),
      (e: unknown) => {
        assert.ok(e instanceof AuthenticationError, String(e));
        assertUndisclosed((e as Error).message);
        return true;
      },
    );
  }
  // With the token, a peer is served.
  await using peer = await connect<WorkerOperations>(worker, {
    authToken: TOKEN,
    protocolVersion: PROTOCOL_VERSION,
    log: () => {},
  });
  assert.equal(await peer.request("ping", undefined), "pong");
});

Deno.test("a worker with a wrong token cannot join; the scheduler logs the refusal", async () => {
  await using scheduler = new CliProcess(
    ["--allow-net=127.0.0.1", "--allow-env=SPILLWAY_AUTH_TOKEN"],
    ["scheduler", "--port", "0", "--no-dashboard"],
    { SPILLWAY_AUTH_TOKEN: TOKEN },
  );
  const [, address] = await scheduler.line(
    /^scheduler listening at (tcp:\/\/\S+)$/,
  );
  const r = await runDeno(
    ["--no-prompt", "-A"],
    CLI,
    ["worker", address, "--no-nanny", "--reconnect-timeout", "0"],
    { SPILLWAY_AUTH_TOKEN: "not the token" },
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /could not start the worker \(scheduler tcp:\/\/[^)]+\): authentication failed/,
  );
  assertUndisclosed(
    r.stderr.split("\n").find((l) => /authentication/.test(l))!,
  );
  await until(
    () =>
      scheduler.stderr.some((l) =>
        /refused a connection from .*: authentication failed/.test(l)
      ),
    "the scheduler to log the refusal",
  );
  // With the token in a file, it joins.
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, `${TOKEN}\n`);
  try {
    await using worker = new CliProcess(["-A"], [
      "worker",
      address,
      "--no-nanny",
      "--auth-token-file",
      file,
    ], { SPILLWAY_AUTH_TOKEN: "" });
    await worker.line(/^worker listening at tcp:\/\/\S+$/);
    await using client = await Client.connect(address, {
      ...quiet,
      authToken: TOKEN,
    });
    await until(
      async () => (await client.workers()).length === 1,
      "the worker to join",
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("another protocol version is refused, naming both versions", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  const other = PROTOCOL_VERSION + 41;
  await assert.rejects(
    connect(cluster.address, { protocolVersion: other, log: () => {} }),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolVersionError, String(e));
      assert.equal(e.localVersion, other);
      assert.equal(e.remoteVersion, PROTOCOL_VERSION);
      assert.match(
        e.message,
        new RegExp(
          `speaks Spillway protocol version ${PROTOCOL_VERSION}, this side speaks version ${other}`,
        ),
      );
      return true;
    },
  );
});

Deno.test("before the handshake, a 1 GiB length is refused from the prelude: connection closed, the scheduler's memory unchanged", async () => {
  await using scheduler = new CliProcess(
    ["--allow-net=127.0.0.1"],
    ["scheduler", "--port", "0", "--no-dashboard"],
  );
  const [, address] = await scheduler.line(
    /^scheduler listening at (tcp:\/\/\S+)$/,
  );
  const port = Number(address.split(":").pop());
  const pid = scheduler.process.pid;
  const before = await rss(pid);
  for (let i = 0; i < 4; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // A valid prelude declaring one buffer of 1 GiB (+ a header of 8 bytes).
    const prelude = new Uint8Array(24);
    prelude.set([0x53, 0x50, 0x57, 0x46, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0]);
    new DataView(prelude.buffer).setUint32(16, 2 ** 30, true);
    await conn.write(prelude);
    // The scheduler closes the connection without waiting for the rest.
    const sink = new Uint8Array(64);
    assert.equal(await conn.read(sink).catch(() => null), null);
    conn.close();
  }
  const after = await rss(pid);
  assert.ok(
    after - before < 64 * 2 ** 20,
    `RSS grew from ${before} to ${after}`,
  );
  await until(
    () =>
      scheduler.stderr.some((l) =>
        new RegExp(`message exceeds the ${HANDSHAKE_MAX_BYTES}-byte limit`)
          .test(l)
      ),
    "the refusal to be logged",
  );
  // It still serves.
  await using client = await Client.connect(address, quiet);
  assert.deepEqual(await client.workers(), []);
});

Deno.test("--max-message-size is honoured after the handshake: a message over it closes the connection, one under it is served", async () => {
  await using scheduler = new CliProcess(
    ["--allow-net=127.0.0.1"],
    [
      "scheduler",
      "--port",
      "0",
      "--no-dashboard",
      "--max-message-size",
      "64KiB",
    ],
  );
  const [, address] = await scheduler.line(
    /^scheduler listening at (tcp:\/\/\S+)$/,
  );
  const open = async (): Promise<Connection> => {
    const connection = await Connection.connect(address, {
      maxMessageBytes: HANDSHAKE_MAX_BYTES,
      log: () => {},
    });
    await offerHandshake(connection, { protocolVersion: PROTOCOL_VERSION });
    return connection;
  };
  {
    // 32 KiB: over the pre-handshake limit, under --max-message-size.
    await using connection = await open();
    await connection.send({
      id: 1,
      op: "ping",
      body: new Uint8Array(32 * 1024),
    });
    const reply = await connection.receive() as { re: number; ok: boolean };
    assert.equal(reply.re, 1);
    assert.equal(reply.ok, true);
  }
  {
    await using connection = await open();
    await connection.send({
      id: 2,
      op: "ping",
      body: new Uint8Array(128 * 1024),
    })
      .catch(() => {});
    // No reply: the scheduler closed the connection.
    await assert.rejects(connection.receive());
  }
  await until(
    () =>
      scheduler.stderr.some((l) =>
        /message exceeds the 65536-byte limit/.test(l)
      ),
    "the oversized message to be logged",
  );
});

Deno.test("the dashboard and /metrics answer 401 without the token, 200 with the bearer or the login cookie", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    authToken: TOKEN,
    modules: [FIXTURES],
    log: () => {},
  });
  const base = cluster.dashboardUrl!;
  for (const path of ["metrics", "api/workers", ""]) {
    const bare = await fetch(new URL(path, base));
    await bare.body?.cancel();
    assert.equal(bare.status, 401, path);
    const wrong = await fetch(new URL(path, base), {
      headers: { authorization: "Bearer nope" },
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401, path);
    const right = await fetch(new URL(path, base), {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    await right.body?.cancel();
    assert.equal(right.status, 200, path);
  }
  // The login page: a wrong token is refused; the right one sets a cookie
  // that holds no token.
  const refused = await fetch(new URL("login", base), {
    method: "POST",
    body: new URLSearchParams({ token: "nope" }),
    redirect: "manual",
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  const login = await fetch(new URL("login", base), {
    method: "POST",
    body: new URLSearchParams({ token: TOKEN }),
    redirect: "manual",
  });
  await login.body?.cancel();
  assert.equal(login.status, 303);
  const cookie = login.headers.get("set-cookie")!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.ok(!cookie.includes(TOKEN));
  const session = cookie.split(";")[0];
  const metrics = await fetch(new URL("metrics", base), {
    headers: { cookie: session },
  });
  await metrics.body?.cancel();
  assert.equal(metrics.status, 200);
});

Deno.test("a non-loopback host: refused without a token, allowed with one (no warning)", async () => {
  const refused = await runDeno(["--no-prompt", "--allow-net"], CLI, [
    "scheduler",
    "--host",
    "0.0.0.0",
    "--port",
    "0",
  ], { SPILLWAY_AUTH_TOKEN: "" });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /not a loopback address: .*pass --insecure-allow-remote to bind it anyway .*--auth-token/,
  );
  await using scheduler = new CliProcess(
    ["--allow-net", "--allow-env=SPILLWAY_AUTH_TOKEN"],
    ["scheduler", "--host", "0.0.0.0", "--port", "0", "--no-dashboard"],
    { SPILLWAY_AUTH_TOKEN: TOKEN },
  );
  await scheduler.line(/^scheduler listening at tcp:\/\/0\.0\.0\.0:\d+$/);
  assert.ok(
    !scheduler.stderr.some((l) => /WARNING/.test(l)),
    scheduler.stderr.join("\n"),
  );
  await assert.rejects(
    () => LocalCluster.start({ host: "0.0.0.0", log: () => {} }),
    /not a loopback address: .*pass authToken/,
  );
  await using cluster = await LocalCluster.start({
    workers: 1,
    host: "0.0.0.0",
    authToken: true,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster, quiet);
  assert.equal(await client.module<Ops>(OPS).inc(41).result(), 42);
});

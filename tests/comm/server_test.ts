/**
 * RpcServer and connect over real TCP on 127.0.0.1: defaults, addresses, the set of peers,
 * closing, a garbage connection that leaves every other peer served, and a peer in a real
 * subprocess reached by its address.
 */
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  RemoteError,
  type RpcPeer,
  RpcServer,
} from "../../src/comm/mod.ts";
import { collectLog, deferred, until, writeAll } from "./_helpers.ts";

Deno.test("listen binds 127.0.0.1 on a free port by default and reports its url", async () => {
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
  });
  assert.equal(server.address.hostname, "127.0.0.1");
  assert.ok(server.address.port > 0);
  assert.equal(server.url, `tcp://127.0.0.1:${server.address.port}`);
  for (
    const address of [
      server.url,
      `127.0.0.1:${server.address.port}`,
      server.address,
    ]
  ) {
    await using peer = await connect(address);
    assert.equal(await peer.request("ping"), "pong");
  }
});

Deno.test("connect refuses a malformed address with a clear error", async () => {
  for (
    const [address, why] of [
      ["", /no port/],
      ["127.0.0.1", /no port/],
      ["http://127.0.0.1:80", /unsupported scheme "http"/],
      ["127.0.0.1:0", /port out of range/],
      ["127.0.0.1:65536", /port out of range/],
      ["127.0.0.1:80x", /bad port/],
      [":80", /no host/],
      ["::1:80", /IPv6 host must be written in brackets/],
    ] as const
  ) {
    await assert.rejects(connect(address), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${address}: ${e}`);
      assert.match(e.message, /^invalid address /);
      assert.match(e.message, why);
      return true;
    });
  }
});

Deno.test("connect to a port nobody listens on rejects with the OS error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("peers: onPeer sees each one; the set follows connections; the server can call peers", async () => {
  const log = collectLog();
  const joined: RpcPeer[] = [];
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    onPeer: (peer) => {
      joined.push(peer);
      if (joined.length === 2) throw new Error("onPeer failure is only logged");
    },
    log,
  });
  const a = await connect(server.url, { handlers: { name: () => "a" } });
  const b = await connect(server.url, { handlers: { name: () => "b" } });
  await until(() => server.peers.size === 2, "two peers");
  assert.equal(joined.length, 2);
  const names = await Promise.all(joined.map((p) => p.request("name")));
  assert.deepEqual(names.sort(), ["a", "b"]);
  assert.equal(log.lines.length, 1);
  assert.match(
    log.lines[0],
    /onPeer threw for 127\.0\.0\.1:\d+: Error: onPeer failure is only logged/,
  );
  assert.equal(await b.request("ping"), "pong");
  a.close();
  await until(() => server.peers.size === 1, "a leaves the set");
  b.close();
  await until(() => server.peers.size === 0, "b leaves the set");
});

Deno.test("a garbage connection is logged and closed; other peers keep being served", async () => {
  const log = collectLog();
  await using server = await RpcServer.listen({
    handlers: { ping: (body) => `pong ${body}` },
    log,
  });
  await using good = await connect(server.url);
  assert.equal(await good.request("ping", 1), "pong 1");

  const raw = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.address.port,
  });
  await writeAll(
    raw,
    new TextEncoder().encode("\x00\x01garbage that is not a frame\n"),
  );
  await until(() => log.lines.length === 1, "the bad connection to be logged");
  assert.match(
    log.lines[0],
    /^comm: closing connection with 127\.0\.0\.1:\d+: ProtocolError: bad magic/,
  );
  assert.equal(
    await raw.read(new Uint8Array(8)).catch(() => null),
    null,
    "closed by the server",
  );
  raw.close();
  await until(() => server.peers.size === 1, "the bad peer to leave the set");

  assert.equal(await good.request("ping", 2), "pong 2");
  await using late = await connect(server.url);
  assert.equal(await late.request("ping", 3), "pong 3");
  assert.equal(log.lines.length, 1);
});

Deno.test("close() stops accepting, closes every peer and rejects their pending requests", async () => {
  const started = deferred();
  const server = await RpcServer.listen({
    handlers: {
      hang: () => {
        started.resolve();
        return new Promise(() => {});
      },
    },
  });
  const peer = await connect(server.url);
  const pending = peer.request("hang");
  await started.promise;
  await server.close();
  await assert.rejects(pending, ConnectionClosedError);
  await peer.closed;
  assert.equal(server.peers.size, 0);
  await assert.rejects(connect(server.url), Deno.errors.ConnectionRefused);
  await server.close(); // idempotent
});

Deno.test("a peer in a real subprocess, reached by its address", async () => {
  const script = new URL("./_rpc_peer_process.ts", import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      config.pathname,
      "--allow-net=127.0.0.1",
      script.pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) {
        throw new Error(
          `child exited before printing its url: ${await stderr}`,
        );
      }
      out += value;
    }
    const url = out.split("\n")[0];
    assert.match(url, /^tcp:\/\/127\.0\.0\.1:\d+$/);

    await using peer = await connect(url);
    const pid = await peer.request("pid");
    assert.equal(pid, child.pid);
    assert.notEqual(pid, Deno.pid);
    const xs = new Float64Array(1 << 20).map((_, i) => i);
    assert.equal(
      await peer.request("sum", xs),
      ((1 << 20) - 1) * (1 << 20) / 2,
    );
    const scaled = await peer.request("scale", { xs: xs.subarray(0, 4), k: 2 });
    assert.deepEqual(scaled, new Float64Array([0, 2, 4, 6]));
    await assert.rejects(
      peer.request("fail"),
      (e: unknown) =>
        e instanceof RemoteError && e.remoteName === "RangeError" &&
        e.remoteMessage === "asked to fail" && /fail/.test(e.remoteStack),
    );
    assert.equal(await peer.request("shutdown"), "bye");
    await peer.closed; // the child closed its server, and with it this connection
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);
    assert.equal(await stderr, "");
  } finally {
    try {
      child.kill();
    } catch {
      // already exited
    }
    await lines.cancel().catch(() => {});
    await child.status;
    await stderr.catch(() => {});
  }
});

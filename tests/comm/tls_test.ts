/**
 * TLS on RPC connections, in one process: server-only TLS, mutual TLS
 * (node:tls, client certificates checked), wrong CAs, plain TCP against TLS.
 */
import assert from "node:assert/strict";
import { until } from "./_helpers.ts";
import { connect, RpcServer } from "../../src/comm/server.ts";
import { parseAddress } from "../../src/comm/address.ts";
import { makeTestCertificates } from "../../src/cluster/certs.ts";

const dir = await Deno.makeTempDir({ prefix: "spillway-tls-test-" });
const certs = await makeTestCertificates(dir);
const otherDir = await Deno.makeTempDir({ prefix: "spillway-tls-other-" });
const other = await makeTestCertificates(otherDir);
const quiet = () => {};

/** The error `f` rejects with; fails when it resolves. */
async function rejection(f: () => Promise<unknown>): Promise<Error> {
  try {
    await f();
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

Deno.test("tls:// addresses parse with tls: true; tcp:// ones without", () => {
  assert.deepEqual(parseAddress("tls://127.0.0.1:9"), {
    hostname: "127.0.0.1",
    port: 9,
    tls: true,
  });
  assert.deepEqual(parseAddress("tcp://127.0.0.1:9"), {
    hostname: "127.0.0.1",
    port: 9,
  });
});

Deno.test("server-only TLS: the right CA connects, another CA is refused", async () => {
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    tls: { cert: certs.node.cert, key: certs.node.key },
    log: quiet,
  });
  assert(server.url.startsWith("tls://"), server.url);
  assert.deepEqual(server.mutualTls, false);
  await using peer = await connect(server.url, {
    tls: { ca: certs.node.ca },
    log: quiet,
  });
  assert.deepEqual(await peer.request("ping"), "pong");
  const error = await rejection(() =>
    connect(server.url, { tls: { ca: other.node.ca }, log: quiet })
  );
  assert.match(
    error.message,
    /invalid peer certificate: (UnknownIssuer|BadSignature)/,
  );
});

Deno.test("mutual TLS: a client certificate from the CA gets in; none, or another CA's, is refused", async () => {
  const refusals: string[] = [];
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    tls: certs.node,
    log: (line) => refusals.push(line),
  });
  assert.deepEqual(server.mutualTls, true);
  assert(server.url.startsWith("tls://"));
  await using good = await connect(server.url, {
    tls: certs.client,
    log: quiet,
  });
  assert.deepEqual(await good.request("ping"), "pong");
  for (
    const tls of [
      { ca: certs.client.ca },
      { ca: certs.client.ca, cert: other.client.cert, key: other.client.key },
    ]
  ) {
    const before = refusals.length;
    // The TLS 1.3 client finishes its side of the handshake before the
    // server checks its certificate: the refusal comes as the request fails.
    await rejection(async () => {
      await using peer = await connect(server.url, { tls, log: quiet });
      await peer.request("ping");
    });
    await until(() => refusals.length > before, "the server's refusal line");
    assert(/refused a TLS connection/.test(refusals.at(-1)!), refusals.at(-1));
  }
  assert.deepEqual(server.peers.size, 1);
});

Deno.test("a plain TCP client to a TLS server fails naming TLS", async () => {
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    tls: { cert: certs.node.cert, key: certs.node.key },
    log: quiet,
  });
  const { port } = server.address;
  const error = await rejection(async () => {
    await using peer = await connect(`tcp://127.0.0.1:${port}`, {
      log: quiet,
    });
    await peer.request("ping");
  });
  assert.match(String(error), /these bytes are TLS/);
});

Deno.test("a TLS client to a plain TCP server fails", async () => {
  const lines: string[] = [];
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    log: (line) => lines.push(line),
  });
  const { port } = server.address;
  await rejection(() =>
    connect(`tls://127.0.0.1:${port}`, {
      tls: { ca: certs.node.ca },
      log: quiet,
    })
  );
  await until(
    () => lines.some((l) => /these bytes are TLS/.test(l)),
    "the server's line",
  );
});

Deno.test({
  name: "cleanup",
  fn: async () => {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(otherDir, { recursive: true });
  },
});

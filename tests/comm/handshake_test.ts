/**
 * The handshake in process, over real TCP on 127.0.0.1: the token never
 * crosses the wire, proofs are bound to their direction, a silent
 * connection is closed at the handshake timeout, and nothing but a
 * handshake is served before it completes.
 */
import assert from "node:assert/strict";
import { Connection } from "../../src/comm/connection.ts";
import { connect, RpcServer } from "../../src/comm/server.ts";
import {
  AuthenticationError,
  ConnectionClosedError,
} from "../../src/comm/errors.ts";
import {
  checkAuthToken,
  HANDSHAKE_MAX_BYTES,
  offerHandshake,
  randomAuthToken,
  timingSafeEqual,
} from "../../src/comm/handshake.ts";

const TOKEN = "a token that must never be seen on the wire 0123456789";

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

/** Forwards bytes both ways between a client and `target`, recording them. */
function tap(target: number): {
  port: number;
  bytes: () => Uint8Array;
  close: () => void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Uint8Array[] = [];
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const a of listener) {
      const b = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(a, b);
      const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
        const buf = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await from.read(buf).catch(() => null);
          if (n === null) break;
          seen.push(buf.slice(0, n));
          await to.write(buf.subarray(0, n)).catch(() => {});
        }
        try {
          to.close();
        } catch {
          // closed
        }
      };
      pipe(a, b);
      pipe(b, a);
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    bytes: () => {
      const total = seen.reduce((n, c) => n + c.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of seen) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
    close: () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
    },
  };
}

Deno.test("the token never crosses the wire; the right token is served, a wrong one refused and logged", async () => {
  const lines: string[] = [];
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    authToken: TOKEN,
    log: (line) => lines.push(line),
  });
  const t = tap(server.address.port);
  try {
    {
      await using peer = await connect(`127.0.0.1:${t.port}`, {
        authToken: TOKEN,
        log: () => {},
      });
      assert.equal(await peer.request("ping"), "pong");
    }
    await assert.rejects(
      connect(`127.0.0.1:${t.port}`, { authToken: "guess", log: () => {} }),
      AuthenticationError,
    );
    const wire = t.bytes();
    assert.ok(wire.length > 0);
    assert.ok(!contains(wire, new TextEncoder().encode(TOKEN)));
    assert.ok(!contains(wire, new TextEncoder().encode("guess")));
    assert.equal(
      lines.filter((l) =>
        /refused a connection from .*: authentication failed$/.test(l)
      ).length,
      1,
      lines.join("\n"),
    );
  } finally {
    t.close();
  }
});

Deno.test("a client with a token refuses a server without one (it cannot prove itself)", async () => {
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    log: () => {},
  });
  await assert.rejects(
    connect(server.url, { authToken: TOKEN, log: () => {} }),
    /authentication failed/,
  );
  // Both without: the versions are still checked, and it works.
  await using peer = await connect(server.url, { log: () => {} });
  assert.equal(await peer.request("ping"), "pong");
});

Deno.test("a request before the handshake is refused: nothing is served", async () => {
  let served = 0;
  await using server = await RpcServer.listen({
    handlers: {
      ping: () => {
        served++;
        return "pong";
      },
    },
    log: () => {},
  });
  await using raw = await Connection.connect(server.url, { log: () => {} });
  await raw.send({ id: 1, op: "ping", body: null });
  await assert.rejects(raw.receive(), ConnectionClosedError);
  assert.equal(served, 0);
});

Deno.test("a connection that stays silent is closed at the handshake timeout; others are served meanwhile", async () => {
  const lines: string[] = [];
  await using server = await RpcServer.listen({
    handlers: { ping: () => "pong" },
    handshakeTimeout: 200,
    log: (line) => lines.push(line),
  });
  const silent = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.address.port,
  });
  {
    await using peer = await connect(server.url, { log: () => {} });
    assert.equal(await peer.request("ping"), "pong");
  }
  // Closed by the server: the read ends (no data ever comes).
  assert.equal(await silent.read(new Uint8Array(8)).catch(() => null), null);
  silent.close();
  assert.ok(
    lines.some((l) => /handshake .* not completed within 200 ms/.test(l)),
    lines.join("\n"),
  );
});

Deno.test("the client reads its handshake with the small limit too: a huge hello closes it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept().then(async (conn) => {
      const prelude = new Uint8Array(24);
      prelude.set([0x53, 0x50, 0x57, 0x46, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0]);
      new DataView(prelude.buffer).setUint32(16, 2 ** 30, true);
      await conn.write(prelude);
      return conn;
    });
    const connection = await Connection.connect(
      `127.0.0.1:${listener.addr.port}`,
      { maxMessageBytes: HANDSHAKE_MAX_BYTES, log: () => {} },
    );
    await assert.rejects(
      offerHandshake(connection, {}),
      new RegExp(`exceeds the ${HANDSHAKE_MAX_BYTES}-byte limit`),
    );
    assert.ok(connection.isClosed);
    (await accepted).close();
  } finally {
    listener.close();
  }
});

Deno.test("helpers: constant-time equality, token checks, random tokens", () => {
  assert.ok(
    timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])),
  );
  assert.ok(
    !timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])),
  );
  assert.ok(
    !timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])),
  );
  assert.equal(checkAuthToken(undefined), null);
  assert.equal(checkAuthToken(null), null);
  assert.equal(checkAuthToken("x"), "x");
  assert.throws(() => checkAuthToken(""), TypeError);
  assert.throws(() => checkAuthToken(42), TypeError);
  const a = randomAuthToken();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(a, randomAuthToken());
});

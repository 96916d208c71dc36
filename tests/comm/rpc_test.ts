/**
 * RpcPeer over real TCP on 127.0.0.1: round trips, replies out of order, remote errors,
 * unknown operations, timeouts and aborts, notifications, calls back, and pending requests
 * rejected when the connection closes.
 */
import assert from "node:assert/strict";
import {
  Connection,
  ConnectionClosedError,
  ProtocolError,
  RemoteError,
  ReplyThen,
  RequestTimeoutError,
  type RpcHandlers,
  RpcPeer,
} from "../../src/comm/mod.ts";
import {
  collectLog,
  connectionPair,
  deferred,
  type Log,
  until,
} from "./_helpers.ts";

interface PeerPair extends AsyncDisposable {
  client: RpcPeer;
  server: RpcPeer;
}

async function peerPair(
  serverHandlers: RpcHandlers,
  options: { clientHandlers?: RpcHandlers; log?: Log } = {},
): Promise<PeerPair> {
  const pair = await connectionPair({
    client: { log: options.log },
    server: { log: options.log },
  });
  const server = new RpcPeer(pair.server, {
    handlers: serverHandlers,
    log: options.log,
  });
  const client = new RpcPeer(pair.client, {
    handlers: options.clientHandlers,
    log: options.log,
  });
  return {
    client,
    server,
    async [Symbol.asyncDispose]() {
      client.close();
      server.close();
      await Promise.all([client.closed, server.closed]);
    },
  };
}

Deno.test("requests round-trip bodies and values of several types", async () => {
  await using peers = await peerPair({
    echo: (body) => body,
    sum: (body) => (body as Float64Array).reduce((a, b) => a + b, 0),
    nothing: () => {},
    later: async (body) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { got: body };
    },
  });
  const bodies = [
    undefined,
    null,
    "text",
    42n,
    [1, { two: new Map([[3, new Set(["four"])]]) }],
    new Float64Array([0.5, 1.5]),
    { date: new Date(86_400_000), bytes: new Uint8Array([1, 2, 3]) },
  ];
  for (const body of bodies) {
    assert.deepEqual(await peers.client.request("echo", body), body);
  }
  assert.equal(
    await peers.client.request("sum", new Float64Array([1, 2, 3.5])),
    6.5,
  );
  assert.equal(await peers.client.request("nothing"), undefined);
  assert.deepEqual(await peers.client.request("later", "x"), { got: "x" });
  assert.equal(peers.client.pendingRequests, 0);
});

Deno.test("a slow handler does not hold up later requests: replies come out of order", async () => {
  const release = deferred();
  await using peers = await peerPair({
    slow: async () => {
      await release.promise;
      return "slow";
    },
    fast: (body) => `fast ${body}`,
  });
  const order: string[] = [];
  const slow = peers.client.request("slow").then((v) =>
    order.push(v as string)
  );
  const fasts = [1, 2, 3].map((i) =>
    peers.client.request("fast", i).then((v) => order.push(v as string))
  );
  await Promise.all(fasts);
  assert.deepEqual(order, ["fast 1", "fast 2", "fast 3"]);
  assert.equal(peers.client.pendingRequests, 1);
  release.resolve();
  await slow;
  assert.deepEqual(order, ["fast 1", "fast 2", "fast 3", "slow"]);
});

Deno.test("a throwing handler becomes a RemoteError with the remote name, message, stack and op", async () => {
  await using peers = await peerPair({
    parse: function parseHandler(body) {
      if (typeof body !== "string") {
        throw new TypeError(`expected a string, got ${typeof body}`);
      }
      return body.length;
    },
    rejects: () => Promise.reject(new RangeError("too far")),
    throwsString: () => {
      throw "just a string";
    },
  });
  await assert.rejects(peers.client.request("parse", 5), (e: unknown) => {
    assert.ok(e instanceof RemoteError);
    assert.equal(e.name, "RemoteError");
    assert.equal(e.op, "parse");
    assert.equal(e.remoteName, "TypeError");
    assert.equal(e.remoteMessage, "expected a string, got number");
    assert.match(e.remoteStack, /parseHandler/);
    assert.equal(
      e.message,
      '"parse" failed remotely: TypeError: expected a string, got number',
    );
    return true;
  });
  await assert.rejects(
    peers.client.request("rejects"),
    (e: unknown) =>
      e instanceof RemoteError && e.remoteName === "RangeError" &&
      e.remoteMessage === "too far",
  );
  await assert.rejects(
    peers.client.request("throwsString"),
    (e: unknown) =>
      e instanceof RemoteError && e.remoteName === "Error" &&
      e.remoteMessage === "just a string",
  );
  // The connection is fine afterwards.
  assert.equal(await peers.client.request("parse", "abc"), 3);
});

Deno.test("an unknown operation gets an error reply, inherited names included", async () => {
  await using peers = await peerPair({ known: () => 1 });
  for (const op of ["x", "toString", "__proto__", "constructor"]) {
    await assert.rejects(peers.client.request(op), (e: unknown) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.op, op);
      assert.equal(e.remoteMessage, `unknown operation ${JSON.stringify(op)}`);
      return true;
    });
  }
  assert.equal(await peers.client.request("known"), 1);
});

Deno.test("a reply that cannot be serialized becomes an error reply", async () => {
  await using peers = await peerPair({ fn: () => () => 1 });
  await assert.rejects(
    peers.client.request("fn"),
    (e: unknown) =>
      e instanceof RemoteError && e.remoteName === "SerializationError",
  );
});

Deno.test("pending requests reject with ConnectionClosedError when either side closes", async () => {
  const never = new Promise(() => {});
  {
    await using peers = await peerPair({ hang: () => never });
    const pending = [
      peers.client.request("hang"),
      peers.client.request("hang", 2),
    ];
    await until(() => peers.client.pendingRequests === 2, "requests sent");
    peers.client.close();
    await Promise.all(
      pending.map((p) => assert.rejects(p, ConnectionClosedError)),
    );
    assert.equal(peers.client.pendingRequests, 0);
    await assert.rejects(peers.client.request("hang"), ConnectionClosedError);
  }
  {
    await using peers = await peerPair({ hang: () => never });
    const pending = peers.client.request("hang");
    await until(() => peers.client.pendingRequests === 1, "request sent");
    peers.server.close();
    await assert.rejects(
      pending,
      (e: unknown) =>
        e instanceof ConnectionClosedError && /request "hang"/.test(e.message),
    );
    await peers.client.closed;
  }
});

Deno.test("timeout and abort stop waiting; a late reply is dropped harmlessly", async () => {
  const release = deferred();
  await using peers = await peerPair({
    slow: async () => {
      await release.promise;
      return "late";
    },
    ping: () => "pong",
  });
  await assert.rejects(
    peers.client.request("slow", undefined, { timeout: 20 }),
    (e: unknown) =>
      e instanceof RequestTimeoutError && e.op === "slow" && e.timeout === 20,
  );
  const controller = new AbortController();
  const aborted = peers.client.request("slow", undefined, {
    signal: controller.signal,
  });
  controller.abort(new Error("not needed any more"));
  await assert.rejects(aborted, /not needed any more/);
  await assert.rejects(
    peers.client.request("ping", undefined, { signal: AbortSignal.abort() }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
  assert.equal(peers.client.pendingRequests, 0);
  release.resolve(); // both late replies arrive now and are dropped
  assert.equal(
    await peers.client.request("ping", undefined, { timeout: 5_000 }),
    "pong",
  );
  assert.equal(peers.client.isClosed, false);
});

Deno.test("notifications run their handler; failures are logged on the receiving side", async () => {
  const log = collectLog();
  const got: unknown[] = [];
  await using peers = await peerPair({
    event: (body) => {
      got.push(body);
    },
    broken: () => {
      throw new Error("handler\nbroke");
    },
  }, { log });
  await peers.client.notify("event", { n: 1 });
  await peers.client.notify("broken");
  await peers.client.notify("missing", 1);
  await peers.client.notify("event", { n: 2 });
  await until(
    () => got.length === 2 && log.lines.length === 2,
    "notifications handled",
  );
  assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
  assert.match(
    log.lines[0],
    /notification handler "broken" .* threw Error: handler broke$/,
  );
  assert.match(
    log.lines[1],
    /notification for unknown operation "missing" .* ignored/,
  );
  assert.equal(peers.server.isClosed, false);
});

Deno.test("handlers get the peer and can call back the requester", async () => {
  await using peers = await peerPair({
    greet: async (_body, peer) => `hello ${await peer.request("name")}`,
  }, { clientHandlers: { name: () => "client" } });
  assert.equal(await peers.client.request("greet"), "hello client");
});

Deno.test("a message that is not an RPC envelope closes the connection with a ProtocolError", async () => {
  const log = collectLog();
  const pair = await connectionPair({ server: { log } });
  const server = new RpcPeer(pair.server, { handlers: {}, log });
  await pair.client.send([1, 2, 3]);
  await server.closed;
  assert.ok(pair.server.closeReason instanceof ProtocolError);
  assert.equal(log.lines.length, 1);
  assert.match(
    log.lines[0],
    /ProtocolError: bad RPC message: message is not an object/,
  );
  pair.client.close();
});

Deno.test("requests with an unserializable body reject locally and leave the connection open", async () => {
  await using peers = await peerPair({ echo: (b) => b });
  await assert.rejects(
    peers.client.request("echo", Symbol("s")),
    /cannot serialize a symbol/,
  );
  assert.equal(await peers.client.request("echo", 1), 1);
  assert.equal(peers.client.connection instanceof Connection, true);
});

Deno.test("ReplyThen: the value is the reply, and onSent runs once it is written", async () => {
  const events: string[] = [];
  await using peers = await peerPair({
    get: () => {
      events.push("handler");
      return new ReplyThen(new Float64Array([1, 2]), () => events.push("sent"));
    },
  });
  const value = await peers.client.request("get");
  assert.deepEqual(value, new Float64Array([1, 2]));
  await until(() => events.length === 2, "onSent to run");
  assert.deepEqual(events, ["handler", "sent"]);
});

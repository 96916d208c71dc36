/**
 * Connection over real TCP on 127.0.0.1: round trips, zero-copy receipt of nested stored
 * frames, queued sends that never interleave, counters, clean ends, and malformed or oversized
 * frames that close only their own connection with a logged reason.
 */
import assert from "node:assert/strict";
import {
  Connection,
  ConnectionClosedError,
  ProtocolError,
} from "../../src/comm/mod.ts";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  type Frames,
  SerializationError,
  serialize,
} from "../../src/serialize/mod.ts";
import {
  collectLog,
  concatBytes,
  connectionPair,
  rawPair,
  writeAll,
} from "./_helpers.ts";

const MiB = 2 ** 20;

Deno.test("values of many types round-trip; typed arrays arrive 64-byte aligned", async () => {
  await using pair = await connectionPair();
  const values: unknown[] = [
    null,
    undefined,
    true,
    -0,
    NaN,
    2 ** 53 - 1,
    -1.5e300,
    "",
    "héllo \u{1F600}",
    "lone \ud800 surrogate",
    123456789012345678901234567890n,
    new Date(0),
    [1, [2, [3, []]], { a: null }],
    {
      nested: {
        deep: {
          map: new Map<unknown, unknown>([["k", new Set([1, "2", 3n])]]),
        },
      },
    },
    new Float64Array([1.5, -0, Infinity]),
    new Int32Array([-1, 2, -3]),
    new BigInt64Array([-(2n ** 63n)]),
    new Uint8Array(0),
    new Uint8Array([0, 255]),
    new DataView(new Uint8Array([9, 8, 7]).buffer),
    new Uint8Array([5, 6, 7]).buffer,
    {
      many: Array.from(
        { length: 5 },
        (_, i) => new Float32Array(i + 1).fill(i),
      ),
    },
  ];
  for (const value of values) {
    const [, got] = await Promise.all([
      pair.client.send(value),
      pair.server.receive(),
    ]);
    assert.deepEqual(got, value);
    if (ArrayBuffer.isView(got)) assert.equal(got.byteOffset % 64, 0);
  }
  // Pipelined, the other way round.
  await Promise.all(values.map((v) => pair.server.send(v)));
  for (const value of values) {
    assert.deepEqual(await pair.client.receive(), value);
  }
  assert.equal(pair.client.messagesSent, values.length);
  assert.equal(pair.server.messagesReceived, values.length);
  assert.equal(pair.client.bytesSent, pair.server.bytesReceived);
  assert.equal(pair.server.bytesSent, pair.client.bytesReceived);
  assert.ok(pair.client.bytesSent > 0);
});

Deno.test("nested stored Frames of a 64 MiB Float64Array travel as is and arrive zero-copy", async () => {
  await using pair = await connectionPair();
  const original = new Float64Array((64 * MiB) / 8);
  for (let i = 0; i < original.length; i++) original[i] = i * 0.5;
  const stored: Frames = serialize(original); // what the store keeps (or reads from disk)
  const message = { op: "data", key: "x-1", payload: stored };
  // The sender's chunks are the stored buffer itself: no decode, re-encode or copy.
  const chunks = encodeFrames(serialize(message));
  assert.ok(
    chunks.some((c) =>
      c.buffer === original.buffer && c.byteLength === 64 * MiB
    ),
  );

  const [, got] = await Promise.all([
    pair.client.send(message),
    pair.server.receive(),
  ]);
  const received = got as { op: string; key: string; payload: Frames };
  assert.equal(received.op, "data");
  assert.equal(received.key, "x-1");
  const { header, buffers } = received.payload;
  assert.ok(header instanceof Uint8Array);
  assert.equal(buffers.length, 1);
  // Header and payload buffers are views of ONE received message buffer, which starts at
  // offset 0 of its own ArrayBuffer and holds nothing but this message.
  const messageBuffer = buffers[0].buffer;
  assert.equal(header.buffer, messageBuffer);
  assert.equal(buffers[0].byteLength, 64 * MiB);
  assert.equal(buffers[0].byteOffset % 64, 0);
  assert.equal(messageBuffer.byteLength, pair.server.bytesReceived);
  assert.deepEqual(header, stored.header);
  // The receiver can keep them as Frames, and deserialize them zero-copy when needed.
  const value = deserialize(received.payload);
  assert.ok(value instanceof Float64Array);
  assert.equal(value.buffer, messageBuffer);
  assert.equal(value.length, original.length);
  let mismatches = 0;
  for (let i = 0; i < original.length; i++) {
    if (value[i] !== original[i]) mismatches++;
  }
  assert.equal(mismatches, 0);
});

Deno.test("a spill file's bytes sent as one Uint8Array decode aligned on the other side", async () => {
  await using pair = await connectionPair();
  const file = concatBytes(
    encodeFrames(serialize(new Float64Array([1, 2, 3]))),
  );
  const [, got] = await Promise.all([
    pair.client.send({ op: "file", bytes: file }),
    pair.server.receive(),
  ]);
  const bytes = (got as { bytes: Uint8Array }).bytes;
  assert.equal(bytes.byteOffset % 64, 0);
  const value = deserialize(decodeFrames(bytes)) as Float64Array;
  assert.equal(value.buffer, bytes.buffer); // aligned, so a view, not a copy
  assert.deepEqual([...value], [1, 2, 3]);
});

Deno.test("concurrent large sends on one connection never interleave", async () => {
  await using pair = await connectionPair();
  const sizes = [8 * MiB, 3, 5 * MiB + 7, 100, 8 * MiB + 64];
  const sends = sizes.map((n, i) =>
    pair.client.send({ i, data: new Uint8Array(n).fill(i + 1) })
  );
  const received: { i: number; data: Uint8Array }[] = [];
  for (let k = 0; k < sizes.length; k++) {
    received.push(
      (await pair.server.receive()) as { i: number; data: Uint8Array },
    );
  }
  await Promise.all(sends);
  received.forEach(({ i, data }, k) => {
    assert.equal(i, k, "in send order");
    assert.equal(data.byteLength, sizes[k]);
    assert.ok(
      data.every((b) => b === k + 1),
      `message ${k} is not mixed with another`,
    );
  });
  assert.equal(pair.client.queuedBytes, 0);
});

Deno.test("iteration ends at a clean end of stream; receive then rejects", async () => {
  await using pair = await connectionPair();
  await pair.client.send(1);
  await pair.client.send(2);
  pair.client.close();
  const got: unknown[] = [];
  for await (const m of pair.server) got.push(m);
  assert.deepEqual(got, [1, 2]);
  assert.equal(pair.server.isClosed, true);
  assert.equal(pair.server.closeReason, undefined);
  await assert.rejects(pair.server.receive(), ConnectionClosedError);
  await assert.rejects(pair.client.send(3), ConnectionClosedError);
});

Deno.test("close() interrupts a pending receive; closed resolves", async () => {
  await using pair = await connectionPair();
  const pending = pair.server.receive();
  pair.server.close();
  await assert.rejects(pending, ConnectionClosedError);
  await pair.server.closed;
  // The other side sees a clean end.
  await assert.rejects(pair.client.receive(), ConnectionClosedError);
  assert.equal(pair.client.closeReason, undefined);
});

Deno.test("an unserializable value rejects that send only", async () => {
  await using pair = await connectionPair();
  await assert.rejects(pair.client.send({ f: () => 1 }), SerializationError);
  await pair.client.send("still open");
  assert.equal(await pair.server.receive(), "still open");
});

Deno.test("Connection.connect rejects a malformed address clearly", async () => {
  await assert.rejects(
    Connection.connect("nonsense"),
    /invalid address "nonsense": no port/,
  );
  await assert.rejects(
    Connection.connect({ hostname: "127.0.0.1", port: 0 }),
    /port must be an integer from 1 to 65535/,
  );
});

/** A valid prelude whose header is not msgpack (0xc1 is never used). */
function corruptHeader(): Uint8Array {
  const bytes = new Uint8Array(19);
  bytes.set([
    0x53,
    0x50,
    0x57,
    0x46,
    1,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0xc1,
    0xc1,
    0xc1,
  ]);
  return bytes;
}

function withVersion(version: number): Uint8Array {
  const bytes = concatBytes(encodeFrames(serialize("hello")));
  new DataView(bytes.buffer).setUint16(4, version, true);
  return bytes;
}

/** A prelude whose one buffer length has the high u32 = 0xffffffff. */
function corruptLength(): Uint8Array {
  const bytes = new Uint8Array(24);
  bytes.set([0x53, 0x50, 0x57, 0x46, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  new DataView(bytes.buffer).setUint32(20, 0xffff_ffff, true);
  return bytes;
}

const MALFORMED: {
  name: string;
  bytes: Uint8Array;
  thenEof: boolean;
  reason: RegExp;
}[] = [
  {
    name: "garbage",
    bytes: new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
    thenEof: false,
    reason: /bad magic/,
  },
  {
    name: "bad version",
    bytes: withVersion(7),
    thenEof: false,
    reason: /unsupported version 7/,
  },
  {
    name: "truncated prelude, then EOF",
    bytes: new Uint8Array([0x53, 0x50, 0x57, 0x46, 1, 0]),
    thenEof: true,
    reason: /truncated: end of stream after 6 bytes of the 16-byte prelude/,
  },
  {
    name: "truncated body, then EOF",
    bytes: concatBytes(encodeFrames(serialize(new Uint8Array(1000)))).subarray(
      0,
      500,
    ),
    thenEof: true,
    reason: /truncated: end of stream after 500 of/,
  },
  {
    name: "corrupt header",
    bytes: corruptHeader(),
    thenEof: false,
    reason:
      /undecodable message of 19 bytes: FrameDecodeError: malformed msgpack header/,
  },
  {
    name: "corrupt lengths",
    bytes: corruptLength(),
    thenEof: false,
    reason: /length exceeds Number.MAX_SAFE_INTEGER/,
  },
];

for (const bad of MALFORMED) {
  Deno.test(`malformed frame (${bad.name}) closes only that connection, with a logged reason`, async () => {
    const log = collectLog();
    await using victim = await rawPair({ log });
    await using bystander = await connectionPair({ server: { log } });
    const iteration = (async () => {
      for await (const _ of victim.server) { /* nothing valid arrives */ }
    })();
    await writeAll(victim.raw, bad.bytes);
    if (bad.thenEof) await victim.raw.closeWrite();
    await assert.rejects(iteration, (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `${e}`);
      assert.match(e.message, bad.reason);
      return true;
    });
    await victim.server.closed;
    assert.ok(victim.server.closeReason instanceof ProtocolError);
    assert.equal(log.lines.length, 1, log.lines.join("\n"));
    assert.match(
      log.lines[0],
      /^comm: closing connection with 127\.0\.0\.1:\d+: ProtocolError: /,
    );
    assert.match(log.lines[0], bad.reason);
    assert.ok(!log.lines[0].includes("\n"));
    // The server side closed the socket: the raw peer reads the end (or a reset).
    const end = await victim.raw.read(new Uint8Array(16)).catch(() => null);
    assert.equal(end, null);
    // Later calls say why.
    await assert.rejects(
      victim.server.receive(),
      (e: unknown) =>
        e instanceof ConnectionClosedError && e.cause instanceof ProtocolError,
    );
    // Another connection is unaffected.
    await bystander.client.send({ still: "fine" });
    assert.deepEqual(await bystander.server.receive(), { still: "fine" });
  });
}

Deno.test("an oversized frame is refused from its prelude, before the body is sent or allocated", async () => {
  const log = collectLog();
  let allocations = 0;
  await using pair = await rawPair({
    log,
    maxMessageBytes: MiB,
    allocate: (n) => {
      allocations++;
      return new Uint8Array(n);
    },
  });
  // Declares a 1 GiB buffer; only the 24-byte prelude and table are ever written.
  const prelude = new Uint8Array(24);
  prelude.set([0x53, 0x50, 0x57, 0x46, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  new DataView(prelude.buffer).setUint32(16, 2 ** 30, true);
  const receiving = pair.server.receive();
  await writeAll(pair.raw, prelude);
  await assert.rejects(receiving, (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.match(
      e.message,
      /message exceeds the 1048576-byte limit \(buffer 0 of 1073741824 bytes/,
    );
    return true;
  });
  await pair.server.closed;
  assert.equal(allocations, 0);
  assert.equal(log.lines.length, 1);
  assert.match(log.lines[0], /exceeds the 1048576-byte limit/);
  assert.equal(pair.server.bytesReceived, 24);
});

Deno.test("a message just under maxMessageBytes passes, one just over is refused", async () => {
  const log = collectLog();
  const payload = new Uint8Array(100_000);
  const size = concatBytes(encodeFrames(serialize(payload))).byteLength;
  {
    await using pair = await connectionPair({
      server: { maxMessageBytes: size, log },
    });
    await pair.client.send(payload);
    assert.deepEqual(await pair.server.receive(), payload);
  }
  {
    await using pair = await connectionPair({
      server: { maxMessageBytes: size - 1, log },
    });
    await pair.client.send(payload);
    await assert.rejects(pair.server.receive(), ProtocolError);
    assert.equal(log.lines.length, 1);
    // The sender sees its peer go away.
    await assert.rejects(pair.client.receive(), ConnectionClosedError);
  }
});

Deno.test("a logger that throws does not keep a bad connection open", async () => {
  await using pair = await rawPair({
    log: () => {
      throw new Error("broken logger");
    },
  });
  const receiving = pair.server.receive();
  await writeAll(pair.raw, new TextEncoder().encode("nonsense"));
  await assert.rejects(receiving, ProtocolError);
  await pair.server.closed;
  assert.ok(pair.server.closeReason instanceof ProtocolError);
});

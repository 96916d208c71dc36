/**
 * MessageWriter on in-memory sinks: slices of at most 1 MiB, partial writes retried, small
 * chunks gathered, messages in call order, and a failed write failing what follows.
 */
import assert from "node:assert/strict";
import { type ByteSink, MessageWriter } from "../../src/comm/mod.ts";
import { encodeFrames, serialize } from "../../src/serialize/mod.ts";
import { concatBytes } from "./_helpers.ts";

/** Records every write; accepts at most `maxWrite` bytes per call, after an optional delay. */
class MemorySink implements ByteSink {
  writes: Uint8Array[] = [];
  constructor(readonly maxWrite = Infinity, readonly delay = false) {}
  async write(p: Uint8Array): Promise<number> {
    if (this.delay) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
    }
    const n = Math.min(p.byteLength, this.maxWrite);
    this.writes.push(p.slice(0, n));
    return n;
  }
  get bytes(): Uint8Array {
    return concatBytes(this.writes);
  }
}

Deno.test("large buffers go out in slices of at most 1 MiB (or sliceBytes)", async () => {
  const big = new Uint8Array(5 * 2 ** 20 + 3).map((_, i) => i % 253);
  const chunks = encodeFrames(serialize({ big }));
  const sink = new MemorySink();
  const writer = new MessageWriter(sink);
  await writer.write(chunks);
  assert.ok(sink.writes.every((w) => w.byteLength <= 2 ** 20));
  assert.deepEqual(sink.bytes, concatBytes(chunks));
  assert.equal(writer.bytesWritten, concatBytes(chunks).byteLength);

  const small = new MemorySink();
  await new MessageWriter(small, { sliceBytes: 100_000 }).write(chunks);
  assert.ok(small.writes.every((w) => w.byteLength <= 100_000));
  assert.deepEqual(small.bytes, concatBytes(chunks));
  assert.throws(() => new MessageWriter(small, { sliceBytes: 0 }), RangeError);
});

Deno.test("partial writes are retried until every byte is out", async () => {
  const chunks = encodeFrames(
    serialize([new Float64Array(3000), "x", new Uint8Array(5)]),
  );
  const sink = new MemorySink(777);
  await new MessageWriter(sink).write(chunks);
  assert.deepEqual(sink.bytes, concatBytes(chunks));
});

Deno.test("a small message with several buffers is one write", async () => {
  const chunks = encodeFrames(
    serialize({
      a: new Uint8Array([1]),
      b: new Float32Array(3),
      c: new Uint16Array(9),
    }),
  );
  assert.ok(chunks.length > 3);
  const sink = new MemorySink();
  await new MessageWriter(sink).write(chunks);
  assert.equal(sink.writes.length, 1);
  assert.deepEqual(sink.bytes, concatBytes(chunks));
});

Deno.test("concurrent messages go out whole, in call order", async () => {
  const messages = Array.from(
    { length: 6 },
    (_, i) =>
      encodeFrames(serialize(new Uint8Array(300_000 + i * 1000).fill(i))),
  );
  const sink = new MemorySink(50_000, true);
  const writer = new MessageWriter(sink, { sliceBytes: 64 * 1024 });
  await Promise.all(messages.map((m) => writer.write(m)));
  assert.deepEqual(sink.bytes, concatBytes(messages.map(concatBytes)));
  assert.equal(writer.queuedBytes, 0);
});

Deno.test("after a failed write, that message and every later one reject", async () => {
  let calls = 0;
  const boom = new Error("EPIPE");
  const writer = new MessageWriter({
    write(p) {
      if (++calls === 3) return Promise.reject(boom);
      return Promise.resolve(p.byteLength);
    },
  }, { sliceBytes: 1000 });
  const first = writer.write([new Uint8Array(1500)]); // 2 writes
  const second = writer.write([new Uint8Array(1500)]); // fails on its first
  const third = writer.write([new Uint8Array(10)]);
  // The three small messages share one write; the first was written whole
  // before the failure, so it still resolves.
  const [a, b, c] = await Promise.allSettled([first, second, third]);
  assert.equal(a.status, "fulfilled");
  assert.deepEqual(b, { status: "rejected", reason: boom });
  assert.deepEqual(c, { status: "rejected", reason: boom });
  assert.equal(calls, 3);
  assert.equal(writer.queuedBytes, 0);
});

Deno.test("small messages queued in one turn go out in one write, in order", async () => {
  const writes: number[] = [];
  const received: number[] = [];
  const writer = new MessageWriter({
    write(p) {
      writes.push(p.byteLength);
      received.push(...p);
      return Promise.resolve(p.byteLength);
    },
  });
  const sends = [];
  for (let i = 0; i < 100; i++) {
    sends.push(writer.write([new Uint8Array([i]), new Uint8Array([i])]));
  }
  await Promise.all(sends);
  assert.deepEqual(writes, [200]);
  assert.deepEqual(
    received,
    Array.from({ length: 100 }, (_, i) => [i, i]).flat(),
  );
});

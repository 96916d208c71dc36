/**
 * MessageReader on in-memory streams: message boundaries under any fragmentation, one buffer
 * per message read straight into, and every malformed or oversized prelude refused before
 * anything is allocated for it.
 */
import assert from "node:assert/strict";
import {
  type ByteSource,
  MessageReader,
  ProtocolError,
} from "../../src/comm/mod.ts";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  serialize,
} from "../../src/serialize/mod.ts";
import { concatBytes } from "./_helpers.ts";

/** Serves `data` in reads of at most `maxRead` bytes; at the end, EOF or a read that hangs. */
class MemorySource implements ByteSource {
  at = 0;
  /** Each read: the ArrayBuffer it was asked to fill and how many bytes it got. */
  reads: { buffer: ArrayBufferLike; bytes: number }[] = [];
  constructor(
    readonly data: Uint8Array,
    readonly maxRead = Infinity,
    readonly hangAtEnd = false,
  ) {}
  read(p: Uint8Array): Promise<number | null> {
    if (this.at >= this.data.byteLength) {
      return this.hangAtEnd ? new Promise(() => {}) : Promise.resolve(null);
    }
    const n = Math.min(
      p.byteLength,
      this.maxRead,
      this.data.byteLength - this.at,
    );
    p.set(this.data.subarray(this.at, this.at + n));
    this.at += n;
    this.reads.push({ buffer: p.buffer, bytes: n });
    return Promise.resolve(n);
  }
}

function encode(value: unknown): Uint8Array {
  return concatBytes(encodeFrames(serialize(value)));
}

/** A hand-made prelude and buffer-length table. */
function prelude(
  fields: {
    magic?: string;
    version?: number;
    flags?: number;
    headerLength?: number;
    count?: number;
    lengths?: bigint[];
  } = {},
): Uint8Array {
  const lengths = fields.lengths ?? [];
  const out = new Uint8Array(16 + 8 * lengths.length);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(fields.magic ?? "SPWF"));
  view.setUint16(4, fields.version ?? 1, true);
  view.setUint16(6, fields.flags ?? 0, true);
  view.setUint32(8, fields.headerLength ?? 0, true);
  view.setUint32(12, fields.count ?? lengths.length, true);
  lengths.forEach((len, i) => view.setBigUint64(16 + 8 * i, len, true));
  return out;
}

async function refusal(
  reader: MessageReader,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(reader.next(), (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("messages come out whole under any fragmentation, then null at a clean end", async () => {
  const values = [
    "small",
    { xs: new Float64Array(1000).map((_, i) => i), n: 1n },
    new Uint8Array(100_000).fill(7),
    [],
  ];
  const stream = concatBytes(values.map(encode));
  for (const maxRead of [1, 7, 64, 4096, Infinity]) {
    const reader = new MessageReader(new MemorySource(stream, maxRead));
    for (const expected of values) {
      const bytes = await reader.next();
      assert.ok(bytes !== null);
      assert.equal(bytes.byteOffset, 0);
      assert.equal(
        bytes.byteLength,
        bytes.buffer.byteLength,
        "a fresh buffer per message",
      );
      assert.deepEqual(deserialize(decodeFrames(bytes)), expected);
    }
    assert.equal(await reader.next(), null);
    assert.equal(reader.bytesRead, stream.byteLength);
  }
});

Deno.test("a big message is read straight into its own buffer, not through the scratch", async () => {
  const payload = new Uint8Array(8 << 20).map((_, i) => i % 251);
  const stream = encode({ payload });
  const source = new MemorySource(stream, 1 << 20);
  const reader = new MessageReader(source);
  const bytes = await reader.next();
  assert.ok(bytes !== null);
  const direct = source.reads.filter((r) => r.buffer === bytes.buffer);
  const viaScratch = source.reads.filter((r) => r.buffer !== bytes.buffer);
  const copied = viaScratch.reduce((n, r) => n + r.bytes, 0);
  assert.ok(
    copied <= 64 * 1024,
    `${copied} bytes went through the scratch buffer`,
  );
  assert.equal(
    direct.reduce((n, r) => n + r.bytes, 0) + copied,
    stream.byteLength,
  );
  const out = deserialize(decodeFrames(bytes)) as { payload: Uint8Array };
  assert.equal(out.payload.buffer, bytes.buffer);
  assert.deepEqual(out.payload, payload);
});

Deno.test("a buffer table larger than the scratch buffer is read", async () => {
  const many = Array.from(
    { length: 20_000 },
    (_, i) => new Uint8Array([i & 255]),
  );
  const reader = new MessageReader(new MemorySource(encode(many), 3000));
  const bytes = await reader.next();
  assert.ok(bytes !== null);
  const out = deserialize(decodeFrames(bytes)) as Uint8Array[];
  assert.equal(out.length, 20_000);
  assert.equal(out[19_999][0], 19_999 & 255);
  assert.equal(await reader.next(), null);
});

Deno.test("garbage is refused from its first bytes, without waiting for a whole prelude", async () => {
  const reader = new MessageReader(
    new MemorySource(new TextEncoder().encode("GET"), Infinity, true),
  );
  await refusal(reader, /bad magic.*47 45 54/);
});

Deno.test("wrong version and unknown flags are refused", async () => {
  await refusal(
    new MessageReader(
      new MemorySource(prelude({ version: 2 }), Infinity, true),
    ),
    /unsupported version 2/,
  );
  await refusal(
    new MessageReader(new MemorySource(prelude({ flags: 4 }), Infinity, true)),
    /unsupported flags 0x4/,
  );
});

Deno.test("a stream ending inside a message is truncated, not a clean end", async () => {
  const whole = encode({ a: new Float64Array(10_000) });
  await refusal(
    new MessageReader(new MemorySource(whole.subarray(0, 9))),
    /truncated: end of stream after 9 bytes of the 16-byte prelude/,
  );
  await refusal(
    new MessageReader(new MemorySource(prelude({ count: 3 }))),
    /truncated.*prelude and buffer table/,
  );
  await refusal(
    new MessageReader(
      new MemorySource(whole.subarray(0, whole.byteLength - 1)),
    ),
    new RegExp(
      `truncated: end of stream after ${
        whole.byteLength - 1
      } of ${whole.byteLength}`,
    ),
  );
});

Deno.test("oversized declarations are refused before the allocator is called", async () => {
  let allocations = 0;
  const options = {
    maxMessageBytes: 1 << 20,
    allocate: (n: number) => {
      allocations++;
      return new Uint8Array(n);
    },
  };
  // A table that alone would exceed the limit (2^32 - 1 entries); nothing more is sent.
  await refusal(
    new MessageReader(
      new MemorySource(prelude({ count: 0xffff_ffff }), Infinity, true),
      options,
    ),
    /buffer table of 4294967295 entries exceeds the 1048576-byte message limit/,
  );
  await refusal(
    new MessageReader(
      new MemorySource(prelude({ headerLength: 2 << 20 }), Infinity, true),
      options,
    ),
    /header of 2097152 bytes .* exceeds the 1048576-byte message limit/,
  );
  // Buffers that add up past the limit; 1 TiB would not even be allocatable.
  await refusal(
    new MessageReader(
      new MemorySource(
        prelude({ lengths: [1000n, 2n ** 40n] }),
        Infinity,
        true,
      ),
      options,
    ),
    /message exceeds the 1048576-byte limit \(buffer 1 of 1099511627776 bytes/,
  );
  await refusal(
    new MessageReader(
      new MemorySource(prelude({ lengths: [2n ** 60n] }), Infinity, true),
      options,
    ),
    /buffer 0: length exceeds Number.MAX_SAFE_INTEGER/,
  );
  assert.equal(allocations, 0);
  // Exactly at the limit is fine.
  const atLimit = encode(new Uint8Array((1 << 20) - 128));
  assert.ok(atLimit.byteLength <= 1 << 20);
  const reader = new MessageReader(new MemorySource(atLimit), {
    ...options,
    maxMessageBytes: atLimit.byteLength,
  });
  assert.ok((await reader.next()) !== null);
  assert.equal(allocations, 1);
});

Deno.test("allocate: messages land in the buffers it returns; a bad one is a TypeError", async () => {
  const pool = new Uint8Array(1 << 20);
  const stream = encode(new Float64Array([1, 2, 3]));
  const reader = new MessageReader(new MemorySource(stream), {
    allocate: (n) => pool.subarray(64, 64 + n),
  });
  const bytes = await reader.next();
  assert.ok(bytes !== null);
  assert.equal(bytes.buffer, pool.buffer);
  const out = deserialize(decodeFrames(bytes)) as Float64Array;
  assert.equal(out.buffer, pool.buffer);
  assert.deepEqual([...out], [1, 2, 3]);

  const misaligned = new MessageReader(new MemorySource(stream), {
    allocate: (n) => pool.subarray(8, 8 + n),
  });
  await assert.rejects(misaligned.next(), TypeError);
  assert.throws(
    () => new MessageReader(new MemorySource(stream), { maxMessageBytes: 3 }),
    RangeError,
  );
});

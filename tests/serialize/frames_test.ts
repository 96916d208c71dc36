import assert from "node:assert/strict";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  FRAME_ALIGNMENT,
  FrameDecodeError,
  type Frames,
  framesByteLength,
  serialize,
} from "../../src/serialize/mod.ts";
import { concat, fromBytes, toBytes } from "./_helpers.ts";

function assertDecodeError(bytes: Uint8Array, why: string): void {
  assert.throws(
    () => deserialize(decodeFrames(bytes)),
    (e: unknown) =>
      e instanceof FrameDecodeError && e.name === "FrameDecodeError",
    why,
  );
}

const SMALL: unknown = {
  a: new Float64Array([1, 2, 3]),
  b: "text",
  c: [new Uint8Array([7]), new ArrayBuffer(0), -0, 10n ** 30n],
};

Deno.test("prelude layout: magic, version, flags, lengths, little-endian", () => {
  const header = new Uint8Array([0x91, 0xc0]);
  const b0 = new Uint8Array([1, 2, 3]);
  const b1 = new Uint8Array(70).fill(9);
  const bytes = concat(encodeFrames({ header, buffers: [b0, b1] }));
  assert.deepEqual([...bytes.subarray(0, 4)], [0x53, 0x50, 0x57, 0x46]); // "SPWF"
  const dv = new DataView(bytes.buffer);
  assert.equal(dv.getUint16(4, true), 1);
  assert.equal(dv.getUint16(6, true), 0);
  assert.equal(dv.getUint32(8, true), 2);
  assert.equal(dv.getUint32(12, true), 2);
  assert.equal(dv.getBigUint64(16, true), 3n);
  assert.equal(dv.getBigUint64(24, true), 70n);
  assert.deepEqual([...bytes.subarray(32, 34)], [0x91, 0xc0]);
  // buffer 0 at 64, buffer 1 at 128, ends at 198
  assert.deepEqual([...bytes.subarray(64, 67)], [1, 2, 3]);
  assert.ok(bytes.subarray(34, 64).every((x) => x === 0));
  assert.ok(bytes.subarray(67, 128).every((x) => x === 0));
  assert.equal(bytes.byteLength, 128 + 70);
  const frames = decodeFrames(bytes);
  assert.deepEqual([...frames.header], [0x91, 0xc0]);
  assert.equal(frames.buffers[0].byteOffset, 64);
  assert.equal(frames.buffers[1].byteOffset, 128);
  assert.equal(frames.header.buffer, bytes.buffer, "header is a view");
  assert.equal(frames.buffers[1].buffer, bytes.buffer, "buffers are views");
});

Deno.test("no buffers: the encoding ends right after the header", () => {
  const header = serialize(null).header;
  const chunks = encodeFrames({ header, buffers: [] });
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0].byteLength, 16 + header.byteLength);
  assert.equal(
    framesByteLength({ header, buffers: [] }),
    16 + header.byteLength,
  );
  assert.equal(fromBytes(chunks[0]), null);
});

Deno.test("encodeFrames: caller's buffers are chunks (no copy); lengths add up", () => {
  const big = new Uint8Array(1000).fill(1);
  const frames: Frames = {
    header: new Uint8Array(5),
    buffers: [big, new Uint8Array(0), big],
  };
  const chunks = encodeFrames(frames);
  assert.equal(chunks.filter((c) => c === big).length, 2);
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  assert.equal(total, framesByteLength(frames));
  const back = decodeFrames(concat(chunks));
  assert.equal(back.buffers.length, 3);
  assert.equal(back.buffers[1].byteLength, 0);
  for (const b of back.buffers) assert.equal(b.byteOffset % FRAME_ALIGNMENT, 0);
  assert.equal(FRAME_ALIGNMENT, 64);
});

Deno.test("every buffer of a serialized value starts at a multiple of 64", () => {
  const v = [
    new Uint8Array(1),
    new Float64Array(3),
    new Uint8Array(65),
    new Int32Array(0),
    {
      x: new BigInt64Array(2),
    },
  ];
  const bytes = toBytes(v);
  const frames = decodeFrames(bytes);
  assert.equal(frames.buffers.length, 5);
  for (const b of frames.buffers) {
    assert.equal(b.byteOffset % 64, 0);
    assert.equal(b.buffer, bytes.buffer);
  }
});

Deno.test("every truncation of a valid encoding is a FrameDecodeError", () => {
  const bytes = toBytes(SMALL);
  assert.ok(bytes.byteLength > 200);
  fromBytes(bytes); // the whole is valid
  for (let n = 0; n < bytes.byteLength; n++) {
    assertDecodeError(bytes.slice(0, n), `prefix of ${n} bytes`);
    assertDecodeError(bytes.subarray(0, n), `prefix view of ${n} bytes`);
  }
});

Deno.test("trailing bytes are a FrameDecodeError", () => {
  const bytes = toBytes(SMALL);
  for (const extra of [1, 7, 64, 1000]) {
    const longer = new Uint8Array(bytes.byteLength + extra);
    longer.set(bytes);
    assertDecodeError(longer, `${extra} trailing zero bytes`);
  }
  const noBuffers = toBytes({ a: 1 });
  assertDecodeError(
    concat([noBuffers, new Uint8Array(1)]),
    "trailing byte, no buffers",
  );
});

Deno.test("corrupted prelude fields are FrameDecodeErrors", () => {
  const bytes = toBytes(SMALL);
  const count = new DataView(bytes.buffer).getUint32(12, true);
  const mutate = (f: (dv: DataView, b: Uint8Array) => void): Uint8Array => {
    const copy = bytes.slice();
    f(new DataView(copy.buffer), copy);
    return copy;
  };
  assertDecodeError(mutate((_, b) => b[0] = 0x73), "magic");
  assertDecodeError(mutate((_, b) => b[3] = 0), "magic");
  assertDecodeError(mutate((dv) => dv.setUint16(4, 2, true)), "version 2");
  assertDecodeError(mutate((dv) => dv.setUint16(4, 0, true)), "version 0");
  assertDecodeError(mutate((dv) => dv.setUint16(6, 1, true)), "flags");
  for (const delta of [-1, 1, 64, 1 << 20]) {
    assertDecodeError(
      mutate((dv) => dv.setUint32(8, dv.getUint32(8, true) + delta, true)),
      `headerLength ${delta}`,
    );
    assertDecodeError(
      mutate((dv) => dv.setUint32(12, dv.getUint32(12, true) + delta, true)),
      `bufferCount ${delta}`,
    );
  }
  assertDecodeError(
    mutate((dv) => dv.setUint32(8, 0xffffffff, true)),
    "huge header",
  );
  assertDecodeError(
    mutate((dv) => dv.setUint32(12, 0xffffffff, true)),
    "huge count",
  );
  assertDecodeError(mutate((dv) => dv.setUint32(12, 0, true)), "zero count");
  for (let i = 0; i < count; i++) {
    const at = 16 + 8 * i;
    // +64 shifts everything after it; (+1 can be absorbed by padding unless it is the last)
    assertDecodeError(
      mutate((dv) =>
        dv.setBigUint64(at, dv.getBigUint64(at, true) + 64n, true)
      ),
      `buffer ${i} length + 64`,
    );
    if (i === count - 1) {
      assertDecodeError(
        mutate((dv) =>
          dv.setBigUint64(at, dv.getBigUint64(at, true) + 1n, true)
        ),
        `last buffer length + 1`,
      );
    }
    assertDecodeError(
      mutate((dv) => dv.setBigUint64(at, 2n ** 53n, true)),
      `buffer ${i} length 2^53`,
    );
    assertDecodeError(
      mutate((dv) => dv.setBigUint64(at, 2n ** 64n - 1n, true)),
      `buffer ${i} length 2^64-1`,
    );
    assertDecodeError(
      mutate((dv) => dv.setBigUint64(at, 2n ** 53n - 1n, true)),
      `buffer ${i} length MAX_SAFE_INTEGER`,
    );
  }
});

Deno.test("non-zero padding is a FrameDecodeError", () => {
  const bytes = toBytes(SMALL);
  const frames = decodeFrames(bytes);
  const firstBuffer = frames.buffers[0].byteOffset;
  const copy = bytes.slice();
  copy[firstBuffer - 1] = 1;
  assertDecodeError(copy, "padding before buffer 0");
});

Deno.test("a tiny input with a giant declared count allocates nothing big and fails fast", () => {
  const prelude = new Uint8Array(16);
  prelude.set([0x53, 0x50, 0x57, 0x46]);
  const dv = new DataView(prelude.buffer);
  dv.setUint16(4, 1, true);
  dv.setUint32(12, 0xffffffff, true);
  const t = performance.now();
  assertDecodeError(prelude, "count 2^32-1");
  assert.ok(performance.now() - t < 50);
});

Deno.test("decodeFrames rejects non-Uint8Array input with FrameDecodeError", () => {
  assert.throws(
    () => decodeFrames(null as unknown as Uint8Array),
    FrameDecodeError,
  );
  assert.throws(
    () => decodeFrames([1, 2] as unknown as Uint8Array),
    FrameDecodeError,
  );
});

Deno.test("serialized bytes decode from a view at any offset inside a larger buffer", () => {
  const inner = toBytes(SMALL);
  for (const offset of [1, 3, 8, 64]) {
    const outer = new Uint8Array(offset + inner.byteLength + 5);
    outer.set(inner, offset);
    const view = outer.subarray(offset, offset + inner.byteLength);
    const out = fromBytes(view) as { a: Float64Array };
    assert.deepEqual([...out.a], [1, 2, 3]);
  }
});

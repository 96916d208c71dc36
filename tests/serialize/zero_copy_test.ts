import assert from "node:assert/strict";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  serialize,
} from "../../src/serialize/mod.ts";
import { concat } from "./_helpers.ts";

Deno.test("a decoded Float64Array views the input bytes (zero-copy)", () => {
  const f64 = new Float64Array([1.5, 2.5, -0, NaN]);
  const bytes = concat(encodeFrames(serialize({ a: f64 })));
  const out = deserialize(decodeFrames(bytes)) as { a: Float64Array };
  assert.ok(out.a instanceof Float64Array);
  assert.equal(out.a.buffer, bytes.buffer);
  assert.equal(out.a.byteOffset % 64, 0);
  assert.deepEqual([...out.a], [1.5, 2.5, -0, NaN]);
  // writes to the input show through: it really is a view
  new DataView(bytes.buffer).setFloat64(out.a.byteOffset, 42, true);
  assert.equal(out.a[0], 42);
});

Deno.test("serialize does not copy payloads; the header never holds them", () => {
  const big = new Float64Array((10 * 1024 * 1024) / 8).map((_, i) => i);
  const frames = serialize({ big, list: [big.subarray(5, 10)] });
  assert.ok(
    frames.header.byteLength < 64,
    `header is ${frames.header.byteLength} bytes`,
  );
  assert.equal(frames.buffers[0].buffer, big.buffer);
  assert.equal(frames.buffers[0].byteLength, big.byteLength);
  assert.equal(frames.buffers[1].buffer, big.buffer);
  assert.equal(frames.buffers[1].byteOffset, 5 * 8);
  const chunks = encodeFrames(frames);
  assert.ok(chunks[0].byteLength <= 128);
  assert.ok(chunks.includes(frames.buffers[0]));
  const bytes = concat(chunks);
  const out = deserialize(decodeFrames(bytes)) as {
    big: Float64Array;
    list: Float64Array[];
  };
  assert.equal(out.big.buffer, bytes.buffer);
  assert.equal(out.big.length, big.length);
  assert.equal(out.big[big.length - 1], big.length - 1);
  assert.deepEqual([...out.list[0]], [5, 6, 7, 8, 9]);
});

Deno.test("deserialize(serialize(x)) without bytes shares memory with the original", () => {
  const f32 = new Float32Array([1, 2, 3]);
  const ab = new ArrayBuffer(16);
  const out = deserialize(serialize({ f32, ab })) as {
    f32: Float32Array;
    ab: ArrayBuffer;
  };
  assert.equal(out.f32.buffer, f32.buffer);
  assert.equal(
    out.ab,
    ab,
    "a frame spanning a whole ArrayBuffer returns it as is",
  );
});

Deno.test("misaligned input: wide typed arrays are copied, byte views are not", () => {
  const inner = concat(encodeFrames(serialize({
    f64: new Float64Array([1, 2]),
    u8: new Uint8Array([3, 4]),
    dv: new DataView(new Uint8Array([5, 6]).buffer),
  })));
  const outer = new Uint8Array(inner.byteLength + 1);
  outer.set(inner, 1);
  const out = deserialize(decodeFrames(outer.subarray(1))) as {
    f64: Float64Array;
    u8: Uint8Array;
    dv: DataView;
  };
  assert.notEqual(
    out.f64.buffer,
    outer.buffer,
    "an unaligned Float64Array must be a copy",
  );
  assert.deepEqual([...out.f64], [1, 2]);
  assert.equal(out.u8.buffer, outer.buffer);
  assert.equal(out.dv.buffer, outer.buffer);
  assert.equal(out.dv.getUint8(1), 6);
});

Deno.test("an ArrayBuffer inside a larger input is returned as a copy", () => {
  const ab = new Uint8Array([1, 2, 3]).buffer;
  const bytes = concat(encodeFrames(serialize([ab])));
  const [out] = deserialize(decodeFrames(bytes)) as [ArrayBuffer];
  assert.ok(out instanceof ArrayBuffer);
  assert.notEqual(out, bytes.buffer);
  assert.deepEqual([...new Uint8Array(out)], [1, 2, 3]);
});

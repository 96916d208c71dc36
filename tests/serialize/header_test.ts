import assert from "node:assert/strict";
import { Encoder, ExtData } from "@msgpack/msgpack";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  FrameDecodeError,
  type Frames,
  serialize,
} from "../../src/serialize/mod.ts";
import { concat } from "./_helpers.ts";

// Tag numbers of the header format (see src/serialize/serialize.ts).
const tag = (t: number): ExtData => new ExtData(t, new Uint8Array(0));
const UNDEFINED = tag(0),
  BIGINT = tag(2),
  DATE = tag(3),
  ARRAY = tag(4),
  OBJECT = tag(5);
const MAP = tag(7),
  SET = tag(8),
  ARRAYBUFFER = tag(9),
  TYPED = tag(10),
  WTF16 = tag(11);
const F64 = 8, I16 = 3, DATAVIEW = 11;

const encoder = new Encoder();
const header = (...tokens: unknown[]): Uint8Array => encoder.encode(tokens);

function rejects(frames: Frames, message?: RegExp): void {
  assert.throws(
    () => deserialize(frames),
    (e: unknown) => {
      assert.ok(
        e instanceof FrameDecodeError,
        `expected FrameDecodeError, got ${e}`,
      );
      assert.equal(e.name, "FrameDecodeError");
      if (message) assert.match(e.message, message);
      return true;
    },
  );
  // and the same through the byte layout
  assert.throws(
    () => deserialize(decodeFrames(concat(encodeFrames(frames)))),
    FrameDecodeError,
  );
}

const noBuffers = (...tokens: unknown[]): Frames => ({
  header: header(...tokens),
  buffers: [],
});

Deno.test("hand-written valid headers decode", () => {
  const u8 = new Uint8Array([1, 2, 3, 4]);
  const v = deserialize({
    header: header(
      ARRAY,
      3,
      UNDEFINED,
      TYPED,
      DATAVIEW,
      0,
      OBJECT,
      1,
      "k",
      BIGINT,
      "-ff",
    ),
    buffers: [u8],
  }) as [undefined, DataView, { k: bigint }];
  assert.equal(v[0], undefined);
  assert.equal(v[1].getUint8(3), 4);
  assert.equal(v[2].k, -255n);
});

Deno.test("the header must be exactly one msgpack array holding exactly one node", () => {
  rejects({ header: encoder.encode(null), buffers: [] }, /array/);
  rejects({ header: encoder.encode({ a: 1 }), buffers: [] }, /array/);
  rejects(noBuffers(), /end of header/);
  rejects(noBuffers(null, null), /trailing/);
  rejects(noBuffers(ARRAY, 1, 1, 2), /trailing/);
  rejects({ header: new Uint8Array(0), buffers: [] }, /msgpack/);
  rejects({ header: new Uint8Array([0xc1]), buffers: [] }, /msgpack/); // never-used byte
  rejects({ header: new Uint8Array([0x92, 0xc0]), buffers: [] }, /msgpack/); // truncated
  rejects({ header: new Uint8Array([0x90, 0xc0]), buffers: [] }, /msgpack/); // trailing byte
});

Deno.test("a huge declared msgpack length in a tiny header allocates nothing", () => {
  for (const prefix of [0xdd, 0xdf, 0xdb, 0xc6, 0xc9]) { // array32, map32, str32, bin32, ext32
    const h = new Uint8Array([0x91, prefix, 0xff, 0xff, 0xff, 0xff, 0x02]);
    const t = performance.now();
    rejects({ header: h, buffers: [] });
    assert.ok(performance.now() - t < 50);
  }
});

Deno.test("counts must be non-negative integers within the remaining tokens", () => {
  rejects(noBuffers(ARRAY, 5, 1), /count 5 exceeds/);
  rejects(noBuffers(OBJECT, 2, "a", 1), /count 2 exceeds/);
  rejects(noBuffers(MAP, 1, 1), /count 1 exceeds/);
  rejects(noBuffers(SET, 3), /count 3 exceeds/);
  rejects(noBuffers(ARRAY, 2 ** 40, 1), /exceeds/);
  rejects(noBuffers(ARRAY, -1), /count/);
  rejects(noBuffers(ARRAY, 0.5, 1), /count/);
  rejects(noBuffers(ARRAY, "1", 1), /count/);
  rejects(noBuffers(ARRAY, NaN), /count/);
});

Deno.test("buffer indexes, kinds and lengths are checked", () => {
  const b8 = new Uint8Array(8);
  rejects(
    { header: header(ARRAYBUFFER, 1), buffers: [b8] },
    /buffer index 1 out of range/,
  );
  rejects({ header: header(TYPED, F64, 1), buffers: [b8] }, /out of range/);
  rejects({ header: header(TYPED, F64, -1), buffers: [b8] }, /buffer index/);
  rejects({ header: header(TYPED, F64, 0.5), buffers: [b8] }, /buffer index/);
  rejects({ header: header(TYPED, F64, "0"), buffers: [b8] }, /buffer index/);
  rejects({ header: header(TYPED, 13, 0), buffers: [b8] }, /kind/);
  rejects({ header: header(TYPED, -1, 0), buffers: [b8] }, /kind/);
  rejects({ header: header(TYPED, 1.5, 0), buffers: [b8] }, /kind/);
  rejects({ header: header(TYPED, null, 0), buffers: [b8] }, /kind/);
  // lengths that are not a multiple of the element size, aligned and misaligned
  rejects(
    { header: header(TYPED, F64, 0), buffers: [new Uint8Array(12)] },
    /multiple of 8/,
  );
  const odd = new Uint8Array(16).subarray(1, 4);
  rejects({ header: header(TYPED, I16, 0), buffers: [odd] }, /multiple of 2/);
  // a "buffer" that is not a Uint8Array (encodeFrames would refuse it, so direct only)
  assert.throws(
    () =>
      deserialize({
        header: header(TYPED, F64, 0),
        buffers: [new Float64Array(1) as unknown as Uint8Array],
      }),
    FrameDecodeError,
  );
});

Deno.test("object keys must be strings", () => {
  rejects(noBuffers(OBJECT, 1, 5, null), /key/);
  rejects(noBuffers(OBJECT, 1, null, null), /key/);
  rejects(noBuffers(OBJECT, 1, UNDEFINED, null), /key/);
  rejects(noBuffers(OBJECT, 1, ARRAY, 0), /key/);
});

Deno.test("tokens outside the format are rejected", () => {
  rejects(noBuffers(tag(12)), /unknown tag/);
  rejects(noBuffers(tag(100)), /unknown tag/);
  rejects(noBuffers(new ExtData(2, new Uint8Array([1]))), /msgpack/); // tags carry no payload
  rejects(noBuffers(new Date(0)), /msgpack/); // msgpack timestamp extension
  rejects(noBuffers(new Uint8Array([1, 2])), /bin/);
  rejects(noBuffers([1]), /token/);
  rejects(noBuffers({ a: 1 }), /token/);
  rejects(noBuffers(ARRAY, 1, [1]), /token/);
});

Deno.test("operands of BIGINT, DATE and WTF16 are checked", () => {
  for (const s of ["", "x", "0f", "-0", " 1", "1 ", "0x1", "FF", "-", 5]) {
    rejects(noBuffers(BIGINT, s), /BigInt/);
  }
  rejects(noBuffers(BIGINT), /end of header/);
  rejects(noBuffers(DATE, "2020"), /Date/);
  rejects(noBuffers(DATE), /end of header/);
  rejects(noBuffers(WTF16, new Uint8Array(3)), /odd/);
  rejects(noBuffers(WTF16, "abc"), /WTF16/);
  assert.equal(
    deserialize(noBuffers(WTF16, new Uint8Array([0x00, 0xd8]))),
    "\ud800",
  );
});

Deno.test("frames of the wrong shape are FrameDecodeErrors", () => {
  const bad = [
    null,
    {},
    { header: null, buffers: [] },
    { header: [0x90], buffers: [] },
    { header: new Uint8Array([0xc0]), buffers: null },
  ];
  for (const f of bad) {
    assert.throws(() => deserialize(f as unknown as Frames), FrameDecodeError);
  }
});

Deno.test("unreferenced buffers are ignored; a buffer referenced twice aliases", () => {
  const b = new Uint8Array([1, 2]);
  assert.equal(deserialize({ header: header(null), buffers: [b, b] }), null);
  const [x, y] = deserialize({
    header: header(ARRAY, 2, TYPED, 1, 0, TYPED, 1, 0),
    buffers: [b],
  }) as Uint8Array[];
  x[0] = 9;
  assert.equal(y[0], 9);
  // serialize itself never does this: a shared typed array is framed twice
  const shared = new Uint8Array(4);
  assert.equal(serialize([shared, shared]).buffers.length, 2);
});

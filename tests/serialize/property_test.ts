import assert from "node:assert/strict";
import fc from "fast-check";
import { Encoder, ExtData } from "@msgpack/msgpack";
import {
  decodeFrames,
  deserialize,
  encodeFrames,
  FrameDecodeError,
  type Frames,
  framesByteLength,
  serialize,
} from "../../src/serialize/mod.ts";
import { anyValue, concat, difference, toBytes } from "./_helpers.ts";

/** Runs `f`; anything thrown other than a FrameDecodeError fails the property. */
function onlyFrameDecodeError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof FrameDecodeError)) {
      throw new Error(
        `threw ${e instanceof Error ? e.name : typeof e}, not FrameDecodeError`,
        {
          cause: e,
        },
      );
    }
  }
}

Deno.test("property: random values round-trip through bytes and through frames", () => {
  fc.assert(
    fc.property(anyValue, (v) => {
      const frames = serialize(v);
      const chunks = encodeFrames(frames);
      const bytes = concat(chunks);
      assert.equal(bytes.byteLength, framesByteLength(frames));
      const viaBytes = deserialize(decodeFrames(bytes));
      const d1 = difference(v, viaBytes);
      assert.equal(d1, null, d1 ?? "");
      for (const b of decodeFrames(bytes).buffers) {
        assert.equal(b.byteOffset % 64, 0);
      }
      const d2 = difference(v, deserialize(frames));
      assert.equal(d2, null, d2 ?? "");
    }),
    { numRuns: 1000 },
  );
});

Deno.test("property: random byte strings only ever raise FrameDecodeError", () => {
  const prelude = fc.record({
    version: fc.constantFrom(1, 1, 1, 0, 2),
    flags: fc.constantFrom(0, 0, 0, 1),
    headerLength: fc.oneof(fc.nat(64), fc.constant(0xffffffff)),
    lengths: fc.array(
      fc.oneof(fc.nat(100), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      {
        maxLength: 4,
      },
    ),
    countDelta: fc.constantFrom(0, 0, 1, -1, 1000),
    rest: fc.uint8Array({ maxLength: 300 }),
  }).map(({ version, flags, headerLength, lengths, countDelta, rest }) => {
    const head = new Uint8Array(16 + 8 * lengths.length);
    head.set([0x53, 0x50, 0x57, 0x46]);
    const dv = new DataView(head.buffer);
    dv.setUint16(4, version, true);
    dv.setUint16(6, flags, true);
    dv.setUint32(8, headerLength, true);
    dv.setUint32(12, Math.max(0, lengths.length + countDelta), true);
    lengths.forEach((l, i) => dv.setBigUint64(16 + 8 * i, BigInt(l), true));
    return concat([head, rest]);
  });
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 200 }), prelude),
      (bytes) => {
        onlyFrameDecodeError(() => deserialize(decodeFrames(bytes)));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("property: mutations of valid encodings only ever raise FrameDecodeError", () => {
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("set" as const),
      at: fc.nat(),
      byte: fc.nat(255),
    }),
    fc.record({
      kind: fc.constant("flip" as const),
      at: fc.nat(),
      bit: fc.nat(7),
    }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      byte: fc.nat(255),
    }),
  );
  fc.assert(
    fc.property(
      anyValue,
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      (v, ms) => {
        let bytes = toBytes(v);
        for (const m of ms) {
          const at = m.at % (bytes.byteLength + 1);
          if (m.kind === "set" && at < bytes.byteLength) bytes[at] = m.byte;
          else if (m.kind === "flip" && at < bytes.byteLength) {
            bytes[at] ^= 1 << m.bit;
          } else if (m.kind === "cut") {
            bytes = bytes.slice(0, at);
          } else if (m.kind === "insert") {
            bytes = concat([
              bytes.subarray(0, at),
              new Uint8Array([m.byte]),
              bytes.subarray(at),
            ]);
          }
        }
        onlyFrameDecodeError(() => deserialize(decodeFrames(bytes)));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: header mutations (bytes of the msgpack header) only raise FrameDecodeError", () => {
  fc.assert(
    fc.property(
      anyValue,
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }),
      (v, edits) => {
        const frames = serialize(v);
        const header = frames.header.slice();
        for (const [at, byte] of edits) header[at % header.byteLength] = byte;
        onlyFrameDecodeError(() =>
          deserialize({ header, buffers: frames.buffers })
        );
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: random token streams only raise FrameDecodeError", () => {
  // Well-formed msgpack but arbitrary token sequences: exercises the structural decoder.
  const tag = (t: number) => new ExtData(t, new Uint8Array(0));
  const single = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 14 }).map(tag) },
    { weight: 6, arbitrary: fc.integer({ min: -2, max: 16 }) },
    fc.constantFrom(
      null,
      true,
      1.5,
      NaN,
      -0,
      2 ** 60,
      "k",
      "__proto__",
      "-1f",
      "0",
      "zz",
    ),
    fc.string({ maxLength: 3 }),
    fc.uint8Array({ maxLength: 5 }),
    fc.constant([1]),
    fc.constant({ a: 1 }),
    fc.constant(new ExtData(2, new Uint8Array(1))), // ext with a payload
    fc.constant(new Date(0)), // msgpack timestamp ext (-1)
  );
  // Snippets that are close to valid, so the decoder gets past the first token often.
  const snippet: fc.Arbitrary<unknown[]> = fc.oneof(
    single.map((t) => [t]),
    fc.tuple(
      fc.integer({ min: 4, max: 8 }).map(tag),
      fc.integer({ min: -1, max: 4 }),
    ),
    fc.tuple(fc.constant(tag(10)), fc.integer({ min: -1, max: 13 }), fc.nat(3)),
    fc.tuple(fc.constant(tag(9)), fc.nat(3)),
    fc.tuple(
      fc.constant(tag(2)),
      fc.constantFrom("0", "-0", "ff", "-1f", "0f", "x", ""),
    ),
    fc.tuple(fc.constant(tag(3)), fc.constantFrom(0, NaN, 1e20, "x")),
    fc.tuple(fc.constant(tag(11)), fc.uint8Array({ maxLength: 5 })),
  );
  const tokens = fc.array(snippet, { maxLength: 12 }).map((xs) => xs.flat());
  // buffers at arbitrary byte offsets, so both the zero-copy and the copying paths run
  const buffers = fc.array(
    fc.tuple(fc.uint8Array({ maxLength: 17 }), fc.nat(7)).map(([b, off]) => {
      const backing = new Uint8Array(off + b.byteLength);
      backing.set(b, off);
      return backing.subarray(off);
    }),
    { maxLength: 3 },
  );
  const encoder = new Encoder();
  fc.assert(
    fc.property(tokens, buffers, fc.boolean(), (tokens, bufs, wrap) => {
      const header = encoder.encode(wrap ? tokens : tokens[0] ?? null);
      const frames: Frames = { header, buffers: bufs };
      onlyFrameDecodeError(() => deserialize(frames));
      onlyFrameDecodeError(() =>
        deserialize(decodeFrames(concat(encodeFrames(frames))))
      );
    }),
    { numRuns: 5000 },
  );
});

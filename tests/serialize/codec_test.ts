import assert from "node:assert/strict";
import {
  CodecValue,
  decodeFrames,
  deserialize,
  encodeFrames,
  FrameDecodeError,
  registerCodec,
  SerializationError,
  serialize,
  UnknownCodecError,
} from "../../src/serialize/mod.ts";
import { concat } from "./_helpers.ts";

class Vec {
  constructor(readonly label: string, readonly data: Float64Array) {}
  sum(): number {
    return this.data.reduce((a, b) => a + b, 0);
  }
}
registerCodec(Vec, {
  name: "test.Vec",
  encode: (v) => ({ label: v.label, data: v.data }),
  decode: (e: { label: string; data: Float64Array }) =>
    new Vec(e.label, e.data),
});

/** A class whose codec nests another registered class. */
class Pair {
  constructor(readonly a: Vec, readonly b: Vec) {}
}
registerCodec(Pair, {
  name: "test.Pair",
  encode: (p) => [p.a, p.b],
  decode: ([a, b]: Vec[]) => new Pair(a, b),
});

class Unregistered {
  x = 1;
}

/** Through the byte layout too: what the wire and a spill file hold. */
function roundTrip(value: unknown): unknown {
  return deserialize(decodeFrames(concat(encodeFrames(serialize(value)))));
}

Deno.test("a registered class round-trips as its class, nested anywhere", () => {
  const v = new Vec("a", new Float64Array([1, 2, 3]));
  const back = roundTrip({
    list: [v],
    map: new Map([["k", v]]),
    set: new Set([new Pair(v, new Vec("b", new Float64Array([4])))]),
  }) as { list: Vec[]; map: Map<string, Vec>; set: Set<Pair> };
  assert.ok(back.list[0] instanceof Vec);
  assert.equal(back.list[0].sum(), 6);
  assert.equal(back.list[0].label, "a");
  assert.ok(back.map.get("k") instanceof Vec);
  const [pair] = back.set;
  assert.ok(pair instanceof Pair);
  assert.ok(pair.a instanceof Vec && pair.b instanceof Vec);
  assert.equal(pair.b.sum(), 4);
});

Deno.test("a codec's typed arrays travel out of band, without a copy on read", () => {
  const data = new Float64Array(1024).fill(2);
  const frames = serialize(new Vec("big", data));
  assert.equal(frames.buffers.length, 1);
  assert.ok(frames.header.byteLength < 100, "the header holds no payload");
  const bytes = concat(encodeFrames(frames));
  const back = deserialize(decodeFrames(bytes)) as Vec;
  assert.equal(back.data.buffer, bytes.buffer);
  assert.equal(back.sum(), 2048);
});

Deno.test("the frames name the codec; a reader that does not know it says which", () => {
  const frames = serialize([new Vec("a", new Float64Array(1))]);
  // A process without the codec: its name changed in the header, same length.
  const header = frames.header.slice();
  const name = new TextEncoder().encode("test.Vec");
  const at = header.findIndex((_, i) =>
    name.every((b, j) => header[i + j] === b)
  );
  assert.ok(at > 0);
  header.set(new TextEncoder().encode("test.Zzz"), at);
  const renamed = { header, buffers: frames.buffers };
  const error = (() => {
    try {
      deserialize(renamed);
    } catch (e) {
      return e;
    }
    assert.fail("deserialize did not throw");
  })();
  assert.ok(error instanceof UnknownCodecError);
  assert.ok(error instanceof FrameDecodeError);
  assert.equal(error.codec, "test.Zzz");
  assert.match(error.message, /"test\.Zzz"/);
  assert.match(error.message, /registerCodec/);
  assert.match(error.message, /--codecs/);
});

Deno.test("keep: values stay encoded, need no codec, and serialize back to the same frames", () => {
  const frames = serialize({ v: new Vec("a", new Float64Array([5])) });
  const kept = deserialize(frames, { codecs: "keep" }) as { v: CodecValue };
  assert.ok(kept.v instanceof CodecValue);
  assert.equal(kept.v.codec, "test.Vec");
  const again = serialize(kept);
  assert.deepEqual(again.header, frames.header);
  const back = deserialize(again) as { v: Vec };
  assert.ok(back.v instanceof Vec);
  assert.equal(back.v.sum(), 5);
  // An unknown name is kept too.
  const unknown = serialize(new CodecValue("nobody.knows", [1]));
  const k = deserialize(unknown, { codecs: "keep" }) as CodecValue;
  assert.equal(k.codec, "nobody.knows");
  assert.deepEqual(k.value, [1]);
  assert.throws(() => deserialize(unknown), UnknownCodecError);
});

Deno.test("a class without a codec is refused, naming the class and registerCodec", () => {
  try {
    serialize({ items: [new Unregistered()] });
    assert.fail("serialize did not throw");
  } catch (e) {
    assert.ok(e instanceof SerializationError);
    assert.equal(e.path, "value.items[0]");
    assert.match(e.message, /Unregistered instance/);
    assert.match(e.message, /registerCodec\(Unregistered/);
  }
  // A subclass of a registered class needs its own codec.
  class SubVec extends Vec {}
  assert.throws(
    () => serialize(new SubVec("s", new Float64Array(1))),
    /SubVec instance/,
  );
});

Deno.test("errors inside an encoded value name where they are; a throwing codec is reported", () => {
  class Holder {
    constructor(readonly inner: unknown) {}
  }
  registerCodec(Holder, {
    name: "test.Holder",
    encode: (h) => ({ inner: h.inner }),
    decode: (e: { inner: unknown }) => new Holder(e.inner),
  });
  try {
    serialize([new Holder(() => 1)]);
    assert.fail("serialize did not throw");
  } catch (e) {
    assert.ok(e instanceof SerializationError);
    assert.equal(e.path, 'value[0]<encoded by codec "test.Holder">.inner');
  }
  class Bad {}
  registerCodec(Bad, {
    name: "test.Bad",
    encode: () => {
      throw new Error("nope");
    },
    decode: () => {
      throw new Error("never");
    },
  });
  assert.throws(() => serialize(new Bad()), /test\.Bad.*threw: nope/);
  const kept = serialize(new CodecValue("test.Bad", 1));
  assert.throws(
    () => deserialize(kept),
    (e: unknown) =>
      e instanceof FrameDecodeError && /decode.*threw: never/.test(e.message),
  );
  // encode returning the instance itself is a cycle, not a hang.
  class Selfish {}
  registerCodec(Selfish, {
    name: "test.Selfish",
    encode: (s) => s,
    decode: () => new Selfish(),
  });
  assert.throws(() => serialize(new Selfish()), /cyclic/);
});

Deno.test("registerCodec refuses what cannot work", () => {
  assert.throws(
    () =>
      registerCodec(Map, {
        name: "x.Map",
        encode: () => 0,
        decode: () => new Map(),
      }),
    /natively/,
  );
  assert.throws(
    () =>
      registerCodec(Unregistered, {
        name: "",
        encode: () => 0,
        decode: () => new Unregistered(),
      }),
    /name/,
  );
  assert.throws(
    () =>
      registerCodec(
        Unregistered,
        { name: "x.U" } as unknown as Parameters<typeof registerCodec>[1],
      ),
    /encode and decode/,
  );
});

Deno.test("the registry is shared by every copy of the codec module in a process", async () => {
  // Another URL for the same file: a second module instance.
  const url = new URL("../../src/serialize/codecs.ts?copy", import.meta.url);
  const copy = await import(
    url.href
  ) as typeof import("../../src/serialize/codecs.ts");
  class Other {
    constructor(readonly n: number) {}
  }
  copy.registerCodec(Other, {
    name: "test.Other",
    encode: (o) => o.n,
    decode: (n: number) => new Other(n),
  });
  const back = roundTrip(new Other(7)) as Other;
  assert.ok(back instanceof Other);
  assert.equal(back.n, 7);
});

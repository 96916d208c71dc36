import assert from "node:assert/strict";
import { deserialize, serialize } from "../../src/serialize/mod.ts";
import {
  difference,
  objectFrom,
  roundTrip,
  roundTripFrames,
} from "./_helpers.ts";

function assertRoundTrips(value: unknown): void {
  for (const trip of [roundTrip, roundTripFrames]) {
    const out = trip(value);
    const d = difference(value, out);
    assert.equal(d, null, `${trip.name}: ${d}`);
  }
}

const float16 =
  (globalThis as { Float16Array?: new (xs: number[]) => ArrayBufferView })
    .Float16Array;

Deno.test("primitives round-trip, including -0, NaN, ±Infinity, undefined", () => {
  for (
    const v of [
      null,
      undefined,
      true,
      false,
      0,
      -0,
      NaN,
      Infinity,
      -Infinity,
      1.5,
      -7,
      2 ** 53 - 1,
      -(2 ** 60),
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      "",
      "hello",
      "ünïcødé 🎉",
      "lone \ud800 surrogate",
      "\udc00",
      "x".repeat(100_000),
    ]
  ) {
    assertRoundTrips(v);
  }
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Object.is((roundTrip([-0]) as number[])[0], -0));
  assert.equal(roundTrip("a\ud800b"), "a\ud800b");
});

Deno.test("BigInt round-trips, including far beyond 2^64", () => {
  for (
    const v of [
      0n,
      1n,
      -1n,
      2n ** 63n,
      2n ** 64n,
      -(2n ** 64n) - 1n,
      2n ** 1000n + 12345n,
      -(3n ** 5000n),
    ]
  ) {
    assert.equal(roundTrip(v), v);
    assert.equal(roundTripFrames(v), v);
  }
});

Deno.test("Date round-trips, including invalid and extreme dates", () => {
  for (const ms of [0, -1, 1_700_000_000_123, 8.64e15, -8.64e15, NaN]) {
    const out = roundTrip(new Date(ms)) as Date;
    assert.ok(out instanceof Date);
    assert.ok(Object.is(out.getTime(), new Date(ms).getTime()));
  }
});

Deno.test("every typed array kind, DataView and ArrayBuffer round-trip", () => {
  const values: unknown[] = [
    new Int8Array([-128, 0, 127]),
    new Uint8Array([0, 255]),
    new Uint8ClampedArray([0, 128, 255]),
    new Int16Array([-32768, 32767]),
    new Uint16Array([0, 65535]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    new Uint32Array([0, 2 ** 32 - 1]),
    new Float32Array([1.5, -0, NaN, Infinity]),
    new Float64Array([Math.PI, -0, NaN, -Infinity]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new BigUint64Array([0n, 2n ** 64n - 1n]),
    new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer),
    new Uint8Array([9, 8, 7]).buffer,
  ];
  if (float16) values.push(new float16([1.5, -0, 65504]));
  for (const v of values) {
    assertRoundTrips(v);
    const out = roundTrip(v);
    assert.equal(Object.getPrototypeOf(out), Object.getPrototypeOf(v));
  }
  assertRoundTrips(values);
});

Deno.test("empty buffers round-trip", () => {
  const v = {
    a: new Float64Array(0),
    b: new ArrayBuffer(0),
    c: new DataView(new ArrayBuffer(0)),
    d: new Uint8Array(0),
  };
  assertRoundTrips(v);
  assertRoundTrips([new Uint8Array(0)]); // an empty buffer as the last frame
  assertRoundTrips(new ArrayBuffer(0));
});

Deno.test("subarray views and DataViews at odd offsets round-trip with only their bytes", () => {
  const backing = new Uint8Array(64).map((_, i) => i);
  const dv = new DataView(backing.buffer, 3, 7);
  const u8 = backing.subarray(5, 18);
  const f64 = new Float64Array(new Float64Array([1, 2, 3, 4, 5]).buffer, 8, 3);
  const i16 = new Int16Array(backing.buffer, 2, 5);
  const out = roundTrip({ dv, u8, f64, i16 }) as {
    dv: DataView;
    u8: Uint8Array;
    f64: Float64Array;
    i16: Int16Array;
  };
  assert.equal(difference({ dv, u8, f64, i16 }, out), null);
  assert.equal(out.dv.byteLength, 7);
  assert.equal(out.dv.getUint8(0), 3);
  assert.deepEqual([...out.f64], [2, 3, 4]);
  assert.deepEqual([...out.u8], [...u8]);
  const frames = serialize({ dv, u8 });
  assert.equal(
    frames.buffers[0].byteLength,
    7,
    "only the viewed bytes are framed",
  );
  assert.equal(frames.buffers[1].byteLength, 13);
});

Deno.test("containers round-trip: arrays, objects, null-prototype objects, Map, Set", () => {
  const nullProto = objectFrom([["x", 1], ["y", [2]]], true);
  const v = {
    arr: [1, "two", [3, [4, []]], {}],
    obj: { "a b": 1, "": 2, "0": 3, nested: { deep: { deeper: null } } },
    nullProto,
    map: new Map<unknown, unknown>([
      ["k", 1],
      [1, "one"],
      [{ obj: "key" }, [1, 2]],
      [new Date(5), new Set([1])],
      [NaN, "nan"],
      [-0, "negzero"],
    ]),
    set: new Set<unknown>([1, "1", NaN, [1], new Map()]),
    emptyMap: new Map(),
    emptySet: new Set(),
  };
  assertRoundTrips(v);
  const out = roundTrip(v) as typeof v;
  assert.equal(Object.getPrototypeOf(out.nullProto), null);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.ok(out.map instanceof Map && out.set instanceof Set);
  assert.equal([...out.map.values()][5], "negzero"); // Map itself normalizes a -0 key to 0
});

Deno.test('"__proto__" keys round-trip as own properties and never set the prototype', () => {
  const v = objectFrom([["__proto__", { polluted: true }], ["a", 1]]);
  const out = roundTrip(v) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.ok(Object.hasOwn(out, "__proto__"));
  assert.deepEqual(Object.keys(out), ["__proto__", "a"]);
  assert.equal((out as { polluted?: boolean }).polluted, undefined);
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  assert.equal(difference(v, out), null);
  const np = roundTrip(objectFrom([["__proto__", 1]], true)) as Record<
    string,
    unknown
  >;
  assert.equal(Object.getPrototypeOf(np), null);
  assert.equal(Object.getOwnPropertyDescriptor(np, "__proto__")?.value, 1);
});

Deno.test("sparse array holes become undefined; extra array properties are dropped", () => {
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const out = roundTrip(sparse) as unknown[];
  assert.equal(out.length, 3);
  assert.ok(1 in out);
  assert.equal(out[1], undefined);
  const withProp = Object.assign([1], { extra: 2 });
  assert.deepEqual(roundTrip(withProp), [1]);
});

Deno.test("shared (non-cyclic) references are serialized twice, like JSON", () => {
  const shared = { x: [1, 2] };
  const out = roundTrip({ a: shared, b: shared, c: [shared] }) as Record<
    string,
    unknown
  >;
  assert.deepEqual(out, {
    a: { x: [1, 2] },
    b: { x: [1, 2] },
    c: [{ x: [1, 2] }],
  });
  assert.notEqual(out.a, out.b);
});

Deno.test("nested everything", () => {
  const v = new Map<unknown, unknown>([
    [
      "payload",
      {
        list: [
          new Float64Array([1, 2]),
          new Set([new BigInt64Array([5n])]),
          undefined,
          -0n,
        ],
        when: new Date(NaN),
        raw: new Uint8Array([1, 2, 3]).buffer,
      },
    ],
    [
      [1, 2],
      new Map([[new Set(["s"]), { "🔑": new DataView(new ArrayBuffer(4)) }]]),
    ],
  ]);
  assertRoundTrips(v);
});

function nest(
  depth: number,
  wrap: (inner: unknown, i: number) => unknown,
): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < depth; i++) v = wrap(v, i);
  return v;
}

Deno.test("100,000-deep nesting works both ways (arrays, objects, Maps, Sets mixed)", () => {
  const depth = 100_000;
  const v = nest(depth, (inner, i) => {
    switch (i % 4) {
      case 0:
        return [inner];
      case 1:
        return { k: inner };
      case 2:
        return new Map([["m", inner]]);
      default:
        return new Set([inner]);
    }
  });
  const frames = serialize(v);
  let out = deserialize(frames);
  for (let i = depth - 1; i >= 0; i--) {
    switch (i % 4) {
      case 0:
        assert.ok(Array.isArray(out) && out.length === 1);
        out = out[0];
        break;
      case 1:
        out = (out as { k: unknown }).k;
        break;
      case 2:
        assert.ok(out instanceof Map && out.size === 1);
        out = out.get("m");
        break;
      default:
        assert.ok(out instanceof Set && out.size === 1);
        out = [...out][0];
    }
  }
  assert.equal(out, "bottom");
  // also through bytes
  const arrays = nest(depth, (inner) => [inner]);
  let back = roundTrip(arrays);
  let d = 0;
  while (Array.isArray(back)) {
    back = back[0];
    d++;
  }
  assert.equal(d, depth);
  assert.equal(back, "bottom");
});

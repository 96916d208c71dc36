import { equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { sizeof } from "../../src/memory/sizeof.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

Deno.test("sizeof counts primitives as a small positive size", () => {
  for (const value of [null, undefined, true, false, 0, 1.5, NaN, -Infinity]) {
    const bytes = sizeof(value);
    ok(bytes >= 8 && bytes <= 16, `${String(value)}: ${bytes}`);
  }
});

Deno.test("sizeof counts a string as its length plus a header", () => {
  equal(sizeof("ab") - sizeof(""), 2);
  const text = "x".repeat(100_000);
  ok(sizeof(text) >= 100_000 && sizeof(text) <= 100_064);
});

Deno.test("sizeof counts a bigint by its digits", () => {
  ok(sizeof(0n) > 0);
  // One 64-bit digit up to 2^64 - 1, two from 2^64.
  equal(sizeof(2n ** 64n - 1n), sizeof(1n));
  equal(sizeof(2n ** 64n), sizeof(1n) + 8);
  ok(sizeof(2n ** 1024n) >= 1024 / 8);
  ok(sizeof(-(2n ** 1024n)) === sizeof(2n ** 1024n));
  ok(sizeof(2n ** 1024n) > sizeof(2n ** 64n));
});

Deno.test("sizeof of an array counts a slot per element plus the elements", () => {
  const empty = sizeof([]);
  ok(empty > 0);
  ok(sizeof([1, 2, 3]) >= empty + 3 * 8);
  const strings = ["a".repeat(1000), "b".repeat(1000)];
  ok(sizeof(strings) >= empty + 2000);
  // Holes count as slots, not as errors.
  const holey: number[] = [];
  holey[2] = 1;
  ok(sizeof(holey) >= empty + 3 * 8);
});

Deno.test("sizeof of a plain object counts keys and values", () => {
  const empty = sizeof({});
  ok(empty > 0);
  ok(sizeof({ a: 1 }) > empty);
  ok(sizeof({ longKeyName: 1 }) - sizeof({ k: 1 }) === 10);
  ok(sizeof({ text: "z".repeat(5000) }) >= 5000);
  ok(sizeof(Object.create(null)) === empty);
  const nullProto = Object.assign(Object.create(null), { s: "q".repeat(300) });
  ok(sizeof(nullProto) >= 300);
});

Deno.test("sizeof counts each property name once per walk", () => {
  // Records share their (interned) key strings; a dictionary holds its own.
  const record = () => ({ identifier: 1, description: 2 });
  const one = sizeof([record()]);
  const two = sizeof([record(), record()]);
  const perRecord = two - one;
  // A second record adds its own bytes and an array slot, but no key text.
  const keyText = 2 * 16 + "identifier".length + "description".length;
  equal(perRecord, sizeof(record()) - keyText + 8);
  const dictionary = Object.fromEntries(
    Array.from({ length: 100 }, (_, i) => [`key-${i}-${"k".repeat(100)}`, i]),
  );
  ok(sizeof(dictionary) >= 100 * 100);
});

Deno.test("sizeof of a Map and a Set counts entries, keys and values", () => {
  const emptyMap = sizeof(new Map());
  const emptySet = sizeof(new Set());
  ok(emptyMap > 0 && emptySet > 0);
  const map = new Map<unknown, unknown>([["k".repeat(100), "v".repeat(200)], [
    1,
    new Float64Array(100),
  ]]);
  ok(sizeof(map) >= emptyMap + 100 + 200 + 800);
  const set = new Set<unknown>(["s".repeat(400), new Uint8Array(1000), 7]);
  ok(sizeof(set) >= emptySet + 400 + 1000);
  // An object used as a key is walked like any other.
  ok(sizeof(new Map([[{ big: "b".repeat(1000) }, 1]])) >= 1000);
});

Deno.test("sizeof of a Date is a small fixed size", () => {
  const bytes = sizeof(new Date());
  ok(bytes > 0 && bytes <= 64);
  equal(sizeof(new Date(0)), bytes);
});

Deno.test("sizeof counts every typed array, DataView and buffer type", () => {
  const views = [
    new Int8Array(1000),
    new Uint8Array(1000),
    new Uint8ClampedArray(1000),
    new Int16Array(1000),
    new Uint16Array(1000),
    new Int32Array(1000),
    new Uint32Array(1000),
    new Float16Array(1000),
    new Float32Array(1000),
    new Float64Array(1000),
    new BigInt64Array(1000),
    new BigUint64Array(1000),
    new DataView(new ArrayBuffer(1000)),
  ];
  for (const view of views) {
    const bytes = sizeof(view);
    ok(
      bytes >= view.byteLength && bytes <= view.byteLength + 128,
      `${view.constructor.name}: ${bytes} for ${view.byteLength} bytes`,
    );
  }
  for (const buffer of [new ArrayBuffer(4096), new SharedArrayBuffer(4096)]) {
    const bytes = sizeof(buffer);
    ok(bytes >= 4096 && bytes <= 4096 + 128, `${buffer.constructor.name}`);
  }
});

Deno.test("sizeof of a view counts the bytes it views, not its whole buffer", () => {
  const whole = new Uint8Array(16 * MiB);
  const slice = whole.subarray(KiB, 2 * KiB);
  const bytes = sizeof(slice);
  ok(bytes >= KiB && bytes < 2 * KiB, `${bytes}`);
  ok(sizeof(new DataView(whole.buffer, 100, 50)) < 200);
});

Deno.test("sizeof counts bytes shared by several views of one buffer once", () => {
  const buffer = new ArrayBuffer(64 * KiB);
  const f64 = new Float64Array(buffer);
  const u8 = new Uint8Array(buffer);
  const alone = sizeof(f64);
  ok(sizeof([f64, u8]) < alone + 1024, "the same bytes through two views");
  ok(sizeof([f64, buffer]) < alone + 1024, "a view and its buffer");
  // Overlapping and disjoint ranges: [0, 300) ∪ [200, 500) ∪ [1000, 1100).
  const overlapping = [
    new Uint8Array(buffer, 0, 300),
    new Uint8Array(buffer, 200, 300),
    new Uint8Array(buffer, 1000, 100),
    new Uint8Array(buffer, 250, 10), // inside another range
  ];
  const payload = sizeof(overlapping) - sizeof([
    new Uint8Array(0),
    new Uint8Array(0),
    new Uint8Array(0),
    new Uint8Array(0),
  ]);
  equal(payload, 600);
  // Views of distinct buffers are counted separately.
  ok(sizeof([new Uint8Array(KiB), new Uint8Array(KiB)]) >= 2 * KiB);
});

Deno.test("sizeof counts a shared reference once", () => {
  const big = { text: "t".repeat(100_000) };
  const once = sizeof([big]);
  const twice = sizeof([big, big]);
  ok(twice - once <= 16, `${twice} vs ${once}`);
  const bytes = new Uint8Array(MiB);
  ok(sizeof({ a: bytes, b: bytes, c: [bytes] }) < 1.1 * MiB);
});

Deno.test("sizeof terminates on cycles", () => {
  const a: Record<string, unknown> = { payload: "p".repeat(1000) };
  const b: Record<string, unknown> = { a };
  a.b = b;
  a.self = a;
  ok(sizeof(a) >= 1000 && sizeof(a) < 2000);
  const list: unknown[] = [];
  list.push(list, list);
  ok(sizeof(list) > 0);
  const map = new Map<unknown, unknown>();
  map.set(map, map);
  const set = new Set<unknown>();
  set.add(set);
  ok(sizeof(map) > 0 && sizeof(set) > 0);
});

Deno.test("sizeof walks 100,000 levels of nesting without a stack overflow", () => {
  const depth = 100_000;
  let arrays: unknown = "leaf";
  let objects: unknown = "leaf";
  let maps: unknown = "leaf";
  let sets: unknown = "leaf";
  for (let i = 0; i < depth; i++) {
    arrays = [arrays];
    objects = { next: objects };
    maps = new Map([["next", maps]]);
    sets = new Set([sets]);
  }
  for (const nested of [arrays, objects, maps, sets]) {
    ok(sizeof(nested) >= depth * 16);
  }
});

Deno.test("sizeof of a 64 MiB Float64Array is at least its byteLength", () => {
  // No timing assertion: a walk over 8 M elements would make this test slow
  // enough to notice, and the implementation reads only byteLength.
  const huge = new Float64Array(8 * MiB);
  const bytes = sizeof(huge);
  ok(bytes >= huge.byteLength && bytes <= huge.byteLength + 128);
  ok(sizeof({ data: huge, copies: [huge, huge] }) < huge.byteLength + 1024);
});

Deno.test("sizeof counts unknown objects as a fixed overhead and never throws", () => {
  class Point {
    x = "x".repeat(10_000);
  }
  const opaque = [
    () => 1,
    function named() {},
    class {},
    new Point(),
    Symbol("s"),
    /regex/,
    new Error("e"),
    Promise.resolve(),
    new WeakMap(),
    new String("boxed"),
  ];
  for (const value of opaque) {
    const bytes = sizeof(value);
    ok(bytes > 0 && bytes <= 128, `${String(value)}: ${bytes}`);
  }
});

Deno.test("sizeof survives revoked proxies and throwing getters", () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  ok(sizeof(proxy) > 0);
  ok(sizeof([proxy, "a".repeat(100)]) >= 100);
  const throwing = {
    get boom(): never {
      throw new Error("boom");
    },
  };
  ok(sizeof(throwing) > 0);
  ok(sizeof({ inner: throwing, text: "b".repeat(100) }) >= 100);
});

Deno.test("sizeof never throws and is monotonic under wrapping (property)", () => {
  fc.assert(
    fc.property(
      fc.anything({
        withBigInt: true,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withObjectString: true,
        withSparseArray: true,
        withTypedArray: true,
      }),
      (value) => {
        const bytes = sizeof(value);
        ok(Number.isFinite(bytes) && bytes >= 8);
        ok(sizeof([value]) >= bytes);
        ok(sizeof({ key: value }) >= bytes);
        // A second reference to an object adds a slot, never a second copy.
        // (Equal strings are not deduplicated: they are values, not objects.)
        if (typeof value === "object" && value !== null) {
          equal(sizeof([value, value]), sizeof([value]) + 8);
        }
      },
    ),
  );
});

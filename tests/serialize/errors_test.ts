import assert from "node:assert/strict";
import { SerializationError, serialize } from "../../src/serialize/mod.ts";

function errorOf(value: unknown): SerializationError {
  try {
    serialize(value);
  } catch (e) {
    assert.ok(
      e instanceof SerializationError,
      `expected SerializationError, got ${e}`,
    );
    assert.equal(e.name, "SerializationError");
    assert.ok(
      e.message.includes(e.path),
      `message "${e.message}" names the path`,
    );
    return e;
  }
  assert.fail("serialize did not throw");
}

Deno.test("a function is reported with its exact path", () => {
  const e = errorOf({ items: [0, 1, 2, { fn: () => 1 }] });
  assert.equal(e.path, "value.items[3].fn");
  assert.match(e.message, /function/);
  assert.equal(errorOf(() => 1).path, "value");
  assert.equal(errorOf({ "a b": function named() {} }).path, 'value["a b"]');
  assert.equal(errorOf([[[class {}]]]).path, "value[0][0][0]");
});

Deno.test("symbols: as values and as keys", () => {
  assert.equal(errorOf(Symbol("x")).path, "value");
  const e = errorOf({ a: { b: [Symbol.iterator] } });
  assert.equal(e.path, "value.a.b[0]");
  assert.match(e.message, /symbol/);
  const k = errorOf({ outer: { [Symbol("secret")]: 1, fine: 2 } });
  assert.equal(k.path, "value.outer[Symbol(secret)]");
  assert.match(k.message, /symbol-keyed property/);
  // non-enumerable symbol keys are ignored, like non-enumerable string keys
  const o = {};
  Object.defineProperty(o, Symbol("hidden"), { value: 1, enumerable: false });
  serialize(o);
});

Deno.test("class instances and unsupported built-ins name their class and path", () => {
  class Point {
    x = 1;
  }
  const p = errorOf({ shapes: [{ at: new Point() }] });
  assert.equal(p.path, "value.shapes[0].at");
  assert.match(p.message, /Point/);
  class MyMap extends Map {}
  assert.match(errorOf({ m: new MyMap() }).message, /MyMap/);
  class MyArray extends Float64Array {}
  assert.equal(errorOf([1, new MyArray(2)]).path, "value[1]");
  for (
    const [v, name] of [
      [new WeakMap(), "WeakMap"],
      [new WeakSet(), "WeakSet"],
      [Promise.resolve(1), "Promise"],
      [new Error("boom"), "Error"],
      [new TypeError("boom"), "TypeError"],
      [/re/, "RegExp"],
      [new Number(1), "Number"],
      [new String("s"), "String"],
      [new SharedArrayBuffer(8), "SharedArrayBuffer"],
    ] as const
  ) {
    const e = errorOf({ x: v });
    assert.equal(e.path, "value.x");
    assert.match(e.message, new RegExp(name));
  }
});

Deno.test("Map and Set paths", () => {
  assert.equal(
    errorOf(new Map([["k", { fn: () => 1 }]])).path,
    'value<Map value for key "k">.fn',
  );
  assert.equal(
    errorOf(new Map([[7, () => 1]])).path,
    "value<Map value for key 7>",
  );
  assert.equal(
    errorOf(new Map<unknown, unknown>([[1, 1], [{ o: 1 }, () => 1]])).path,
    "value<Map value for entry #1>",
  );
  assert.equal(
    errorOf(new Map<unknown, unknown>([["a", 1], [() => 1, 2]])).path,
    "value<Map key #1>",
  );
  assert.equal(errorOf(new Set([1, 2, () => 3])).path, "value<Set item 2>");
  assert.equal(
    errorOf({ s: new Set([[1, new Map([["deep", [Symbol()]]])]]) }).path,
    'value.s<Set item 0>[1]<Map value for key "deep">[0]',
  );
});

Deno.test("cycles are detected at depth, with both ends named", () => {
  const root: Record<string, unknown> = { a: { b: [1, {}] } };
  const inner = (root.a as { b: Record<string, unknown>[] }).b[1];
  inner.back = root.a;
  const e = errorOf(root);
  assert.equal(e.path, "value.a.b[1].back");
  assert.match(e.message, /cyclic/);
  assert.match(e.message, /refers back to value\.a\b/);

  const self: unknown[] = [];
  self.push(self);
  assert.equal(errorOf(self).path, "value[0]");

  const m = new Map<string, unknown>();
  m.set("me", [m]);
  assert.equal(errorOf(m).path, 'value<Map value for key "me">[0]');

  const s = new Set<unknown>();
  s.add(s);
  assert.equal(errorOf(s).path, "value<Set item 0>");

  // a cycle far down a deep chain
  const top: Record<string, unknown> = {};
  let cur = top;
  for (let i = 0; i < 1000; i++) {
    const next = {};
    cur.n = next;
    cur = next;
  }
  cur.loop = top;
  const deep = errorOf(top);
  assert.equal(deep.path, "value" + ".n".repeat(1000) + ".loop");
  assert.match(deep.message, /\(it refers back to value\)$/);
});

Deno.test("a function 100,000 levels deep is found with the full path", () => {
  let v: unknown = () => 1;
  for (let i = 0; i < 100_000; i++) v = [v];
  const e = errorOf(v);
  assert.equal(e.path, "value" + "[0]".repeat(100_000));
});

Deno.test("detached buffers are rejected", () => {
  const ab = new ArrayBuffer(8);
  const view = new Float64Array(ab);
  structuredClone(ab, { transfer: [ab] });
  assert.equal(errorOf({ ab }).path, "value.ab");
  assert.match(errorOf([view]).message, /detached/);
});

Deno.test("shared references that are not cycles are fine", () => {
  const shared = [1];
  serialize([shared, shared, { a: shared, b: new Map([[shared, shared]]) }]);
});

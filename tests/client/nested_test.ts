/** Futures inside arguments, on the client: the walk, the marks, the check at submission. */
import assert from "node:assert/strict";
import { Future, type FutureOwner } from "../../src/client/future.ts";
import {
  callName,
  checkedTaskArgs,
  futuresIn,
  replaceFutures,
  taskArg,
} from "../../src/client/nested.ts";
import { FUTURE_MARK } from "../../src/protocol/task.ts";
import { SerializationError } from "../../src/serialize/serialize.ts";

const owner: FutureOwner = {
  resultOf: () => Promise.resolve(undefined),
  releaseKey: () => {},
};
const a = new Future<number>("a", owner);
const b = new Future<number>("b", owner);
const mark = (key: string) => ({ [FUTURE_MARK]: key });

Deno.test("a top-level future is a key, a value without futures is passed as it is", () => {
  assert.deepEqual(taskArg(a), { key: "a" });
  const value = { xs: [1, 2], m: new Map([["k", new Float64Array(2)]]) };
  const arg = taskArg(value);
  assert.ok("value" in arg && arg.value === value);
  assert.ok(!("keys" in arg));
});

Deno.test("futures in arrays, objects, Map keys and values and Sets become marks; keys listed once", () => {
  const bytes = new Uint8Array([1]);
  const bare = Object.create(null) as Record<string, unknown>;
  bare.f = b;
  const value = {
    list: [a, [b, [a]]],
    map: new Map<unknown, unknown>([[a, "key"], ["v", b]]),
    set: new Set<unknown>([b, 1]),
    bare,
    bytes,
  };
  const arg = taskArg(value);
  assert.ok("keys" in arg);
  assert.deepEqual(arg.keys, ["a", "b"]);
  const expectedBare = Object.create(null) as Record<string, unknown>;
  expectedBare.f = mark("b");
  assert.deepEqual(arg.value, {
    list: [mark("a"), [mark("b"), [mark("a")]]],
    map: new Map<unknown, unknown>([[mark("a"), "key"], ["v", mark("b")]]),
    set: new Set<unknown>([mark("b"), 1]),
    bare: expectedBare,
    bytes,
  });
  // The typed array is passed, not copied; the argument is left as it was.
  assert.equal((arg.value as { bytes: Uint8Array }).bytes, bytes);
  assert.equal(value.list[0], a);
});

Deno.test("shared containers stay shared, holes stay holes, a __proto__ key stays a key", () => {
  const shared = [a];
  // deno-lint-ignore no-sparse-arrays
  const holes = [, a];
  const proto = JSON.parse('{"__proto__": 1}');
  const out = replaceFutures(
    { x: shared, y: shared, holes, proto },
    (f) => f.key,
  ) as {
    x: unknown[];
    y: unknown[];
    holes: unknown[];
    proto: Record<string, unknown>;
  };
  assert.equal(out.x, out.y);
  assert.deepEqual(out.x, ["a"]);
  assert.ok(!(0 in out.holes));
  assert.equal(out.holes[1], "a");
  assert.equal(Object.getPrototypeOf(out.proto), Object.prototype);
  assert.ok(Object.hasOwn(out.proto, "__proto__"));
});

Deno.test("a future 100,000 levels deep is found without overflowing the stack", () => {
  let deep: unknown = [a];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.deepEqual(futuresIn(deep), [a]);
  const args = checkedTaskArgs([deep], "ops.echo");
  assert.ok("keys" in args[0]);
  assert.deepEqual(args[0].keys, ["a"]);
});

Deno.test("a bad argument throws a SerializationError naming it from 1", () => {
  const cases: [unknown[], RegExp][] = [
    [
      [1, { items: [0, 1, 2, () => 3] }],
      /^argument 2 of ops\.sum: value\.items\[3\] is a function$/,
    ],
    [[Symbol("s")], /^argument 1 of ops\.sum: value is a symbol$/],
    [
      [a, new (class Point {})()],
      /^argument 2 of ops\.sum: value is a Point instance/,
    ],
    [
      [[a, new Map([["k", () => 0]])]],
      /^argument 1 of ops\.sum: value\[1\]<Map value for key "k"> is a function$/,
    ],
    [[() => 0], /^argument 1 of ops\.sum: value is a function$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => checkedTaskArgs(args, "ops.sum"), (e: unknown) => {
      assert.ok(e instanceof SerializationError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
  const cyclic: Record<string, unknown> = { f: a };
  cyclic.me = cyclic;
  assert.throws(
    () => checkedTaskArgs([cyclic], "ops.sum"),
    /^SerializationError: argument 1 of ops\.sum: value\.me is a cyclic reference \(it refers back to value\)/,
  );
  // A future inside a class instance is not looked for: the instance is refused.
  assert.throws(
    () =>
      checkedTaskArgs([
        new Map([[
          1,
          new (class Box {
            f = a;
          })(),
        ]]),
      ], "ops.sum"),
    /argument 1 of ops\.sum: value<Map value for key 1> is a Box instance/,
  );
  assert.deepEqual(
    checkedTaskArgs([1, "s", null, undefined, 2n, a], "ops.sum"),
    [
      { value: 1 },
      { value: "s" },
      { value: null },
      { value: undefined },
      { value: 2n },
      { key: "a" },
    ],
  );
});

Deno.test("a call is named after the module's file and the export", () => {
  assert.equal(callName("file:///srv/ops.ts", "sum"), "ops.sum");
  assert.equal(
    callName("https://example.com/lib/math.min.js", "max"),
    "math.max",
  );
});

Deno.test("a plain object using the futures' reserved property name is refused beside futures, never taken for one", () => {
  const forged = { [FUTURE_MARK]: "someone-elses-key" };
  assert.throws(
    () => checkedTaskArgs([[a, forged]], "ops.sum"),
    (e: unknown) =>
      e instanceof SerializationError &&
      /^argument 1 of ops\.sum: an object with the property name/.test(
        e.message,
      ),
  );
});

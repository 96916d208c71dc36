/** Nested arguments on the worker: the keys they need, and the values put in their places. */
import assert from "node:assert/strict";
import { FUTURE_MARK, type TaskArg } from "../../src/protocol/task.ts";
import {
  argumentKeys,
  fillNested,
  isNestedArg,
  nestedKeys,
} from "../../src/worker/nested_args.ts";

const mark = (key: string) => ({ [FUTURE_MARK]: key });

Deno.test("the keys of top-level and nested futures, each once, in order", () => {
  const args: TaskArg[] = [
    { key: "a" },
    { value: [1, 2] },
    { value: [mark("b"), mark("a")], keys: ["b", "a"] },
  ];
  assert.deepEqual(argumentKeys(args), ["a", "b"]);
  assert.deepEqual([...nestedKeys(args)], ["b", "a"]);
  assert.deepEqual(args.map(isNestedArg), [false, false, true]);
});

Deno.test("each mark is replaced by its key's value, in every kind of container; the message is left as it was", () => {
  const chunk = new Float64Array([1, 2]);
  const values = new Map<string, unknown>([["a", chunk], ["b", 7]]);
  const bare = Object.create(null) as Record<string, unknown>;
  bare.x = mark("b");
  const value = {
    list: [mark("a"), [mark("b")], "s"],
    map: new Map<unknown, unknown>([[mark("b"), "seven"], ["k", mark("a")]]),
    set: new Set<unknown>([mark("b"), 1]),
    bare,
    notAMark: { [FUTURE_MARK]: "a", other: 1 },
  };
  const filled = fillNested(value, (key) => values.get(key)) as typeof value;
  const expectedBare = Object.create(null) as Record<string, unknown>;
  expectedBare.x = 7;
  assert.deepEqual(filled, {
    list: [chunk, [7], "s"],
    map: new Map<unknown, unknown>([[7, "seven"], ["k", chunk]]),
    set: new Set<unknown>([7, 1]),
    bare: expectedBare,
    notAMark: { [FUTURE_MARK]: "a", other: 1 },
  });
  assert.equal(filled.list[0], chunk); // the store's value, not a copy
  assert.deepEqual(value.list[0], mark("a"));
  assert.deepEqual(value.map.get("k"), mark("a"));
  assert.deepEqual(bare.x, mark("b"));
  // A mark at the top, and values without marks.
  assert.equal(fillNested(mark("b"), (key) => values.get(key)), 7);
  assert.equal(fillNested(3, () => assert.fail("no key")), 3);
});

Deno.test("shared containers stay shared and a deep value does not overflow the stack", () => {
  const shared = [mark("a")];
  const out = fillNested({ x: shared, y: shared }, () => 1) as {
    x: unknown[];
    y: unknown[];
  };
  assert.equal(out.x, out.y);
  assert.deepEqual(out.x, [1]);
  let deep: unknown = [mark("a")];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  let back = fillNested(deep, () => 5);
  for (let i = 0; i < 100_000; i++) back = (back as unknown[])[0];
  assert.deepEqual(back, [5]);
});

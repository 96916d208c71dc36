import { deepEqual, equal, ok } from "node:assert/strict";
import { dependencyKeys, TaskGraph } from "../../src/scheduler/task_graph.ts";
import { task } from "./_helpers.ts";

Deno.test("dependencyKeys: keys only, deduplicated, in order", () => {
  deepEqual(
    dependencyKeys([{ key: "b" }, { value: { key: "not-a-dep" } }, {
      key: "a",
    }, { key: "b" }]),
    ["b", "a"],
  );
});

Deno.test("addSpecs links edges in any order and keeps the first spec", () => {
  const graph = new TaskGraph();
  const fresh = graph.addSpecs([
    task("c", "a", "b"),
    task("a"),
    task("b", "a"),
  ]);
  deepEqual(fresh.map((r) => r.key), ["c", "a", "b"]);
  const [a, b, c] = ["a", "b", "c"].map((k) => graph.get(k)!);
  deepEqual(c.deps, [a, b]);
  deepEqual([...a.dependents], [c, b]);
  equal(c.state, "released");
  // Known keys are reused: no new record, the first spec stays.
  const again = graph.addSpecs([{ ...task("a"), exportName: "other" }]);
  deepEqual(again, []);
  equal(graph.get("a")!.spec!.exportName, "f");
});

Deno.test("addSpecs: unknown dependency makes the task invalid, unlinked", () => {
  const graph = new TaskGraph();
  graph.addSpecs([task("a")]);
  const [b, c] = graph.addSpecs([task("b", "a", "missing"), task("c", "b")]);
  equal(b.invalid?.name, "UnknownDependency");
  ok(b.invalid!.message.includes("missing"));
  deepEqual(b.deps, []);
  equal(graph.get("a")!.dependents.size, 0);
  equal(c.invalid, null); // c inherits the failure when it runs
  deepEqual(c.deps, [b]);
});

Deno.test("addSpecs: a cycle and what hangs below it are invalid", () => {
  const graph = new TaskGraph();
  const records = graph.addSpecs([
    task("x", "y"),
    task("y", "x"),
    task("below", "x"),
    task("self", "self"),
    task("fine"),
    task("uses-fine", "fine"),
  ]);
  const invalid = records.filter((r) => r.invalid !== null).map((r) => r.key);
  deepEqual(invalid.sort(), ["below", "self", "x", "y"]);
  equal(graph.get("x")!.invalid!.name, "CyclicDependency");
  deepEqual(graph.get("uses-fine")!.deps, [graph.get("fine")]);
});

Deno.test("forgetIfUnused cascades to released inputs nothing else uses", () => {
  const graph = new TaskGraph();
  graph.addSpecs([task("a"), task("b", "a"), task("c", "b"), task("d", "a")]);
  graph.forgetIfUnused(graph.get("c")!);
  equal(graph.get("c"), undefined);
  equal(graph.get("b"), undefined);
  ok(graph.get("a")); // d still depends on it
  graph.forgetIfUnused(graph.get("d")!);
  equal(graph.size, 0);
});

Deno.test("forgetIfUnused keeps wanted or live records", () => {
  const graph = new TaskGraph();
  const [a, b] = graph.addSpecs([task("a"), task("b")]);
  a.wants = 1;
  b.state = "memory";
  graph.forgetIfUnused(a);
  graph.forgetIfUnused(b);
  equal(graph.size, 2);
});

/** Submitting graphs and running them: independent tasks, chains, diamonds. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.ts";
import {
  CheckedState,
  computes,
  done,
  erred,
  ofType,
  OPS,
  releases,
  task,
  worker,
} from "./_helpers.ts";

Deno.test("a task goes ready → processing → memory", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  const actions = s.submit([task("a")], ["a"]);
  deepEqual(actions, [{
    type: "compute",
    worker: "w1",
    key: "a",
    module: OPS,
    exportName: "f",
    args: [{ value: "a" }],
    who: {},
  }]);
  equal(s.taskState("a"), "processing");
  equal(s.workerOf("a"), "w1");
  deepEqual(s.taskFinished("w1", "a", 42), [
    { type: "task-done", key: "a", nbytes: 42 },
  ]);
  equal(s.taskState("a"), "memory");
  equal(s.workerOf("a"), undefined);
  deepEqual(s.whoHas("a"), ["w1"]);
  const snap = s.snapshot();
  equal(snap.tasks.memory, 1);
  deepEqual(snap.workers[0].keys, ["a"]);
  equal(snap.workers[0].heldBytes, 42);
});

Deno.test("without workers ready tasks queue; a new worker takes them", () => {
  const s = new CheckedState();
  deepEqual(s.submit([task("a"), task("b")], ["a", "b"]), []);
  equal(s.taskState("a"), "ready");
  equal(s.snapshot().queued, 2);
  deepEqual(computes(s.addWorker(worker("w1", { nthreads: 1 }))), [
    "w1:a",
    "w1:b",
  ]);
  equal(s.snapshot().queued, 0);
});

Deno.test("chain a → b → c runs in order and releases spent inputs", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  deepEqual(
    computes(s.submit([task("a"), task("b", "a"), task("c", "b")], ["c"])),
    ["w1:a"],
  );
  equal(s.taskState("b"), "waiting");
  equal(s.taskState("c"), "waiting");

  const afterA = s.taskFinished("w1", "a", 10);
  deepEqual(done(afterA), []); // nobody wants a itself
  const [computeB] = ofType(afterA, "compute");
  equal(computeB.key, "b");
  deepEqual(computeB.who, { a: ["w1"] });
  deepEqual(computeB.args, [{ key: "a" }, { value: "b" }]);

  const afterB = s.taskFinished("w1", "b", 10);
  deepEqual(releases(afterB), ["w1:a"]); // a's only dependent is done
  deepEqual(computes(afterB), ["w1:c"]);

  const afterC = s.taskFinished("w1", "c", 10);
  deepEqual(done(afterC), ["c"]);
  deepEqual(releases(afterC), ["w1:b"]);
  // Released but remembered: c could be lost and need them again.
  equal(s.taskState("a"), "released");
  equal(s.taskState("b"), "released");
  deepEqual(s.whoHas("a"), []);
  deepEqual(s.snapshot().workers[0].keys, ["c"]);
});

Deno.test("diamond: both branches run, the root is released after both", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  const graph = [
    task("a"),
    task("b", "a"),
    task("c", "a"),
    task("d", "b", "c"),
  ];
  deepEqual(computes(s.submit(graph, ["d"])), ["w1:a"]);
  // b and c both hold 0 bytes elsewhere: b goes to w1 (holds a), and so does
  // c while w1 has room (two tasks per thread).
  deepEqual(computes(s.taskFinished("w1", "a", 100)), ["w1:b", "w1:c"]);
  deepEqual(releases(s.taskFinished("w1", "b", 5)), []); // c still needs a
  const afterC = s.taskFinished("w1", "c", 5);
  deepEqual(releases(afterC), ["w1:a"]);
  const [computeD] = ofType(afterC, "compute");
  deepEqual(computeD.who, { b: ["w1"], c: ["w1"] });
  const afterD = s.taskFinished("w1", "d", 1);
  deepEqual(done(afterD), ["d"]);
  deepEqual(releases(afterD).sort(), ["w1:b", "w1:c"]); // one action for both
  equal(ofType(afterD, "release").length, 1);
});

Deno.test("a known key is reused, whatever the new spec; wants add up", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  const again = s.submit([{ ...task("a"), exportName: "different" }], ["a"]);
  deepEqual(again, [{ type: "task-done", key: "a", nbytes: 8 }]);
  // Re-submitting while it is still processing reuses it too.
  s.submit([task("b")], ["b"]);
  deepEqual(s.submit([task("b")], ["b"]), []);
  equal(s.workerOf("b"), "w1");
  // Two futures of a: the first release keeps it.
  deepEqual(s.release(["a"]), []);
  equal(s.taskState("a"), "memory");
  deepEqual(releases(s.release(["a"])), ["w1:a"]);
});

Deno.test("a key listed twice in one submit is wanted twice, announced once", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 1);
  deepEqual(done(s.submit([], ["a", "a"])), ["a"]);
  s.release(["a", "a"]);
  equal(s.taskState("a"), "memory"); // the first want remains
});

Deno.test("tasks nobody wants or needs are dropped at submit", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  deepEqual(s.submit([task("a"), task("b", "a")], []), []);
  equal(s.taskState("a"), undefined);
  equal(s.taskState("b"), undefined);
  deepEqual(s.snapshot().tasks, {
    waiting: 0,
    ready: 0,
    processing: 0,
    memory: 0,
    erred: 0,
    released: 0,
  });
});

Deno.test("a dependency on an unknown key fails with a clear error", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  const actions = s.submit([task("b", "ghost"), task("c", "b")], ["b", "c"]);
  deepEqual(computes(actions), []);
  const [errB, errC] = ofType(actions, "task-erred");
  equal(errB.key, "b");
  equal(errB.error.name, "UnknownDependency");
  equal(errB.error.key, "b");
  ok(errB.error.message.includes("ghost"), errB.error.message);
  equal(errC.key, "c");
  equal(errC.error.message, `dependency failed: b: ${errB.error.message}`);
  equal(s.taskState("c"), "erred");
  deepEqual(s.errorOf("c"), errC.error);
});

Deno.test("a dependency cycle fails instead of waiting forever", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  const actions = s.submit([task("x", "y"), task("y", "x")], ["x"]);
  deepEqual(erred(actions), ["x"]);
  equal(ofType(actions, "task-erred")[0].error.name, "CyclicDependency");
});

Deno.test("a wanted key that is not known fails with UnknownKey", () => {
  const s = new CheckedState();
  const [action] = ofType(s.submit([], ["nope"]), "task-erred");
  equal(action.key, "nope");
  equal(action.error.name, "UnknownKey");
  deepEqual(s.release(["nope"]), []); // no want was counted
});

Deno.test("a task on an already-erred dependency fails at once", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.taskErred("w1", "a", { name: "RangeError", message: "bad", stack: "st" });
  const actions = s.submit([task("b", "a")], ["b"]);
  deepEqual(computes(actions), []);
  deepEqual(ofType(actions, "task-erred"), [{
    type: "task-erred",
    key: "b",
    error: {
      name: "RangeError",
      message: "dependency failed: a: bad",
      stack: "st",
      key: "a",
    },
  }]);
  // Wanting the erred key again announces its error.
  deepEqual(erred(s.submit([], ["a"])), ["a"]);
});

Deno.test("a long chain (20,000 links) activates and fails without recursion", () => {
  // Not a CheckedState: validating after each call would be quadratic here.
  const s = new SchedulerState();
  const specs = [task("k0")];
  for (let i = 1; i < 20_000; i++) specs.push(task(`k${i}`, `k${i - 1}`));
  s.submit(specs, ["k19999"]); // no worker yet: k0 is ready, the rest wait
  equal(s.taskState("k0"), "ready");
  equal(s.taskState("k19999"), "waiting");
  s.addWorker(worker("w1"));
  const actions = s.taskErred("w1", "k0", { name: "Error", message: "x" });
  deepEqual(erred(actions), ["k19999"]); // only the wanted key is announced
  equal(s.errorOf("k19999")?.message, "dependency failed: k0: x");
  // Unwanted failures stay erred while the wanted key's failure stands.
  equal(s.taskState("k12345"), "erred");
  s.validate();
  s.release(["k19999"]);
  equal(s.snapshot().tasks.erred, 0); // the whole chain is forgotten
  equal(s.snapshot().tasks.released, 0);
  s.validate();
});

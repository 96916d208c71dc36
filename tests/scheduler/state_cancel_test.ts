/** Cancelling keys: queued, waiting, processing and in memory. */
import { deepEqual, equal } from "node:assert/strict";
import {
  CheckedState,
  computes,
  erred,
  ofType,
  releases,
  task,
  worker,
} from "./_helpers.ts";

const cancelled = (key: string) => ({
  name: "CancelledError",
  message: `task ${key} was cancelled`,
  key,
});

Deno.test("cancel: a queued task is dropped and never placed", () => {
  const s = new CheckedState({ tasksPerThread: 1 });
  s.addWorker(worker("w1"));
  deepEqual(computes(s.submit([task("a"), task("b")], ["a", "b"])), [
    "w1:a",
  ]);
  equal(s.taskState("b"), "ready");
  const actions = s.cancel(["b"]);
  deepEqual(actions, [{ type: "task-erred", key: "b", error: cancelled("b") }]);
  equal(s.taskState("b"), "erred");
  // The worker's slot frees: b is not run.
  deepEqual(computes(s.taskFinished("w1", "a", 8)), []);
  // Erred while wanted; forgotten once released.
  s.release(["b"]);
  equal(s.taskState("b"), undefined);
});

Deno.test("cancel: a processing task is cancelled on its worker, whose slot goes to the next task", () => {
  const s = new CheckedState({ tasksPerThread: 1 });
  s.addWorker(worker("w1"));
  s.submit([task("x"), task("a", "x")], ["a"]);
  s.taskFinished("w1", "x", 8);
  equal(s.taskState("a"), "processing");
  s.submit([task("b")], ["b"]);
  equal(s.taskState("b"), "ready"); // w1 is full
  const actions = s.cancel(["a"]);
  deepEqual(ofType(actions, "cancel"), [
    { type: "cancel", worker: "w1", key: "a" },
  ]);
  deepEqual(erred(actions), ["a"]);
  // x was needed only by a: released.
  deepEqual(releases(actions), ["w1:x"]);
  deepEqual(computes(actions), ["w1:b"]);
  equal(s.taskState("x"), "released"); // remembered: a depends on it
  // A late result of the cancelled run is stale: released on the worker.
  deepEqual(releases(s.taskFinished("w1", "a", 8)), ["w1:a"]);
  equal(s.taskState("a"), "erred");
});

Deno.test("cancel: dependents fail with the inherited CancelledError; inputs only it needed are released", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1", { nthreads: 2 }));
  s.addWorker(worker("w2"));
  // a (processing) → b (waiting) → c (waiting); d needs a and another input.
  s.submit([
    task("a"),
    task("b", "a"),
    task("c", "b"),
    task("e"),
    task("d", "a", "e"),
  ], ["c", "d", "e"]);
  s.taskFinished(s.workerOf("e")!, "e", 8);
  const actions = s.cancel(["b"]);
  deepEqual(erred(actions), ["c"]); // b itself is not wanted
  equal(s.taskState("b"), "erred"); // kept for its erred dependent
  deepEqual(s.errorOf("c"), {
    name: "CancelledError",
    message: "dependency failed: b: task b was cancelled",
    key: "b",
  });
  // a is still needed by d.
  equal(s.taskState("a"), "processing");
  equal(s.taskState("d"), "waiting");
  s.release(["c"]);
  equal(s.taskState("b"), undefined);
  equal(s.taskState("c"), undefined);
});

Deno.test("cancel: a key in memory is released on its holders; its running and waiting dependents fail", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a"), task("b", "a"), task("z"), task("c", "b", "z")], [
    "a",
    "c",
  ]);
  s.taskFinished(s.workerOf("a")!, "a", 8);
  const runningB = s.workerOf("b")!;
  equal(s.taskState("b"), "processing");
  equal(s.taskState("c"), "waiting");
  const actions = s.cancel(["a"]);
  deepEqual(ofType(actions, "cancel"), [
    { type: "cancel", worker: runningB, key: "b" },
  ]);
  deepEqual(erred(actions).sort(), ["a", "c"]);
  deepEqual(s.errorOf("a"), cancelled("a"));
  equal(s.errorOf("c")?.name, "CancelledError");
  equal(s.errorOf("c")?.key, "a");
  deepEqual(s.whoHas("a"), []);
  deepEqual(releases(actions).filter((r) => r.endsWith(":a")).length, 1);
  // z, waited for only by c, is left to finish and released when it reports.
  const zOn = s.workerOf("z")!;
  deepEqual(releases(s.taskFinished(zOn, "z", 8)), [`${zOn}:z`]);
});

Deno.test("cancel: a new dependent of a cancelled key fails at once; a re-submitted key runs again once forgotten", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.cancel(["a"]);
  const actions = s.submit([task("b", "a")], ["b"]);
  deepEqual(computes(actions), []);
  deepEqual(erred(actions), ["b"]);
  equal(s.errorOf("b")?.name, "CancelledError");
  s.release(["a", "b"]);
  equal(s.taskState("a"), undefined);
  deepEqual(computes(s.submit([task("a")], ["a"])), ["w1:a"]);
});

Deno.test("cancel: unknown, erred and released keys are left alone", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  deepEqual(s.cancel(["nope"]), []);
  s.submit([task("a"), task("b", "a")], ["b"]);
  s.taskErred("w1", "a", { name: "Error", message: "boom" });
  const before = s.errorOf("b");
  deepEqual(s.cancel(["a", "b"]), []);
  deepEqual(s.errorOf("b"), before);
});

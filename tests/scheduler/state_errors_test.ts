/** Failed tasks, inherited failures, and reports that arrive too late. */
import { deepEqual, equal } from "node:assert/strict";
import {
  CheckedState,
  computes,
  done,
  erred,
  ofType,
  releases,
  task,
  worker,
} from "./_helpers.ts";

const boom = {
  name: "RangeError",
  message: "boom",
  stack: "RangeError: boom\n    at f (file:///ops.ts:1:7)",
};

Deno.test("a failure reaches every dependent with the failing key named", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([
    task("a"),
    task("b", "a"),
    task("c", "b"),
    task("d", "a", "c"),
  ], ["b", "c", "d"]);
  const actions = s.taskErred("w1", "a", boom);
  deepEqual(computes(actions), []);
  deepEqual(erred(actions).sort(), ["b", "c", "d"]); // a itself is not wanted
  for (const key of ["b", "c", "d"]) {
    deepEqual(s.errorOf(key), {
      name: "RangeError",
      message: "dependency failed: a: boom",
      stack: boom.stack,
      key: "a",
    });
    equal(s.taskState(key), "erred");
  }
  // Unwanted, but kept erred while its failed dependents are.
  equal(s.taskState("a"), "erred");
  s.release(["b", "c", "d"]);
  equal(s.taskState("a"), undefined);
  equal(s.snapshot().workers[0].processing.length, 0);
});

Deno.test("the failing task's own error is the remote one, with its key", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  deepEqual(s.taskErred("w1", "a", { ...boom, extra: 1 } as typeof boom), [{
    type: "task-erred",
    key: "a",
    error: { ...boom, key: "a" },
  }]);
  deepEqual(s.errorOf("a"), { ...boom, key: "a" });
});

Deno.test("a failure in the middle: upstream results are released", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addData("x", ["w1"], 8, { want: false }); // dropped at once: unneeded
  s.addData("x", ["w1"], 8);
  s.submit([task("a"), task("b", "a", "x"), task("c", "b")], ["c"]);
  s.release(["x"]); // only b needs x now
  s.taskFinished("w1", "a", 8);
  const actions = s.taskErred("w1", "b", { name: "Error", message: "no" });
  deepEqual(ofType(actions, "task-erred"), [{
    type: "task-erred",
    key: "c",
    error: { name: "Error", message: "dependency failed: b: no", key: "b" },
  }]);
  deepEqual(releases(actions).sort(), ["w1:a", "w1:x"]);
  // The worker keeps working: the next task is placed as usual.
  deepEqual(computes(s.submit([task("next")], ["next"])), ["w1:next"]);
});

Deno.test("stale: reports from unknown or removed workers change nothing", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  deepEqual(s.taskFinished("ghost", "a", 1), []);
  deepEqual(s.taskErred("ghost", "a", boom), []);
  s.removeWorker("w1");
  s.addWorker(worker("w2"));
  equal(s.workerOf("a"), "w2");
  deepEqual(s.taskFinished("w1", "a", 1), []);
  deepEqual(s.taskErred("w1", "a", boom), []);
  deepEqual(s.addReplica("a", "w1", 1), []);
  equal(s.taskState("a"), "processing");
  deepEqual(done(s.taskFinished("w2", "a", 1)), ["a"]);
});

Deno.test("stale: an input lost under a running task cancels it; its late result is released", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  s.updateWorker("w1", { status: "paused" });
  s.submit([task("b", "a")], ["b"]); // w1 paused: b runs on w2, fetching a
  equal(s.workerOf("b"), "w2");
  const actions = s.removeWorker("w1");
  // a is lost before w2 fetched it: b is cancelled, a is computed again.
  deepEqual(ofType(actions, "cancel"), [{
    type: "cancel",
    worker: "w2",
    key: "b",
  }]);
  deepEqual(computes(actions), ["w2:a"]);
  equal(s.taskState("b"), "waiting");
  // w2 had fetched a in time after all and reports b: stale, released there.
  deepEqual(releases(s.taskFinished("w2", "b", 1)), ["w2:b"]);
  equal(s.taskState("b"), "waiting");
  deepEqual(s.taskErred("w2", "b", boom), []);
  // Its failure report would be ignored just the same.
  equal(s.taskState("b"), "waiting");
  deepEqual(computes(s.taskFinished("w2", "a", 8)), ["w2:b"]);
});

Deno.test("stale: a late copy of a key in memory becomes a replica", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  deepEqual(s.taskFinished("w1", "a", 8), []); // duplicate report
  deepEqual(s.taskFinished("w2", "a", 8), []);
  deepEqual(s.whoHas("a"), ["w1", "w2"]);
});

Deno.test("stale: results and replicas of released or unknown keys are released", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  deepEqual(releases(s.taskFinished("w1", "never", 1)), ["w1:never"]);
  deepEqual(releases(s.addReplica("never", "w1", 1)), ["w1:never"]);
  s.submit([task("a")], ["a"]);
  s.release(["a"]); // processing: left to finish
  deepEqual(releases(s.taskFinished("w1", "a", 1)), ["w1:a"]);
  equal(s.taskState("a"), undefined);
  deepEqual(releases(s.taskFinished("w1", "a", 1)), ["w1:a"]);
});

/** Workers joining and leaving: lost keys, recomputation, killed workers. */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.ts";
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

Deno.test("a lost key still wanted is computed again on another worker", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  deepEqual(s.removeWorker("w1"), []);
  equal(s.taskState("a"), "ready");
  deepEqual(s.whoHas("a"), []);
  deepEqual(computes(s.addWorker(worker("w2"))), ["w2:a"]);
  deepEqual(done(s.taskFinished("w2", "a", 8)), ["a"]);
});

Deno.test("a key with a copy elsewhere is not lost", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  s.addReplica("a", "w2", 8);
  deepEqual(s.removeWorker("w1"), []);
  equal(s.taskState("a"), "memory");
  deepEqual(s.whoHas("a"), ["w2"]);
});

Deno.test("a lost result is rebuilt from inputs released long ago", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a"), task("b", "a"), task("c", "b")], ["c"]);
  s.taskFinished("w1", "a", 8); // b on w1
  s.updateWorker("w1", { status: "paused" });
  deepEqual(computes(s.taskFinished("w1", "b", 8)), ["w2:c"]);
  s.updateWorker("w1", { status: "running" });
  deepEqual(releases(s.taskFinished("w2", "c", 8)), ["w1:b"]);
  equal(s.taskState("a"), "released");
  equal(s.taskState("b"), "released");
  // c lived only on w2. Rebuilding it needs b, which needs a: both re-run.
  const actions = s.removeWorker("w2");
  deepEqual(computes(actions), ["w1:a"]);
  equal(s.taskState("b"), "waiting");
  equal(s.taskState("c"), "waiting");
  deepEqual(computes(s.taskFinished("w1", "a", 8)), ["w1:b"]);
  const afterB = s.taskFinished("w1", "b", 8);
  deepEqual(computes(afterB), ["w1:c"]);
  deepEqual(releases(afterB), ["w1:a"]);
  const afterC = s.taskFinished("w1", "c", 8);
  deepEqual(done(afterC), ["c"]);
  deepEqual(releases(afterC), ["w1:b"]);
});

Deno.test("a task running where its input was lost waits for the input again", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a")], ["b"]);
  s.taskFinished("w1", "a", 8); // b runs on w1, next to a
  const actions = s.removeWorker("w1");
  deepEqual(ofType(actions, "cancel"), []); // nobody to tell
  equal(s.taskState("b"), "waiting");
  equal(s.taskState("a"), "ready");
  deepEqual(computes(s.addWorker(worker("w2"))), ["w2:a"]);
  deepEqual(computes(s.taskFinished("w2", "a", 8)), ["w2:b"]);
});

Deno.test("tasks of a dead worker are placed elsewhere, one death counted", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2", { status: "paused" }));
  s.submit([task("a"), task("b")], ["a", "b"]);
  deepEqual(s.snapshot().workers[0].processing, ["a", "b"]);
  s.updateWorker("w2", { status: "running" });
  deepEqual(computes(s.removeWorker("w1")), ["w2:a", "w2:b"]);
  equal(s.snapshot().workers.length, 1);
});

Deno.test("a task whose workers keep dying fails with KilledWorker after 3", () => {
  const s = new CheckedState();
  s.submit([task("bomb"), task("after", "bomb")], ["bomb", "after"]);
  for (const id of ["w1", "w2"]) {
    s.addWorker(worker(id));
    equal(s.workerOf("bomb"), id);
    deepEqual(s.removeWorker(id), []);
    equal(s.taskState("bomb"), "ready");
  }
  s.addWorker(worker("w3"));
  const actions = s.removeWorker("w3");
  deepEqual(erred(actions), ["bomb", "after"]);
  const error = s.errorOf("bomb")!;
  equal(error.name, "KilledWorker");
  equal(error.key, "bomb");
  ok(error.message.includes("bomb") && error.message.includes("3"));
  deepEqual(s.errorOf("after"), {
    name: "KilledWorker",
    message: `dependency failed: bomb: ${error.message}`,
    key: "bomb",
  });
  // A fresh worker gets nothing: the task no longer loops.
  deepEqual(s.addWorker(worker("w4")), []);
});

Deno.test("allowedFailures is configurable; graceful removals do not count", () => {
  const s = new CheckedState({ allowedFailures: 1 });
  s.submit([task("t")], ["t"]);
  s.addWorker(worker("w1"));
  s.removeWorker("w1", { graceful: true });
  equal(s.taskState("t"), "ready");
  s.addWorker(worker("w2"));
  deepEqual(erred(s.removeWorker("w2")), ["t"]);
});

Deno.test("a dead worker's unwanted task is released, not re-run", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a")], ["b"]);
  s.taskFinished("w1", "a", 1);
  s.release(["b"]); // b processing: left to finish; a kept for it
  s.removeWorker("w1");
  equal(s.taskState("b"), undefined);
  equal(s.taskState("a"), undefined);
  deepEqual(s.addWorker(worker("w2")), []);
});

Deno.test("scattered data lost with its worker fails with LostData", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2", { status: "paused" }));
  s.addData("x", ["w1"], 8);
  s.submit([task("y", "x")], ["y"]);
  s.release(["x"]); // y still needs x
  const actions = s.removeWorker("w1");
  deepEqual(erred(actions), ["y"]);
  equal(s.errorOf("y")?.message.startsWith("dependency failed: x: "), true);
  equal(s.errorOf("y")?.name, "LostData");
  // Wanted scattered data that is lost is erred itself.
  s.updateWorker("w2", { status: "running" });
  s.addData("z", ["w2"], 8);
  deepEqual(erred(s.removeWorker("w2")), ["z"]);
  equal(s.errorOf("z")?.name, "LostData");
});

Deno.test("scattered data: broadcast copies, unknown holders, no holders", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  deepEqual(done(s.addData("x", ["w1", "w2", "gone", "w1"], 8)), ["x"]);
  deepEqual(s.whoHas("x"), ["w1", "w2"]);
  s.removeWorker("w1");
  equal(s.taskState("x"), "memory");
  deepEqual(erred(s.addData("nowhere", ["gone"], 8)), ["nowhere"]);
});

Deno.test("data added for a key being computed sets it and cancels the run", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a"), task("b", "a")], ["b"]);
  const actions = s.addData("a", ["w2"], 8, { want: false });
  deepEqual(ofType(actions, "cancel"), [{
    type: "cancel",
    worker: "w1",
    key: "a",
  }]);
  deepEqual(computes(actions), ["w2:b"]);
  // w1's late result of a is kept as a second copy.
  deepEqual(s.taskFinished("w1", "a", 8), []);
  deepEqual(s.whoHas("a"), ["w1", "w2"]);
});

Deno.test("re-registering a known worker id drops the old one's keys", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  deepEqual(computes(s.addWorker(worker("w1"))), ["w1:a"]);
  equal(s.taskState("a"), "processing");
});

Deno.test("removing or updating an unknown worker is a no-op", () => {
  const s = new CheckedState();
  deepEqual(s.removeWorker("nope"), []);
  deepEqual(s.updateWorker("nope", { status: "paused" }), []);
});

Deno.test("malformed workers and options are refused", () => {
  const s = new SchedulerState();
  throws(() => s.addWorker(worker("w", { nthreads: 0 })), RangeError);
  throws(() => s.addWorker(worker("w", { nthreads: 1.5 })), RangeError);
  throws(() => s.addWorker(worker("w", { memoryLimit: -1 })), RangeError);
  throws(() => s.addWorker({ ...worker("w"), id: "" }), TypeError);
  throws(() => s.addWorker({ ...worker("w"), host: "" }), TypeError);
  throws(() => new SchedulerState({ allowedFailures: 0 }), RangeError);
  throws(() => new SchedulerState({ tasksPerThread: 0.5 }), RangeError);
  equal(s.snapshot().workers.length, 0);
});

Deno.test("an unwanted task cancelled by a lost input is released, not rerun", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("a")], ["a"]);
  s.taskFinished("w1", "a", 8);
  s.updateWorker("w1", { status: "paused" });
  s.submit([task("b", "a")], ["b"]); // on w2, which fetches a from w1
  equal(s.workerOf("b"), "w2");
  s.release(["b", "a"]); // b is left to finish; a stays for it
  const actions = s.removeWorker("w1");
  // a is lost before w2 fetched it: b is cancelled there, and since nobody
  // wants b, neither it nor a is computed again.
  deepEqual(actions, [{ type: "cancel", worker: "w2", key: "b" }]);
  equal(s.taskState("b"), undefined);
  equal(s.taskState("a"), undefined);
});

Deno.test("a lost key whose input killed its workers fails instead of rerunning it", () => {
  const s = new CheckedState({ allowedFailures: 1 });
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2", { status: "paused" }));
  s.submit([task("a"), task("b", "a")], ["b"]);
  s.taskFinished("w1", "a", 8);
  s.taskFinished("w1", "b", 8); // b done on w1; a released
  s.submit([task("c", "a")], ["c"]); // a runs again on w1
  equal(s.workerOf("a"), "w1");
  s.updateWorker("w2", { status: "running" });
  // w1 dies running a (its first death: the limit here) and holding b.
  const actions = s.removeWorker("w1");
  deepEqual(computes(actions), []); // a is not run again for b
  deepEqual(erred(actions).sort(), ["b", "c"]);
  equal(s.taskState("a"), "erred"); // kept while b and c fail on it
  equal(s.errorOf("b")?.name, "KilledWorker");
  ok(s.errorOf("b")!.message.startsWith("dependency failed: a: "));
});

Deno.test("a task at its death limit never runs again while remembered", () => {
  const s = new CheckedState({ allowedFailures: 1 });
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a")], ["a", "b"]);
  s.taskFinished("w1", "a", 8);
  s.taskFinished("w1", "b", 8);
  s.addWorker(worker("w2"));
  s.addReplica("b", "w2", 8);
  deepEqual(computes(s.removeWorker("w1", { graceful: true })), ["w2:a"]);
  s.release(["a"]); // a is left to finish on w2; b (in memory) is wanted
  s.addWorker(worker("w3"));
  // w2 dies running a (nobody wants it: released, one death) and holding
  // b: rebuilding b needs a, which must not run a second time.
  const actions = s.removeWorker("w2");
  deepEqual(computes(actions), []);
  deepEqual(erred(actions), ["b"]);
  equal(s.errorOf("b")?.name, "KilledWorker");
  equal(s.errorOf("b")?.key, "a");
  equal(s.taskState("a"), "erred"); // kept while b fails on it
});

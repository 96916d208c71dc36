/** Where ready tasks go: input bytes, load, pause, the in-flight bound. */
import { deepEqual, equal } from "node:assert/strict";
import { CheckedState, computes, task, worker } from "./_helpers.ts";

Deno.test("a task goes to the worker holding the most bytes of its inputs", () => {
  const s = new CheckedState();
  for (const id of ["w1", "w2", "w3"]) s.addWorker(worker(id));
  s.addData("small", ["w1"], 10);
  s.addData("big", ["w2"], 1000);
  s.addData("mid", ["w3"], 500);
  s.addData("mid2", ["w3"], 501);
  deepEqual(computes(s.submit([task("t", "small", "big")], ["t"])), ["w2:t"]);
  // Bytes add up across inputs: 1001 on w3 beat 1000 on w2.
  deepEqual(computes(s.submit([task("u", "big", "mid", "mid2")], ["u"])), [
    "w3:u",
  ]);
});

Deno.test("with no input bytes anywhere, the least busy worker wins", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1", { nthreads: 2 }));
  s.addWorker(worker("w2", { nthreads: 1 }));
  // w1: 0/2, w2: 0/1 → w1 (id); then w1 1/2 < w2 0/1? no: 0 < 0.5 → w2;
  // then w1 1/2 < w2 1/1 → w1.
  deepEqual(
    computes(s.submit([task("a"), task("b"), task("c")], ["a", "b", "c"])),
    ["w1:a", "w2:b", "w1:c"],
  );
});

Deno.test("a paused worker gets nothing new; resuming places queued tasks", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.addData("x", ["w1"], 1000);
  s.updateWorker("w1", { status: "paused", managedBytes: 123 });
  equal(s.snapshot().workers[0].managedBytes, 123);
  // w1 holds the input but is paused: the task goes to w2.
  deepEqual(computes(s.submit([task("t", "x")], ["t"])), ["w2:t"]);
  s.updateWorker("w2", { status: "paused" });
  deepEqual(s.submit([task("u", "x")], ["u"]), []);
  equal(s.taskState("u"), "ready");
  // Pausing does not take running work away: w2 still finishes t.
  s.taskFinished("w2", "t", 1);
  equal(s.taskState("t"), "memory");
  equal(s.taskState("u"), "ready"); // w2 is paused: no new work on finish
  deepEqual(computes(s.updateWorker("w1", { status: "running" })), ["w1:u"]);
});

Deno.test("a worker starts paused if it registers so", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1", { status: "paused" }));
  deepEqual(s.submit([task("a")], ["a"]), []);
  deepEqual(computes(s.updateWorker("w1", { status: "running" })), ["w1:a"]);
});

Deno.test("at most nthreads × tasksPerThread in flight; the rest queue", () => {
  const s = new CheckedState({ tasksPerThread: 2 });
  s.addWorker(worker("w1", { nthreads: 2 }));
  const keys = Array.from({ length: 10 }, (_, i) => `t${i}`);
  const first = computes(s.submit(keys.map((k) => task(k)), keys));
  deepEqual(first, ["w1:t0", "w1:t1", "w1:t2", "w1:t3"]);
  equal(s.snapshot().queued, 6);
  // One finished, one more placed, in queue order.
  deepEqual(computes(s.taskFinished("w1", "t2", 1)), ["w1:t4"]);
  // A second worker takes its share of the queue at once.
  deepEqual(computes(s.addWorker(worker("w2", { nthreads: 1 }))), [
    "w2:t5",
    "w2:t6",
  ]);
  equal(s.snapshot().queued, 3);
});

Deno.test("a worker whose tasks are short gets more in flight, and fewer again when they lengthen", () => {
  const s = new CheckedState({ tasksPerThread: 2 });
  s.addWorker(worker("w1"));
  const keys = Array.from({ length: 200 }, (_, i) => `t${i}`);
  deepEqual(computes(s.submit(keys.map((k) => task(k)), keys)), [
    "w1:t0",
    "w1:t1",
  ]);
  // 1 ms tasks: enough for ~20 ms of work, 20 in flight.
  const more = computes(s.taskFinished("w1", "t0", 1, 0.001));
  equal(more.length, 20 - 1);
  // Long tasks: back to tasksPerThread once the average has moved; nothing
  // new is placed until the worker is under the limit again.
  let finished = 1;
  for (let i = 1; i <= 20; i++) {
    s.taskFinished("w1", `t${i}`, 1, 5);
    finished++;
  }
  equal(s.snapshot().workers[0].processing.length, 2);
  equal(s.snapshot().queued, 200 - finished - 2);
});

Deno.test("a saturated holder loses the task to a worker with room", () => {
  const s = new CheckedState({ tasksPerThread: 1 });
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.addData("x", ["w1"], 1000);
  s.submit([task("busy")], ["busy"]); // w1 (smallest id, both idle)
  equal(s.workerOf("busy"), "w1");
  // w1 holds x but is full: running now on w2 beats waiting for w1.
  deepEqual(computes(s.submit([task("t", "x")], ["t"])), ["w2:t"]);
});

Deno.test("sameHostIsLocal: a same-host neighbour counts as holding the input", () => {
  for (const sameHostIsLocal of [false, true]) {
    const s = new CheckedState({ placement: { sameHostIsLocal } });
    s.addWorker(worker("w1", { host: "H", nthreads: 2 }));
    s.addWorker(worker("w2", { host: "H", nthreads: 2 }));
    s.addWorker(worker("w3", { host: "G", nthreads: 2 }));
    s.addData("x", ["w1"], 1000);
    s.submit([task("busy")], ["busy"]); // w1: least busy, smallest id
    equal(s.workerOf("busy"), "w1");
    const [placed] = computes(s.submit([task("t", "x")], ["t"]));
    equal(placed, sameHostIsLocal ? "w2:t" : "w1:t");
  }
});

Deno.test("compute actions say where each input lives", () => {
  const s = new CheckedState();
  for (const id of ["w1", "w2", "w3"]) s.addWorker(worker(id));
  s.addData("x", ["w3", "w1"], 8);
  s.addData("y", ["w2"], 800);
  const [action] = s.submit([task("t", "x", "y")], ["t"]);
  deepEqual(action.type === "compute" && action.who, {
    x: ["w1", "w3"],
    y: ["w2"],
  });
});

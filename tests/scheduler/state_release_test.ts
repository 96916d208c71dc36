/** Wants and release cascades: a key lives while a client or a task needs it. */
import { deepEqual, equal } from "node:assert/strict";
import {
  CheckedState,
  computes,
  done,
  erred,
  gone,
  releases,
  task,
  worker,
} from "./_helpers.ts";

Deno.test("a key is kept while a client wants it, released once none does", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a")], ["a", "b"]);
  deepEqual(done(s.taskFinished("w1", "a", 1)), ["a"]);
  // b is done and a has no pending dependent, but a client still wants a.
  deepEqual(releases(s.taskFinished("w1", "b", 1)), []);
  equal(s.taskState("a"), "memory");
  deepEqual(releases(s.release(["a"])), ["w1:a"]);
  equal(s.taskState("a"), "released"); // kept as b's recipe
  deepEqual(releases(s.release(["b"])), ["w1:b"]);
  equal(s.taskState("a"), undefined); // b forgotten, then a
  equal(s.taskState("b"), undefined);
});

Deno.test("several futures of one key: released after the last", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a")], ["a"]);
  s.submit([], ["a"]);
  s.submit([], ["a"]);
  s.taskFinished("w1", "a", 1);
  deepEqual(s.release(["a", "a"]), []);
  deepEqual(releases(s.release(["a"])), ["w1:a"]);
  deepEqual(s.release(["a"]), []); // over-release: ignored
  deepEqual(s.release(["never-heard-of"]), []);
});

Deno.test("releasing a waiting task cascades to inputs nothing else needs", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a"), task("c", "b")], ["c"]);
  s.taskFinished("w1", "a", 1); // b processing, c waiting
  deepEqual(s.release(["c"]), []); // b is left to finish, so a stays
  equal(s.taskState("c"), undefined);
  equal(s.taskState("b"), "processing");
  equal(s.taskState("a"), "memory");
  const actions = s.taskFinished("w1", "b", 1);
  deepEqual(done(actions), []); // nobody watches b
  deepEqual(releases(actions).sort(), ["w1:a", "w1:b"]);
  deepEqual(computes(actions), []);
  equal(s.snapshot().tasks.released + s.snapshot().tasks.memory, 0);
});

Deno.test("a shared input stays while another dependent needs it", () => {
  const s = new CheckedState();
  s.submit([task("a"), task("b", "a"), task("c", "a")], ["b", "c"]);
  s.addWorker(worker("w1"));
  s.taskFinished("w1", "a", 1);
  deepEqual(s.release(["b"]), []); // b processing: left to finish
  deepEqual(releases(s.taskFinished("w1", "b", 1)), ["w1:b"]); // a: c needs it
  equal(s.taskState("a"), "memory");
  deepEqual(releases(s.taskFinished("w1", "c", 1)), ["w1:a"]);
});

Deno.test("releasing a queued ready task drops it from the queue", () => {
  const s = new CheckedState();
  s.submit([task("a"), task("b")], ["a", "b"]);
  s.release(["a"]);
  equal(s.taskState("a"), undefined);
  deepEqual(computes(s.addWorker(worker("w1"))), ["w1:b"]);
});

Deno.test("scattered inputs released by the client stay until a task used them", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.addData("x", ["w1"], 100);
  s.addData("y", ["w2"], 10);
  s.submit([task("z", "x", "y")], ["z"]);
  deepEqual(s.release(["x", "y"]), []); // z is processing and needs both
  deepEqual(s.whoHas("x"), ["w1"]);
  const actions = s.taskFinished("w1", "z", 1);
  deepEqual(done(actions), ["z"]);
  deepEqual(releases(actions).sort(), ["w1:x", "w2:y"]);
  equal(s.taskState("x"), "released"); // z's inputs, remembered
});

Deno.test("data added without a want and needed by nothing is released at once", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  const actions = s.addData("x", ["w1"], 8, { want: false });
  deepEqual(releases(actions), ["w1:x"]);
  equal(s.taskState("x"), undefined);
});

Deno.test("an erred key is kept while a failed dependent is, then forgotten", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([task("a"), task("b", "a")], ["a", "b"]);
  s.taskErred("w1", "a", { name: "Error", message: "boom" });
  equal(s.taskState("b"), "erred");
  s.release(["a"]);
  // Nobody wants a's error any more, but b's failure stands on it.
  equal(s.taskState("a"), "erred");
  equal(s.errorOf("b")?.message, "dependency failed: a: boom");
  // So a new task on a fails at once instead of running a again.
  deepEqual(erred(s.submit([task("c", "a")], ["c"])), ["c"]);
  s.release(["c"]);
  s.release(["b"]);
  equal(gone(s, "a") && gone(s, "b"), true);
  equal(s.taskState("a"), undefined);
  // Released means forgotten: submitting a again runs it again.
  deepEqual(computes(s.submit([task("a")], ["a"])), ["w1:a"]);
});

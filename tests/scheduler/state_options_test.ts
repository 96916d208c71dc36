/** Per-task options: retries and priority. */
import { deepEqual, equal } from "node:assert/strict";
import type { TaskSpec } from "../../src/protocol/mod.ts";
import { CheckedState, computes, erred, task, worker } from "./_helpers.ts";

const error = (n: number) => ({ name: "Error", message: `try ${n} failed` });

function withOptions(
  spec: TaskSpec,
  options: { retries?: number; priority?: number },
): TaskSpec {
  return { ...spec, ...options };
}

Deno.test("retries: a task that throws runs again until its retries are used; the last error is reported", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([withOptions(task("a"), { retries: 2 })], ["a"]);
  let actions = s.taskErred("w1", "a", error(1));
  deepEqual(computes(actions), ["w1:a"]);
  deepEqual(erred(actions), []);
  actions = s.taskErred("w1", "a", error(2));
  deepEqual(computes(actions), ["w1:a"]);
  deepEqual(erred(actions), []);
  actions = s.taskErred("w1", "a", error(3));
  deepEqual(computes(actions), []);
  deepEqual(erred(actions), ["a"]);
  deepEqual(s.errorOf("a"), { ...error(3), key: "a" });
});

Deno.test("retries: a retry succeeds; dependents run on", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([withOptions(task("a"), { retries: 1 }), task("b", "a")], ["b"]);
  s.taskErred("w1", "a", error(1));
  equal(s.taskState("a"), "processing");
  deepEqual(computes(s.taskFinished("w1", "a", 8)), ["w1:b"]);
});

Deno.test("retries: no retries fails at once; worker deaths keep their own count", () => {
  const s = new CheckedState({ allowedFailures: 1 });
  s.addWorker(worker("w1"));
  s.addWorker(worker("w2"));
  s.submit([task("plain")], ["plain"]);
  const on = s.workerOf("plain")!;
  deepEqual(erred(s.taskErred(on, "plain", error(1))), ["plain"]);
  // Retries do not save a task from killing its workers.
  s.submit([withOptions(task("k"), { retries: 5 })], ["k"]);
  s.removeWorker(s.workerOf("k")!);
  equal(s.errorOf("k")?.name, "KilledWorker");
});

Deno.test("retries: a task nobody wants any more is not run again", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  s.submit([withOptions(task("a"), { retries: 3 })], ["a"]);
  s.release(["a"]); // left to finish
  const actions = s.taskErred("w1", "a", error(1));
  deepEqual(computes(actions), []);
  equal(s.taskState("a"), undefined);
});

Deno.test("priority: higher runs first among ready tasks, first come first served among equals", () => {
  const s = new CheckedState({ tasksPerThread: 1 });
  s.addWorker(worker("w1"));
  const specs = [
    withOptions(task("a"), {}),
    withOptions(task("b"), { priority: 0 }),
    withOptions(task("c"), { priority: 5 }),
    withOptions(task("d"), { priority: -1 }),
    withOptions(task("e"), { priority: 5 }),
    withOptions(task("f"), { priority: 0.5 }),
  ];
  const order = computes(s.submit(specs, specs.map((t) => t.key)));
  for (let i = 0; i < specs.length; i++) {
    const key = order[order.length - 1].slice(3);
    order.push(...computes(s.taskFinished("w1", key, 8)));
  }
  deepEqual(order, ["w1:c", "w1:e", "w1:f", "w1:a", "w1:b", "w1:d"]);
});

Deno.test("priority: a task that becomes ready later goes before queued lower ones", () => {
  const s = new CheckedState({ tasksPerThread: 1 });
  s.addWorker(worker("w1"));
  const specs = [
    task("x"),
    task("low1"),
    task("low2"),
    withOptions(task("high", "x"), { priority: 1 }),
  ];
  deepEqual(computes(s.submit(specs, ["high", "low1", "low2"])), ["w1:x"]);
  deepEqual(computes(s.taskFinished("w1", "x", 8)), ["w1:high"]);
  deepEqual(computes(s.taskFinished("w1", "high", 8)), ["w1:low1"]);
});

Deno.test("options: malformed retries or priority fail the task at once with InvalidTask", () => {
  const s = new CheckedState();
  s.addWorker(worker("w1"));
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["r1", { retries: -1 }, /retries must be an integer >= 0, got -1/],
    ["r2", { retries: 1.5 }, /retries must be an integer >= 0, got 1.5/],
    ["r3", { retries: "2" }, /retries must be an integer >= 0, got 2/],
    ["p1", { priority: Number.NaN }, /priority must be a finite number/],
    ["p2", { priority: Infinity }, /priority must be a finite number/],
  ];
  for (const [key, options, message] of bad) {
    const actions = s.submit(
      [{ ...task(key), ...options } as TaskSpec],
      [key],
    );
    deepEqual(computes(actions), []);
    deepEqual(erred(actions), [key]);
    equal(s.errorOf(key)?.name, "InvalidTask");
    equal(message.test(s.errorOf(key)!.message), true, s.errorOf(key)!.message);
  }
});

import assert from "node:assert/strict";
import {
  ExecutorPool,
  PoolClosedError,
  TaskError,
} from "../../src/worker/executor_pool.ts";
import { entries, shared, task, TASKS, until } from "./_tasks.ts";

Deno.test("runs a sync task and an async task", async () => {
  await using pool = new ExecutorPool();
  assert.equal(pool.size, 1);
  const sync = await pool.run(task("add", 2, 3));
  assert.equal(sync.value, 5);
  assert.deepEqual(sync.args, [2, 3]);
  assert.ok(sync.seconds >= 0);
  const later = await pool.run(task("addLater", 4, 5, 20));
  assert.equal(later.value, 9);
  assert.ok(later.seconds >= 0.015, `seconds = ${later.seconds}`);
});

Deno.test("two threads run two tasks at once; the third waits for one to end", async () => {
  await using pool = new ExecutorPool({ threads: 2 });
  const log = shared(16);
  const runs = [0, 1, 2].map((id) => pool.run(task("logSpan", log, id, 300)));
  assert.equal(pool.busy, 2);
  assert.equal(pool.idle, 0);
  assert.equal(pool.queued, 1);
  assert.deepEqual((await Promise.all(runs)).map((o) => o.value), [0, 1, 2]);
  const events = entries(log);
  // Both first tasks started before either ended; the third started after an end.
  assert.deepEqual(events.slice(0, 2).sort(), [1, 2], `events ${events}`);
  assert.ok(events[2] < 0, `events ${events}`);
  assert.ok(events.indexOf(3) > 2, `events ${events}`);
  assert.equal(pool.busy, 0);
  assert.equal(pool.idle, 2);
});

Deno.test("one thread runs queued tasks one at a time, first in first out", async () => {
  await using pool = new ExecutorPool({ threads: 1 });
  const log = shared(16);
  const done: number[] = [];
  const runs = [0, 1, 2, 3].map((id) =>
    pool.run(task("logSpan", log, id, 10)).then((o) =>
      done.push(o.value as number)
    )
  );
  assert.equal(pool.queued, 3);
  await Promise.all(runs);
  assert.deepEqual(entries(log), [1, -1, 2, -2, 3, -3, 4, -4]);
  assert.deepEqual(done, [0, 1, 2, 3]);
});

Deno.test("a task that throws rejects with TaskError carrying the remote error", async () => {
  await using pool = new ExecutorPool();
  const sync = await pool.run(task("fails")).catch((e) => e);
  assert.ok(sync instanceof TaskError);
  assert.equal(sync.kind, "threw");
  assert.equal(sync.message, "too big");
  assert.equal(sync.remoteName, "RangeError");
  assert.match(
    sync.remoteStack,
    /RangeError: too big\n\s+at fails \(.*fixtures\/tasks\.ts/,
  );
  assert.match(sync.stack!, /in the executor/);
  assert.equal(sync.module, TASKS);
  assert.equal(sync.exportName, "fails");

  const data = new Float64Array([1, 2, 3]);
  const late = await pool.run(task("failsLater", data)).catch((e) => e);
  assert.ok(late instanceof TaskError);
  assert.equal(late.remoteName, "TypeError");
  assert.equal(late.message, "gave up after 3");
  assert.match(late.remoteStack, /failsLater/);
  // The inputs come back after a throw, with what the task wrote.
  assert.equal(data.length, 0);
  assert.deepEqual([...(late.args![0] as Float64Array)], [99, 2, 3]);

  const str = await pool.run(task("throwsString")).catch((e) => e);
  assert.ok(str instanceof TaskError);
  assert.equal(str.remoteName, "Error");
  assert.equal(str.message, "plain string");
  assert.equal(str.remoteStack, "");
  // The executor is still fine.
  assert.equal((await pool.run(task("add", 1, 1))).value, 2);
});

Deno.test("a missing export, a non-function export and a missing module are clear TaskErrors", async () => {
  await using pool = new ExecutorPool();
  const noExport = await pool.run(task("nope")).catch((e) => e);
  assert.ok(noExport instanceof TaskError);
  assert.equal(noExport.kind, "export");
  assert.equal(noExport.message, `module ${TASKS} has no export nope`);

  const notFn = await pool.run(task("notAFunction")).catch((e) => e);
  assert.equal(notFn.kind, "export");
  assert.match(
    notFn.message,
    /export notAFunction of module .* is not a function \(it is a number\)/,
  );

  const missing = new URL("./fixtures/missing.ts", import.meta.url).href;
  const noModule = await pool.run({
    module: missing,
    exportName: "f",
    args: [],
  })
    .catch((e) => e);
  assert.ok(noModule instanceof TaskError);
  assert.equal(noModule.kind, "import");
  assert.ok(
    noModule.message.startsWith(`cannot import ${missing}: `),
    noModule.message,
  );
  assert.match(noModule.message, /not found/i);

  const relative = await pool.run({
    module: "./tasks.ts",
    exportName: "f",
    args: [],
  })
    .catch((e) => e);
  assert.ok(relative instanceof TypeError);
  assert.match(relative.message, /absolute URL/);
  assert.equal((await pool.run(task("add", 1, 2))).value, 3);
});

Deno.test("a result that cannot be sent back is a clear TaskError, and the inputs come back", async () => {
  await using pool = new ExecutorPool();
  const data = new Float64Array([1, 2, 3, 4]);
  const error = await pool.run(task("returnsFunction", data)).catch((e) => e);
  assert.ok(error instanceof TaskError);
  assert.equal(error.kind, "unsendable");
  assert.equal(
    error.message,
    `the result of ${TASKS}#returnsFunction cannot be sent back: ` +
      "result.f is a function, which cannot be sent to another thread",
  );
  assert.deepEqual([...(error.args![0] as Float64Array)], [1, 2, 3, 4]);
  assert.equal((await pool.run(task("add", 1, 2))).value, 3);
});

for (
  const [name, reason] of [
    [
      "closesSelf",
      /died while running .*#closesSelf: the task called self\.close\(\)/,
    ],
    [
      "crashesInTimer",
      /died while running .*#crashesInTimer: uncaught Error: timer boom/,
    ],
    ["rejectsUnhandled", /unhandled rejection: Error: nobody listens/],
    ["exits", /the task called Deno\.exit\(3\)/],
  ] as const
) {
  Deno.test(`an executor that dies (${name}) fails its task and is replaced`, async () => {
    await using pool = new ExecutorPool({ threads: 1 });
    const failing = pool.run(task(name));
    const queued = pool.run(task("add", 20, 22));
    const error = await failing.catch((e) => e);
    assert.ok(error instanceof TaskError, String(error));
    assert.equal(error.kind, "crashed");
    assert.match(error.message, reason);
    if (name === "crashesInTimer") assert.match(error.remoteStack, /tasks\.ts/);
    // The task queued behind it runs on the replacement, and so do later ones.
    assert.equal((await queued).value, 42);
    assert.equal((await pool.run(task("add", 1, 2))).value, 3);
    assert.equal(pool.size, 1);
    assert.equal(pool.stats.crashed, 1);
  });
}

Deno.test("an executor that dies while idle is replaced", async () => {
  await using pool = new ExecutorPool({ threads: 1 });
  assert.equal((await pool.run(task("crashesLater", 10))).value, "returned");
  while (pool.stats.crashed === 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal((await pool.run(task("add", 1, 2))).value, 3);
});

Deno.test("abort: a running task's executor is terminated and replaced", async () => {
  await using pool = new ExecutorPool({ threads: 1 });
  const flags = shared(2);
  const controller = new AbortController();
  const running = pool.run(task("spinForever", flags), {
    signal: controller.signal,
  });
  const queued = pool.run(task("add", 1, 2));
  await until(flags, 0);
  controller.abort(new Error("stop!"));
  await assert.rejects(running, { message: "stop!" });
  assert.equal((await queued).value, 3);
  assert.equal(pool.stats.aborted, 1);
  assert.equal(pool.stats.crashed, 0);
  assert.equal(pool.size, 1);
});

Deno.test("abort: a queued task leaves the queue; an aborted signal rejects at once", async () => {
  await using pool = new ExecutorPool({ threads: 1 });
  const controller = new AbortController();
  const first = pool.run(task("addLater", 1, 1, 50));
  const second = pool.run(task("add", 2, 2), { signal: controller.signal });
  const third = pool.run(task("add", 3, 3));
  controller.abort("never mind");
  await assert.rejects(second, (e) => e === "never mind");
  assert.equal(pool.queued, 1);
  assert.equal((await first).value, 2);
  assert.equal((await third).value, 6);
  await assert.rejects(
    pool.run(task("add", 1, 1), { signal: AbortSignal.abort("too late") }),
    (e) => e === "too late",
  );
});

Deno.test("close rejects queued and running tasks and terminates the executors", async () => {
  const pool = new ExecutorPool({ threads: 1, shutdownGraceMs: 100 });
  const running = pool.run(task("addLater", 1, 1, 30));
  const queued = pool.run(task("add", 1, 1));
  const closing = pool.close();
  await assert.rejects(running, PoolClosedError);
  await assert.rejects(queued, PoolClosedError);
  await closing;
  assert.equal(pool.close(), closing);
  assert.equal(pool.size, 0);
  await assert.rejects(pool.run(task("add", 1, 1)), PoolClosedError);
});

Deno.test("close gives a spinning executor the grace period, then terminates it", async () => {
  const pool = new ExecutorPool({ threads: 1, shutdownGraceMs: 50 });
  const flags = shared(2);
  const running = assert.rejects(
    pool.run(task("spinForever", flags)),
    PoolClosedError,
  );
  await until(flags, 0);
  await pool.close();
  await running;
});

Deno.test("constructor rejects bad thread counts", () => {
  assert.throws(() => new ExecutorPool({ threads: 0 }), RangeError);
  assert.throws(() => new ExecutorPool({ threads: 1.5 }), RangeError);
});

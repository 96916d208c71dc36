import assert from "node:assert/strict";
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import { shared, task } from "./_tasks.ts";

Deno.test("the control loop keeps ticking during a 2-second CPU-bound task", async () => {
  await using pool = new ExecutorPool();
  const flags = shared(2);
  let before = 0;
  let during = 0;
  let after = 0;
  const timer = setInterval(() => {
    if (Atomics.load(flags, 0) === 0) before++;
    else if (Atomics.load(flags, 1) === 0) during++;
    else after++;
  }, 1);
  try {
    const outcome = await pool.run(task("spin", flags, 2000));
    assert.ok((outcome.value as number) > 0);
    assert.ok(outcome.seconds >= 1.9, `seconds ${outcome.seconds}`);
    // Ticks happened between the task's start and end (an idle loop ticks
    // every ~2 ms here; a blocked one would show none).
    assert.ok(during > 100, `only ${during} ticks while the task ran`);
  } finally {
    clearInterval(timer);
  }
  console.log(
    `ticks: ${before} before, ${during} during, ${after} after the task`,
  );
});

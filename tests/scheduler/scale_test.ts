/**
 * Scale check: many independent tasks through submit, placement and finish.
 * Asserts only on the outcome (every task done, nothing left in memory after
 * release), never on time. It prints the times for a reader to compare
 * (4× the tasks should take about 4× the time: placement is linear); the
 * timed scheduler figures are `bench/scheduler_overhead.ts`.
 */
import { equal } from "node:assert/strict";
import { SchedulerState } from "../../src/scheduler/state.ts";
import type { ComputeAction } from "../../src/scheduler/types.ts";
import { FifoQueue } from "../../src/scheduler/fifo_queue.ts";
import { ofType, task, worker } from "./_helpers.ts";

function runIndependent(n: number): { submitMs: number; totalMs: number } {
  const s = new SchedulerState();
  for (let w = 0; w < 8; w++) s.addWorker(worker(`w${w}`, { nthreads: 4 }));
  const specs = Array.from({ length: n }, (_, i) => task(`t${i}`));
  const keys = specs.map((spec) => spec.key);
  const start = performance.now();
  const inFlight = new FifoQueue<ComputeAction>();
  for (const a of ofType(s.submit(specs, keys), "compute")) inFlight.push(a);
  const submitMs = performance.now() - start;
  let done = 0;
  for (let run = inFlight.shift(); run; run = inFlight.shift()) {
    for (const action of s.taskFinished(run.worker, run.key, 8)) {
      if (action.type === "compute") inFlight.push(action);
      else if (action.type === "task-done") done++;
    }
  }
  s.release(keys);
  const totalMs = performance.now() - start;
  equal(done, n);
  equal(s.snapshot().tasks.memory, 0);
  return { submitMs, totalMs };
}

Deno.test("10,000 and 40,000 independent tasks on 8 workers all finish and are released (times printed, not checked)", () => {
  runIndependent(1_000); // warm-up
  const small = runIndependent(10_000);
  const large = runIndependent(40_000);
  console.log(
    [
      "tasks    submit ms   submit+finish+release ms",
      `10,000   ${small.submitMs.toFixed(1).padStart(9)}   ${
        small.totalMs.toFixed(1).padStart(9)
      }`,
      `40,000   ${large.submitMs.toFixed(1).padStart(9)}   ${
        large.totalMs.toFixed(1).padStart(9)
      }   (×${(large.totalMs / small.totalMs).toFixed(1)} for ×4 tasks)`,
    ].join("\n"),
  );
});

/**
 * How long `ExecutorPool.run()` blocks the control thread with a 256 MiB
 * input, lent by transfer, against a structured clone of the same array (the
 * baseline, measured in the same run), and against the copy path (a view over
 * part of a bigger buffer). Not a test: `deno run -A tests/worker/measure_lend.ts [mib]`.
 *
 * "blocks" is the synchronous part of the call (packing + postMessage);
 * "round trip" is until the outcome (with the buffer) is back here; "max gap"
 * is the longest interval between ticks of a 1 ms timer over all runs.
 */
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import { task } from "./_tasks.ts";

const MiB = 1 << 20;
const mib = Number(Deno.args[0] ?? 256);
const RUNS = 5;

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let last = performance.now();
let maxGap = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  maxGap = Math.max(maxGap, now - last);
  last = now;
}, 1);
const resetGap = async () => {
  await new Promise((r) => setTimeout(r, 50));
  last = performance.now();
  maxGap = 0;
};

const pool = new ExecutorPool();
await pool.run(task("add", 1, 1)); // executor started and warm

async function measure(
  label: string,
  make: () => Float64Array,
  keep = false,
): Promise<{ label: string; block: number; trip: number; gap: number }> {
  const blocks: number[] = [];
  const trips: number[] = [];
  let gap = 0;
  let data = make();
  for (let i = 0; i <= RUNS; i++) {
    await resetGap();
    const t0 = performance.now();
    const running = pool.run(
      task("identity", data),
      keep ? { keep: [data.buffer] } : {},
    );
    const t1 = performance.now();
    const outcome = await running;
    const t2 = performance.now();
    await new Promise((r) => setTimeout(r, 5)); // let a tick record the gap
    if (i > 0) gap = Math.max(gap, maxGap);
    data = keep ? data : outcome.args[0] as Float64Array;
    if (label.startsWith("copy")) data = make(); // a fresh frame, outside the gap window
    if (i === 0) continue; // warm-up
    blocks.push(t1 - t0);
    trips.push(t2 - t0);
  }
  return { label, block: median(blocks), trip: median(trips), gap };
}

function touched(length: number, extra = 0): Float64Array {
  const a = new Float64Array(length + extra);
  for (let i = 0; i < a.length; i += 512) a[i] = i;
  return extra ? a.subarray(extra) : a;
}

const n = (mib * MiB) / 8;
const whole = await measure(`lend ${mib} MiB (transfer)`, () => touched(n));
const partial = await measure(
  `copy ${mib} MiB (partial view)`,
  () => touched(n, 1),
);

// Baseline: structured clone of the same array to a bare worker.
const echo = new Worker(
  "data:text/javascript,self.onmessage = (e) => self.postMessage(e.data.length)",
  { type: "module" },
);
const cloneBlocks: number[] = [];
const cloneTrips: number[] = [];
let cloneGap = 0;
const data = touched(n);
for (let i = 0; i <= RUNS; i++) {
  await resetGap();
  const t0 = performance.now();
  const back = new Promise((r) => (echo.onmessage = r));
  echo.postMessage(data);
  const t1 = performance.now();
  await back;
  const t2 = performance.now();
  await new Promise((r) => setTimeout(r, 5));
  if (i === 0) continue;
  cloneBlocks.push(t1 - t0);
  cloneTrips.push(t2 - t0);
  cloneGap = Math.max(cloneGap, maxGap);
}
echo.terminate();
clearInterval(ticker);
await pool.close();

const clone = {
  label: `clone ${mib} MiB (baseline, one way)`,
  block: median(cloneBlocks),
  trip: median(cloneTrips),
  gap: cloneGap,
};
const fmt = (ms: number) =>
  ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`;
console.log(`median of ${RUNS} after a warm-up; Deno ${Deno.version.deno}`);
console.log(
  "| case | run() blocks | round trip | max loop gap | blocks vs clone |",
);
console.log("|---|---|---|---|---|");
for (const r of [whole, partial, clone]) {
  console.log(
    `| ${r.label} | ${fmt(r.block)} | ${fmt(r.trip)} | ${fmt(r.gap)} | ${
      (r.block / clone.block).toFixed(4)
    } |`,
  );
}

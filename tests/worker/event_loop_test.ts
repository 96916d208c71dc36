/**
 * The worker's event-loop monitor: max and p99 over its window, the
 * cumulative histogram, and a real stall of this thread measured.
 */
import assert from "node:assert/strict";
import { EventLoopMonitor } from "../../src/worker/event_loop.ts";
import { EVENT_LOOP_BUCKETS } from "../../src/protocol/mod.ts";

Deno.test("max and p99 cover the window; older measures leave it", () => {
  let now = 0;
  const monitor = new EventLoopMonitor({ window: 10_000, now: () => now });
  // 100 measures: 1..100 ms, one per 10 ms.
  for (let lag = 1; lag <= 100; lag++) {
    now += 10;
    monitor.record(lag);
  }
  let report = monitor.report();
  assert.equal(report.maxMs, 100);
  assert.equal(report.p99Ms, 99); // nearest rank: the 99th of 100
  assert.equal(report.windowSeconds, 60);
  // 10 s later the 1..100 are all out of the window; one new small lag.
  now += 10_001;
  monitor.record(2);
  report = monitor.report();
  assert.equal(report.maxMs, 2);
  assert.equal(report.p99Ms, 2);
  // The histogram keeps every measure.
  assert.equal(report.histogram.count, 101);
});

Deno.test("the histogram's counts are cumulative per bucket, with the sum in seconds", () => {
  const monitor = new EventLoopMonitor({ now: () => 0 });
  for (const lag of [0.5, 0.5, 3, 20, 700, 30_000]) monitor.record(lag);
  const { histogram } = monitor.report();
  const at = (le: number) => histogram.counts[EVENT_LOOP_BUCKETS.indexOf(le)];
  assert.equal(histogram.counts.length, EVENT_LOOP_BUCKETS.length);
  assert.equal(at(0.001), 2); // 0.5 ms twice
  assert.equal(at(0.0025), 2);
  assert.equal(at(0.005), 3); // + 3 ms
  assert.equal(at(0.025), 4); // + 20 ms
  assert.equal(at(1), 5); // + 700 ms
  assert.equal(at(10), 5); // 30 s is only in +Inf
  assert.equal(histogram.count, 6);
  assert.ok(Math.abs(histogram.sum - 30.724) < 1e-9, `${histogram.sum}`);
  for (let i = 1; i < histogram.counts.length; i++) {
    assert.ok(histogram.counts[i] >= histogram.counts[i - 1]);
  }
});

Deno.test("nothing measured: zeros", () => {
  const report = new EventLoopMonitor().report();
  assert.deepEqual(
    { max: report.maxMs, p99: report.p99Ms, n: report.histogram.count },
    { max: 0, p99: 0, n: 0 },
  );
});

Deno.test("a thread blocked for 400 ms shows as a lag of at least 300 ms", async () => {
  const monitor = new EventLoopMonitor({ interval: 20 });
  monitor.start();
  try {
    // Let the timer run once, then block the thread.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = performance.now() + 400;
    while (performance.now() < until) {
      // A stall: nothing else runs on this thread.
    }
    // The timer due during the stall fires now, late.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const report = monitor.report();
    assert.ok(report.maxMs >= 300, `max ${report.maxMs} ms`);
    assert.ok(report.histogram.count >= 2);
    // At least one measure above 250 ms: not in the buckets up to 0.25 s.
    const upTo250 = report.histogram.counts[EVENT_LOOP_BUCKETS.indexOf(0.25)];
    assert.ok(upTo250 < report.histogram.count);
  } finally {
    monitor.stop();
  }
});

Deno.test("invalid interval or window is refused", () => {
  assert.throws(() => new EventLoopMonitor({ interval: 0 }), RangeError);
  assert.throws(() => new EventLoopMonitor({ window: -1 }), RangeError);
});

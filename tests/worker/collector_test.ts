import assert from "node:assert/strict";
import type { MemoryReport } from "../../src/memory/manager.ts";
import { Collector } from "../../src/worker/collector.ts";

const MiB = 2 ** 20;

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const report = (process: number, limit: number | null): MemoryReport => ({
  process,
  managed: 0,
  unmanaged: process,
  spilled: 0,
  limit,
});

Deno.test("collects once the store has let go of releasedBytes, then waits for as much again", () => {
  const time = clock();
  let collections = 0;
  const c = new Collector({
    gc: () => collections++,
    now: time.now,
    releasedBytes: 64 * MiB,
  });
  const quiet = report(100 * MiB, null);
  assert.equal(c.sample(quiet, 63 * MiB), false);
  time.advance(100);
  assert.equal(c.sample(quiet, 64 * MiB), true);
  time.advance(1000);
  assert.equal(c.sample(quiet, 127 * MiB), false, "63 MiB since the last");
  assert.equal(c.sample(quiet, 128 * MiB), true);
  assert.equal(collections, 2);
  assert.equal(c.collections, 2);
});

Deno.test("released bytes never collect more often than releasedIntervalMs", () => {
  const time = clock();
  let collections = 0;
  const c = new Collector({
    gc: () => collections++,
    now: time.now,
    releasedBytes: MiB,
    releasedIntervalMs: 100,
  });
  const quiet = report(0, null);
  time.advance(200);
  assert.equal(c.sample(quiet, 10 * MiB), true);
  time.advance(50);
  assert.equal(c.sample(quiet, 20 * MiB), false, "too soon");
  time.advance(60);
  assert.equal(c.sample(quiet, 20 * MiB), true);
  assert.equal(collections, 2);
});

Deno.test("above highFraction of the limit it collects every highIntervalMs, released or not", () => {
  const time = clock();
  let collections = 0;
  const c = new Collector({ gc: () => collections++, now: time.now });
  const limit = 1000 * MiB;
  time.advance(1000);
  assert.equal(
    c.sample(report(700 * MiB, limit), 0),
    false,
    "at 0.7: not above",
  );
  assert.equal(c.sample(report(701 * MiB, limit), 0), true);
  time.advance(150);
  assert.equal(c.sample(report(900 * MiB, limit), 0), false, "within 200 ms");
  time.advance(100);
  assert.equal(c.sample(report(900 * MiB, limit), 0), true);
  assert.equal(
    c.sample(report(900 * MiB, null), 0),
    false,
    "no limit, no rule",
  );
  assert.equal(collections, 2);
});

Deno.test("without gc (gc: null, or no --expose-gc) it never collects", () => {
  const c = new Collector({ gc: null, releasedBytes: 1 });
  assert.equal(c.sample(report(0, 1), 10), false);
  assert.equal(c.sample(report(10, 1), 10), false);
  assert.equal(c.collections, 0);
});

Deno.test("by default it waits for 256 MiB let go of, or a quarter of the limit when less", () => {
  const time = clock();
  let collections = 0;
  const c = new Collector({ gc: () => collections++, now: time.now });
  time.advance(1000);
  assert.equal(c.sample(report(0, null), 255 * MiB), false);
  assert.equal(c.sample(report(0, null), 256 * MiB), true);
  time.advance(1000);
  const small = report(0, 256 * MiB);
  assert.equal(c.sample(small, 256 * MiB + 63 * MiB), false);
  assert.equal(c.sample(small, 256 * MiB + 64 * MiB), true);
  assert.equal(collections, 2);
});

Deno.test("it counts the time its collections took (the control thread's stall)", () => {
  const c = new Collector({
    gc: () => {
      const end = performance.now() + 5;
      while (performance.now() < end) { /* a 5 ms collection */ }
    },
    releasedBytes: 1,
  });
  assert.equal(c.seconds, 0);
  assert.equal(c.sample(report(0, null), 1), true);
  assert.ok(c.seconds >= 0.005, `${c.seconds}`);
});

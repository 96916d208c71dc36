/**
 * The dashboard page's pure functions (src/dashboard/static/*.js, plain
 * browser modules): how bars are stacked and scaled, when a worker is
 * marked, the histogram's bins, progress pieces, task-stream rows and the
 * dedupe of repeated records, the host's unaccounted memory, the colours.
 * The browser test (browser_test.ts) shows them drawn by a real Chromium.
 */
import assert from "node:assert/strict";
import {
  formatBytes,
  formatMs,
  hostOf,
  hueOf,
} from "../../src/dashboard/static/format.js";
import {
  barScale,
  barSegments,
  histogram,
  inMemory,
  RECENT_MS,
  workerMarks,
} from "../../src/dashboard/static/memory.js";
import { progressRows, STATES } from "../../src/dashboard/static/progress.js";
import {
  recordEnd,
  recordId,
  rowHeight,
  streamRows,
  TaskStreamPanel,
} from "../../src/dashboard/static/task_stream.js";
import { hostMemory } from "../../src/dashboard/static/cluster.js";

const MiB = 2 ** 20;

function worker(
  address: string,
  segments: Record<string, number>,
  extra: Record<string, unknown> = {},
) {
  return {
    address,
    nthreads: 2,
    memoryLimit: 256 * MiB,
    status: "running",
    restarts: 0,
    spillExhausted: false,
    segments: {
      live: 0,
      serialized: 0,
      mapped: 0,
      spilled: 0,
      unmanaged: 0,
      ...segments,
    },
    ...extra,
  };
}

Deno.test("a bar stacks live, serialized, mapped, unmanaged, then spilled; all bars share one scale", () => {
  const a = worker("tcp://h:1", {
    live: 10,
    serialized: 20,
    mapped: 5,
    unmanaged: 7,
    spilled: 100,
  });
  assert.deepEqual(barSegments(a), [
    { name: "live", start: 0, bytes: 10 },
    { name: "serialized", start: 10, bytes: 20 },
    { name: "mapped", start: 30, bytes: 5 },
    { name: "unmanaged", start: 35, bytes: 7 },
    { name: "spilled", start: 42, bytes: 100 },
  ]);
  assert.equal(inMemory(a), 42);
  // The limit (256 MiB) is wider than memory + spilled...
  assert.equal(barScale([a]), 256 * MiB);
  // ...until a worker's memory plus spilled bytes pass it.
  const b = worker("tcp://h:2", { live: 200 * MiB, spilled: 300 * MiB });
  assert.equal(barScale([a, b]), 500 * MiB);
  // No worker: a scale of 1, never 0 (it divides).
  assert.equal(barScale([]), 1);
});

Deno.test("a worker is marked paused, spill-exhausted, and restarted only within the last minute", () => {
  const now = 1_000_000;
  const none = new Map<string, number>();
  assert.deepEqual(
    workerMarks(worker("tcp://h:1", {}), [], none, now),
    [],
  );
  assert.deepEqual(
    workerMarks(
      worker("tcp://h:1", {}, { status: "paused", spillExhausted: true }),
      [],
      none,
      now,
    ),
    ["paused", "spill-exhausted"],
  );
  const restarted = worker("tcp://h:7", {}, { restarts: 2 });
  // A restart on its host in the last minute marks it...
  assert.deepEqual(
    workerMarks(
      restarted,
      [{
        address: "tcp://h:5",
        at: now - 1000,
        why: "restarted",
      }],
      none,
      now,
    ),
    ["restarted"],
  );
  // ...not one longer ago, nor a worker that merely left, nor another host's.
  assert.deepEqual(
    workerMarks(
      restarted,
      [
        { address: "tcp://h:5", at: now - RECENT_MS - 1, why: "restarted" },
        { address: "tcp://h:6", at: now - 1000, why: "left" },
        { address: "tcp://other:5", at: now - 1000, why: "restarted" },
      ],
      none,
      now,
    ),
    [],
  );
  // The page saw its restart count rise 10 s ago.
  assert.deepEqual(
    workerMarks(restarted, [], new Map([["tcp://h:7", now - 10_000]]), now),
    ["restarted"],
  );
});

Deno.test("the histogram bins memory use as a fraction of the limit", () => {
  const workers = [
    worker("tcp://h:1", { live: 0 }),
    worker("tcp://h:2", { live: 64 * MiB }),
    worker("tcp://h:3", { live: 64 * MiB, unmanaged: 64 * MiB }),
    worker("tcp://h:4", { live: 256 * MiB }),
  ];
  const { counts, top, byLimit } = histogram(workers, 4);
  assert.equal(byLimit, true);
  assert.equal(top, 1);
  assert.deepEqual(counts, [1, 1, 1, 1]);
  // Past the limit, the range grows with it.
  const over = histogram([worker("tcp://h:5", { live: 512 * MiB })], 4);
  assert.equal(over.top, 2);
  assert.deepEqual(over.counts, [0, 0, 0, 1]);
});

Deno.test("progress rows stack each function's states in order, functions by name", () => {
  const rows = progressRows({
    dot: {
      waiting: 3,
      ready: 1,
      processing: 2,
      memory: 4,
      erred: 1,
      released: 5,
    },
    chunk: { memory: 8 },
  });
  assert.deepEqual(rows.map((r) => r.name), ["chunk", "dot"]);
  assert.equal(rows[0].total, 8);
  assert.equal(rows[1].total, 16);
  assert.deepEqual(rows[1].pieces.map((p) => p.state), STATES);
  assert.deepEqual(rows[1].pieces.map((p) => [p.start, p.count]), [
    [0, 4], // memory
    [4, 5], // released
    [9, 1], // erred
    [10, 2], // processing
    [12, 1], // ready
    [13, 3], // waiting
  ]);
});

Deno.test("task-stream rows: every (worker, thread), sorted; a repeated record is kept once", () => {
  const record = (worker: string, thread: number, key: string, at: number) => ({
    key,
    name: "dot",
    worker,
    thread,
    startstops: [
      { action: "transfer", start: at, stop: at + 5, bytes: 10 },
      { action: "compute", start: at + 5, stop: at + 20 },
    ],
  });
  const a = record("tcp://h:2", 1, "dot-1", 1000);
  assert.equal(recordEnd(a), 1020);
  assert.deepEqual(
    streamRows([a], [{ address: "tcp://h:1", nthreads: 2 }]).map((r) => r.id),
    ["tcp://h:1#0", "tcp://h:1#1", "tcp://h:2#1"],
  );
  const panel = new TaskStreamPanel(
    null as unknown as ConstructorParameters<typeof TaskStreamPanel>[0],
  );
  panel.add([a, record("tcp://h:2", 0, "dot-2", 1000)]);
  // The first event after a reconnection repeats the last minute.
  panel.add([a]);
  assert.equal(panel.records.size, 2);
  assert.notEqual(recordId(a), recordId(record("tcp://h:1", 1, "dot-1", 1000)));
  assert.equal(panel.latest, 1020);
  assert.equal(rowHeight(4), 22);
  assert.ok(rowHeight(120) >= 3 && rowHeight(120) * 120 <= 600);
});

Deno.test("host memory: in use is MemTotal − MemAvailable; what no worker accounts for is the rest", () => {
  const workers = [
    worker("tcp://h:1", { live: 100, unmanaged: 50, spilled: 1000 }),
    worker("tcp://h:2", { serialized: 30, mapped: 20 }),
  ];
  assert.deepEqual(
    hostMemory({ memTotal: 10_000, memAvailable: 9_000 }, workers),
    { total: 10_000, inUse: 1000, workers: 200, unaccounted: 800 },
  );
  // Never below zero (the host figure and the heartbeats are not taken at once).
  assert.equal(
    hostMemory({ memTotal: 10_000, memAvailable: 9_900 }, workers).unaccounted,
    0,
  );
});

Deno.test("formats and colours: bytes, durations, hosts, a stable hue per function", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(3 * MiB), "3.0 MiB");
  assert.equal(formatBytes(1.5 * 2 ** 30), "1.5 GiB");
  assert.equal(formatMs(0.25), "250 µs");
  assert.equal(formatMs(12.4), "12 ms");
  assert.equal(formatMs(1250), "1.25 s");
  assert.equal(hostOf("tcp://127.0.0.1:4000"), "127.0.0.1");
  for (const name of ["dot", "chunk", "sum", ""]) {
    const hue = hueOf(name);
    assert.ok(Number.isInteger(hue) && hue >= 0 && hue < 360, name);
    assert.equal(hueOf(name), hue);
  }
  assert.notEqual(hueOf("dot"), hueOf("chunk"));
});

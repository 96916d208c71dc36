/**
 * The pieces behind the dashboard: the task stream's cursor (what each
 * `update` event sends), `/proc/meminfo` parsing, the cluster totals.
 */
import assert from "node:assert/strict";
import { TaskStream } from "../../src/scheduler/task_stream.ts";
import { parseMeminfo } from "../../src/platform/host_memory.ts";
import { clusterTotals } from "../../src/dashboard/views.ts";
import type { WorkerDescription } from "../../src/protocol/mod.ts";

function record(key: string) {
  return {
    key,
    name: "f",
    worker: "w",
    thread: 0,
    startstops: [{ action: "compute" as const, start: 1, stop: 2 }],
  };
}

Deno.test("TaskStream.after: what was added since a cursor, across the ring's wrap", () => {
  const stream = new TaskStream(3);
  assert.deepEqual(stream.after(0), []);
  stream.add(record("a"));
  stream.add(record("b"));
  const cursor = stream.added;
  assert.equal(cursor, 2);
  assert.deepEqual(stream.after(cursor), []);
  stream.add(record("c"));
  stream.add(record("d")); // "a" drops out
  assert.deepEqual(stream.after(cursor).map((r) => r.key), ["c", "d"]);
  assert.deepEqual(stream.after(0).map((r) => r.key), ["b", "c", "d"]);
  // More added than kept: what is still kept.
  for (const key of ["e", "f", "g", "h"]) stream.add(record(key));
  assert.deepEqual(stream.after(cursor).map((r) => r.key), ["f", "g", "h"]);
  assert.deepEqual(stream.after(stream.added), []);
});

Deno.test("parseMeminfo reads MemTotal and MemAvailable in bytes", () => {
  const text = [
    "MemTotal:       24683748 kB",
    "MemFree:         1234567 kB",
    "MemAvailable:   20000000 kB",
    "Buffers:           12345 kB",
  ].join("\n");
  assert.deepEqual(parseMeminfo(text), {
    memTotal: 24683748 * 1024,
    memAvailable: 20000000 * 1024,
  });
  assert.equal(parseMeminfo("MemTotal: 1 kB\n"), null);
});

Deno.test("clusterTotals sums the workers' figures, a worker without a heartbeat as 0", () => {
  const worker = (
    spilled: number,
    read: number,
    fetched: number,
    linked: number,
    served: number,
  ) =>
    ({
      store: {
        spills: { count: 1, bytes: spilled, seconds: 0 },
        unspills: { count: 1, bytes: read, seconds: 0 },
        framesServedWithoutDeserialize: served,
      },
      transfers: {
        fetchedKeys: 1,
        fetchedBytes: fetched,
        servedKeys: 0,
        servedBytes: 0,
        linkedBytes: linked,
      },
    }) as unknown as WorkerDescription;
  const fresh = {
    store: null,
    transfers: null,
  } as unknown as WorkerDescription;
  assert.deepEqual(
    clusterTotals([worker(10, 5, 3, 0, 2), worker(20, 1, 4, 7, 1), fresh]),
    {
      spilledBytes: 30,
      readBackBytes: 6,
      movedBytes: 7,
      linkedBytes: 7,
      deserializationsAvoided: 3,
    },
  );
});

import type { TaskStreamRecord } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { TaskStream } from "../../src/scheduler/task_stream.ts";

const record = (key: string, stop: number): TaskStreamRecord => ({
  key,
  name: "f",
  worker: "tcp://127.0.0.1:1",
  thread: 0,
  startstops: [
    { action: "transfer", start: stop - 20, stop: stop - 10, bytes: 8 },
    { action: "compute", start: stop - 10, stop },
  ],
});

Deno.test("the task stream keeps the latest records, oldest first", () => {
  const stream = new TaskStream(3);
  for (let i = 0; i < 5; i++) stream.add(record(`k${i}`, 100 + i));
  assert.equal(stream.size, 3);
  assert.deepEqual(stream.collect().map((r) => r.key), ["k2", "k3", "k4"]);
  stream.add(record("k5", 200));
  assert.deepEqual(stream.collect().map((r) => r.key), ["k3", "k4", "k5"]);
});

Deno.test("since keeps the records whose last phase ended at or after it", () => {
  const stream = new TaskStream(10);
  stream.add(record("early", 100));
  stream.add(record("edge", 150));
  stream.add(record("late", 151));
  assert.deepEqual(stream.collect(150).map((r) => r.key), ["edge", "late"]);
  assert.deepEqual(stream.collect(1000), []);
  assert.equal(stream.collect(0).length, 3);
});

Deno.test("the default capacity is 100,000 and a bad one is refused", () => {
  const stream = new TaskStream();
  for (let i = 0; i < 100_001; i++) stream.add(record(`k${i}`, i));
  assert.equal(stream.size, 100_000);
  assert.equal(stream.collect()[0].key, "k1");
  assert.throws(() => new TaskStream(0), RangeError);
  assert.throws(() => new TaskStream(1.5), RangeError);
});

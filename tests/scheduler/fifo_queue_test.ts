import { deepEqual, equal } from "node:assert/strict";
import { FifoQueue } from "../../src/scheduler/fifo_queue.ts";

Deno.test("FifoQueue keeps order across compactions", () => {
  const queue = new FifoQueue<number>();
  const out: number[] = [];
  let next = 0;
  // Interleave pushes and shifts so that the head passes the compaction
  // threshold several times with items still queued.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 300; i++) queue.push(next++);
    for (let i = 0; i < 200; i++) out.push(queue.shift()!);
  }
  while (queue.size > 0) out.push(queue.shift()!);
  deepEqual(out, Array.from({ length: next }, (_, i) => i));
  equal(queue.shift(), undefined);
  equal(queue.size, 0);
});

Deno.test("FifoQueue drains 100,000 items in linear time", () => {
  const queue = new FifoQueue<number>();
  for (let i = 0; i < 100_000; i++) queue.push(i);
  const start = performance.now();
  let sum = 0;
  while (queue.size > 0) sum += queue.shift()!;
  equal(sum, (100_000 * 99_999) / 2);
  // Generous: an O(n²) drain takes seconds here.
  equal(performance.now() - start < 1000, true);
});

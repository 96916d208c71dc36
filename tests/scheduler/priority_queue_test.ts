import { deepEqual, equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { PriorityQueue } from "../../src/scheduler/priority_queue.ts";

Deno.test("PriorityQueue drains like a stable sort by priority, interleaved with pushes", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ push: fc.integer({ min: -3, max: 3 }) }),
          fc.constant({ shift: true }),
        ),
        { maxLength: 300 },
      ),
      (ops) => {
        const queue = new PriorityQueue<number>();
        // The model: a list kept in (priority desc, push order) order.
        let model: { id: number; priority: number }[] = [];
        let id = 0;
        for (const op of ops) {
          if ("push" in op) {
            queue.push(id, op.push);
            model.push({ id: id++, priority: op.push });
            model = model.sort((a, b) =>
              b.priority - a.priority || a.id - b.id
            );
          } else {
            equal(queue.shift(), model.shift()?.id);
          }
          equal(queue.size, model.length);
        }
        const rest: number[] = [];
        while (queue.size > 0) rest.push(queue.shift()!);
        deepEqual(rest, model.map((m) => m.id));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("PriorityQueue with equal priorities is first in, first out", () => {
  const queue = new PriorityQueue<number>();
  for (let i = 0; i < 10_000; i++) queue.push(i);
  const out: number[] = [];
  while (queue.size > 0) out.push(queue.shift()!);
  deepEqual(out, Array.from({ length: 10_000 }, (_, i) => i));
  equal(queue.shift(), undefined);
});

Deno.test("PriorityQueue refuses a priority that is not a finite number", () => {
  const queue = new PriorityQueue<string>();
  throws(() => queue.push("x", Number.NaN), /finite number, got NaN/);
  throws(() => queue.push("x", Infinity), /finite number, got Infinity/);
  equal(queue.size, 0);
});

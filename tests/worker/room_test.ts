/** Room: reservations that spill first, wait for others, and never deadlock a lone step. */
import assert from "node:assert/strict";
import { Room } from "../../src/worker/room.ts";

/** A store whose evictions lower a simulated process memory. */
function fakeProcess(memory: number, evictable: number) {
  const p = {
    memory,
    evictable,
    evictions: [] as number[],
    store: {
      evict: (bytes: number) => {
        const freed = Math.min(bytes, p.evictable);
        p.evictable -= freed;
        p.memory -= freed;
        p.evictions.push(freed);
        return Promise.resolve(freed);
      },
    },
  };
  return p;
}

Deno.test("a reservation that fits goes at once and spills nothing", async () => {
  const p = fakeProcess(300, 100);
  const room = new Room({
    limit: 1000,
    store: p.store,
    processMemory: () => p.memory,
  });
  const release = await room.reserve(300); // 300 + 300 ≤ 700
  assert.deepEqual(p.evictions, []);
  assert.equal(room.reserved, 300);
  release();
  release(); // idempotent
  assert.equal(room.reserved, 0);
});

Deno.test("a reservation that does not fit spills the difference first", async () => {
  const p = fakeProcess(600, 500);
  const room = new Room({
    limit: 1000,
    store: p.store,
    processMemory: () => p.memory,
  });
  await room.reserve(250); // 600 + 250 - 700 = 150 to spill
  assert.deepEqual(p.evictions, [150]);
  assert.equal(p.memory, 450);
});

Deno.test("with nothing left to spill, a step waits for another to end; a lone step goes ahead", async () => {
  const p = fakeProcess(500, 0);
  const room = new Room({
    limit: 1000,
    store: p.store,
    processMemory: () => p.memory,
  });
  // Alone: over the budget, nothing to spill, nobody to wait for.
  const first = await room.reserve(400);
  const events: string[] = [];
  const second = room.reserve(100).then((release) => {
    events.push("second admitted");
    return release;
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events, [], "waits while the first holds its room");
  // The first step ends and its memory goes.
  p.memory = 300;
  first();
  (await second)();
  assert.deepEqual(events, ["second admitted"]);
});

Deno.test("wait: false never waits on other steps (serving a peer)", async () => {
  const p = fakeProcess(650, 0);
  const room = new Room({
    limit: 1000,
    store: p.store,
    processMemory: () => p.memory,
  });
  const task = await room.reserve(100);
  const serve = await room.reserve(200, { wait: false });
  assert.equal(room.reserved, 300);
  serve();
  task();
});

Deno.test("without a limit nothing is spilled or waited for", async () => {
  const p = fakeProcess(10 ** 12, 10 ** 9);
  const room = new Room({
    limit: null,
    store: p.store,
    processMemory: () => p.memory,
  });
  const releases = await Promise.all([room.reserve(1e9), room.reserve(1e9)]);
  assert.deepEqual(p.evictions, []);
  for (const release of releases) release();
});

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  type ManagedStore,
  MemoryManager,
  type MemoryManagerOptions,
  type MemoryReport,
} from "../../src/memory/manager.ts";

/** A store whose evictions resolve when the test says so (or at once). */
class FakeStore implements ManagedStore {
  managedBytes = 0;
  spilledBytes = 0;
  target = -1;
  /** Bytes asked for by each evict() call. */
  readonly asked: number[] = [];
  /** Pending evictions, when `manual`. */
  readonly pending: PromiseWithResolvers<number>[] = [];
  manual = false;
  failure: unknown = undefined;
  throwSynchronously = false;

  evict(bytes: number): Promise<number> {
    this.asked.push(bytes);
    if (this.failure !== undefined) {
      if (this.throwSynchronously) throw this.failure;
      return Promise.reject(this.failure);
    }
    if (!this.manual) return Promise.resolve(bytes);
    const deferred = Promise.withResolvers<number>();
    this.pending.push(deferred);
    return deferred.promise;
  }
}

interface Harness {
  store: FakeStore;
  manager: MemoryManager;
  setProcess(bytes: number): void;
  events: string[];
  reports: MemoryReport[];
}

function harness(
  options: Partial<
    Omit<MemoryManagerOptions, "store" | "sampleProcessMemory">
  > = {},
): Harness {
  const store = new FakeStore();
  let process = 0;
  const manager = new MemoryManager({
    limit: 1000,
    ...options,
    store,
    sampleProcessMemory: () => process,
  });
  const events: string[] = [];
  const reports: MemoryReport[] = [];
  for (const type of ["pause", "resume", "terminate"] as const) {
    manager.addEventListener(type, () => events.push(type));
  }
  manager.addEventListener("sample", (event) => reports.push(event.detail));
  return {
    store,
    manager,
    setProcess: (bytes) => {
      process = bytes;
    },
    events,
    reports,
  };
}

/**
 * Sanitizers are off by default in this Deno (docs/platform.md#test-sanitizers); the timer
 * tests turn them on so that a leaked interval fails them.
 */
const TIMER_SANITIZERS: Omit<Deno.TestDefinition, "name" | "fn"> = {
  sanitizeOps: true,
  sanitizeResources: true,
};

/** Replaces console.warn for the duration of `body`, collecting messages. */
async function withWarnings(
  body: (warnings: string[]) => Promise<void>,
): Promise<void> {
  const original = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  try {
    await body(warnings);
  } finally {
    console.warn = original;
  }
}

Deno.test("the manager sets the store's target to target * limit", () => {
  const { store, manager } = harness({ limit: 1000 });
  equal(store.target, 600);
  equal(manager.limit, 1000);
  deepEqual({ ...manager.thresholds }, {
    target: 0.6,
    spill: 0.7,
    pause: 0.8,
    terminate: 0.95,
  });
  ok(Object.isFrozen(manager.thresholds));
  equal(
    harness({ limit: 1000, thresholds: { target: 0.5 } }).store.target,
    500,
  );
  equal(harness({ limit: 1000, thresholds: { target: 0 } }).store.target, 0);
});

Deno.test("a disabled target sets the store's target to Infinity", () => {
  const { store } = harness({ limit: 1000, thresholds: { target: false } });
  equal(store.target, Infinity);
});

Deno.test("without a limit the store's target is left alone", () => {
  const { store, manager } = harness({ limit: null });
  equal(store.target, -1);
  equal(manager.limit, null);
});

Deno.test("above the spill threshold, evict down to the target", async () => {
  const { store, manager, setProcess } = harness({ limit: 1000 });
  setProcess(750);
  await manager.sample();
  deepEqual(store.asked, [150]); // 750 - 0.6 * 1000
  setProcess(1000);
  await manager.sample();
  deepEqual(store.asked, [150, 400]);
});

Deno.test("at or below the spill threshold, nothing is evicted", async () => {
  const { store, manager, setProcess } = harness({ limit: 1000 });
  for (const process of [0, 500, 650, 700]) {
    setProcess(process);
    await manager.sample();
  }
  deepEqual(store.asked, []);
});

Deno.test("with target disabled, evict down to the spill threshold", async () => {
  const { store, manager, setProcess } = harness({
    limit: 1000,
    thresholds: { target: false },
  });
  setProcess(750);
  await manager.sample();
  deepEqual(store.asked, [50]);
});

Deno.test("at most one eviction is in flight", async () => {
  const { store, manager, setProcess, events } = harness({ limit: 1000 });
  store.manual = true;
  setProcess(750);
  let firstDone = false;
  const first = manager.sample().then(() => {
    firstDone = true;
  });
  await manager.sample();
  setProcess(850);
  await manager.sample(); // still checks pause while evicting
  deepEqual(store.asked, [150]);
  deepEqual(events, ["pause"]);
  equal(firstDone, false, "sample() waits for the eviction it started");
  store.pending[0].resolve(150);
  await first;
  // The next sample above spill starts a new eviction.
  const third = manager.sample();
  deepEqual(store.asked, [150, 250]);
  store.pending[1].resolve(250);
  await third;
});

Deno.test("pause and resume fire once per crossing", async () => {
  const { manager, setProcess, events } = harness({
    limit: 1000,
    thresholds: { spill: false },
  });
  const steps: [number, boolean][] = [
    [700, false],
    [800, false], // exactly at the threshold: not above
    [850, true],
    [900, true],
    [800, true], // exactly at the threshold: not below either
    [790, false],
    [500, false],
    [801, true],
  ];
  for (const [process, paused] of steps) {
    setProcess(process);
    await manager.sample();
    equal(manager.paused, paused, `at ${process}`);
  }
  deepEqual(events, ["pause", "resume", "pause"]);
});

Deno.test("terminate fires once", async () => {
  const { manager, setProcess, events } = harness({
    limit: 1000,
    thresholds: { spill: false, pause: false },
  });
  for (const process of [900, 950, 960, 2000, 100, 960]) {
    setProcess(process);
    await manager.sample();
  }
  deepEqual(events, ["terminate"]);
});

Deno.test("crossing every threshold at once fires each event", async () => {
  const { store, manager, setProcess, events } = harness({ limit: 1000 });
  setProcess(990);
  await manager.sample();
  deepEqual(events, ["pause", "terminate"]);
  deepEqual(store.asked, [390]);
  equal(manager.paused, true);
});

Deno.test("disabled thresholds do nothing", async () => {
  const { store, manager, setProcess, events, reports } = harness({
    limit: 1000,
    thresholds: {
      target: false,
      spill: false,
      pause: false,
      terminate: false,
    },
  });
  for (const process of [500, 5000, 10_000]) {
    setProcess(process);
    await manager.sample();
  }
  deepEqual(store.asked, []);
  deepEqual(events, []);
  equal(manager.paused, false);
  equal(reports.length, 3);
});

Deno.test("without a limit, samples only report", async () => {
  const { store, manager, setProcess, events, reports } = harness({
    limit: null,
  });
  store.managedBytes = 300;
  store.spilledBytes = 70;
  setProcess(1e12);
  const report = await manager.sample();
  deepEqual(report, {
    process: 1e12,
    managed: 300,
    unmanaged: 1e12 - 300,
    spilled: 70,
    limit: null,
  });
  deepEqual(store.asked, []);
  deepEqual(events, []);
  deepEqual(reports, [report]);
});

Deno.test("report() gives the last sample's figures", async () => {
  const { store, manager, setProcess } = harness({ limit: 1000 });
  store.managedBytes = 400;
  store.spilledBytes = 123;
  setProcess(300);
  // Before any sample: a fresh measurement that acts on nothing.
  deepEqual(manager.report(), {
    process: 300,
    managed: 400,
    unmanaged: 0, // max(0, 300 - 400)
    spilled: 123,
    limit: 1000,
  });
  setProcess(650);
  const sampled = await manager.sample();
  setProcess(999);
  store.managedBytes = 1;
  equal(manager.report(), sampled);
  equal(sampled.unmanaged, 250);
  deepEqual(store.asked, [], "report() never evicts");
});

Deno.test("each sample dispatches a CustomEvent with its report", async () => {
  const { manager, setProcess } = harness({ limit: 1000 });
  const seen: MemoryReport[] = [];
  const listener = (event: CustomEvent<MemoryReport>) => {
    ok(event instanceof CustomEvent);
    seen.push(event.detail);
  };
  manager.addEventListener("sample", listener);
  setProcess(100);
  const first = await manager.sample();
  setProcess(200);
  const second = await manager.sample();
  deepEqual(seen, [first, second]);
  manager.removeEventListener("sample", listener);
  await manager.sample();
  equal(seen.length, 2);
});

Deno.test("a failing eviction is warned about once and never thrown", async () => {
  await withWarnings(async (warnings) => {
    const { store, manager, setProcess } = harness({ limit: 1000 });
    store.failure = new Error("disk full");
    setProcess(750);
    await manager.sample();
    await manager.sample();
    store.throwSynchronously = true;
    await manager.sample();
    deepEqual(store.asked, [150, 150, 150], "each sample retries");
    equal(warnings.length, 1);
    ok(warnings[0].includes("disk full"), warnings[0]);
    // Success re-arms the warning for the next run of failures.
    store.failure = undefined;
    await manager.sample();
    store.failure = "not an Error";
    await manager.sample();
    equal(warnings.length, 2);
    ok(warnings[1].includes("not an Error"), warnings[1]);
  });
});

Deno.test(
  "start() samples on a timer and stop() leaves none running",
  TIMER_SANITIZERS,
  async () => {
    const store = new FakeStore();
    let samples = 0;
    const manager = new MemoryManager({
      limit: 1000,
      store,
      interval: 5,
      sampleProcessMemory: () => {
        samples++;
        return 750;
      },
    });
    const sampled = Promise.withResolvers<void>();
    manager.addEventListener("sample", () => {
      if (samples >= 3) sampled.resolve();
    });
    manager.start();
    manager.start(); // idempotent: one timer
    // A ref'ed timer keeps this test alive while the unref'ed interval ticks.
    const guard = setTimeout(
      () => sampled.reject(new Error("no samples")),
      5000,
    );
    await sampled.promise;
    clearTimeout(guard);
    manager.stop();
    manager.stop();
    const after = samples;
    await new Promise((resolve) => setTimeout(resolve, 30));
    equal(samples, after, "no sample after stop()");
    ok(store.asked.length >= 1);
  },
);

Deno.test("using disposes the manager's timer", TIMER_SANITIZERS, async () => {
  const store = new FakeStore();
  {
    using manager = new MemoryManager({ limit: null, store, interval: 1 });
    manager.start();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // TIMER_SANITIZERS fail this test if the interval outlived the block.
});

Deno.test(
  "the timer survives a throwing sampler and warns once",
  TIMER_SANITIZERS,
  async () => {
    await withWarnings(async (warnings) => {
      const store = new FakeStore();
      let calls = 0;
      const manager = new MemoryManager({
        limit: 1000,
        store,
        interval: 2,
        sampleProcessMemory: () => {
          calls++;
          throw new Error("no rss");
        },
      });
      manager.start();
      const deadline = Date.now() + 5000;
      while (calls < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      manager.stop();
      ok(calls >= 3, `${calls} samples`);
      equal(warnings.length, 1);
      ok(warnings[0].includes("no rss"));
    });
  },
);

Deno.test("the default sampler reads the process's RSS", async () => {
  const manager = new MemoryManager({ limit: null, store: new FakeStore() });
  const report = await manager.sample();
  ok(report.process > 1024 * 1024, `${report.process}`);
});

Deno.test("the constructor rejects bad limits, intervals and thresholds", () => {
  const store = new FakeStore();
  for (const limit of [0, -1, NaN, Infinity]) {
    throws(() => new MemoryManager({ limit, store }), RangeError, `${limit}`);
  }
  for (const interval of [0, -5, NaN, Infinity]) {
    throws(
      () => new MemoryManager({ limit: 1000, store, interval }),
      RangeError,
      `${interval}`,
    );
  }
  throws(
    () => new MemoryManager({ limit: 1000, store, thresholds: { spill: 2 } }),
    RangeError,
  );
  equal(store.target, -1, "a rejected manager leaves the store alone");
});

/**
 * Model-based property test of the scheduler state machine: random DAGs
 * (with random retries and priorities) run by a simulated cluster under
 * random interleavings of task results, failures, worker losses and
 * arrivals, pauses, client releases, cancellations and re-submissions,
 * replicas and stale reports. After every event the state is
 * validated and compared with what the simulated workers hold; at the end
 * the cluster runs to quiescence and every wanted key must be settled.
 */
import type { TaskSpec } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SchedulerState } from "../../src/scheduler/state.ts";
import type { Action } from "../../src/scheduler/types.ts";

interface NodeShape {
  deps: number[];
  scattered: boolean;
  retries: number;
  priority: number;
}

type Event =
  | { kind: "finish"; pick: number }
  | { kind: "err"; pick: number }
  | { kind: "lose"; pick: number }
  | { kind: "add"; nthreads: number; host: number }
  | { kind: "pause"; pick: number }
  | { kind: "resume"; pick: number }
  | { kind: "release"; pick: number }
  | { kind: "want"; pick: number }
  | { kind: "cancel"; pick: number }
  | { kind: "replicate"; pick: number; to: number }
  | { kind: "stale"; pick: number; asError: boolean };

interface Scenario {
  nodes: NodeShape[];
  wanted: number[];
  workers: { nthreads: number; host: number }[];
  events: Event[];
  sameHostIsLocal: boolean;
  tasksPerThread: number;
  allowedFailures: number;
}

const nodesArb: fc.Arbitrary<NodeShape[]> = fc
  .array(
    fc.record({
      deps: fc.array(fc.nat(), { maxLength: 3 }),
      scattered: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      retries: fc.integer({ min: 0, max: 3 }).map((n) => n === 3 ? 0 : n),
      priority: fc.integer({ min: -1, max: 1 }),
    }),
    { minLength: 2, maxLength: 20, size: "medium" },
  )
  .map((raw) =>
    raw.map((node, i) => {
      // Edges only point backwards: the graph is a DAG.
      const deps = i === 0 ? [] : [...new Set(node.deps.map((d) => d % i))];
      return { ...node, deps, scattered: deps.length === 0 && node.scattered };
    })
  );

const workerArb = fc.record({
  nthreads: fc.integer({ min: 1, max: 2 }),
  host: fc.integer({ min: 0, max: 1 }),
});

const pick = fc.nat({ max: 1000 });
const addEventArb = fc.record({
  kind: fc.constant("add"),
  nthreads: fc.integer({ min: 1, max: 2 }),
  host: fc.integer({ min: 0, max: 1 }),
});
const calmEventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("finish"), pick }) },
  { weight: 1, arbitrary: addEventArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pause"), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("resume"), pick }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("replicate"), pick, to: pick }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("stale"),
      pick,
      asError: fc.boolean(),
    }),
  },
) as fc.Arbitrary<Event>;
const anyEventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: calmEventArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("err"), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("lose"), pick }) },
  { weight: 1, arbitrary: addEventArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release"), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("want"), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel"), pick }) },
) as fc.Arbitrary<Event>;

function scenarioArb(events: fc.Arbitrary<Event>): fc.Arbitrary<Scenario> {
  return fc.record({
    nodes: nodesArb,
    wanted: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
    workers: fc.array(workerArb, { minLength: 1, maxLength: 4 }),
    events: fc.array(events, { maxLength: 80, size: "medium" }),
    sameHostIsLocal: fc.boolean(),
    tasksPerThread: fc.integer({ min: 1, max: 2 }),
    allowedFailures: fc.integer({ min: 1, max: 3 }),
  });
}

const keyOf = (i: number) => `k${i}`;
const nbytesOf = (key: string) => 8 + Number(key.slice(1));

/** A cluster that carries out the scheduler's actions and checks them. */
class Cluster {
  readonly state: SchedulerState;
  readonly keys: string[];
  readonly specs = new Map<string, TaskSpec>();
  readonly deps = new Map<string, string[]>();
  /** What each live worker's store holds. */
  readonly stores = new Map<string, Set<string>>();
  /** What each live worker was told to compute and has not reported. */
  readonly running = new Map<string, Set<string>>();
  /** Assignments that ended (reported or cancelled): fodder for stale reports. */
  readonly past: [string, string][] = [];
  readonly wants = new Map<string, number>();
  readonly computed = new Map<string, number>();
  readonly told = new Map<string, "done" | "erred">();
  /** Workers that died while running each key (reset once it is forgotten). */
  readonly deaths = new Map<string, number>();
  /** Tries of each key that threw (reset once it is forgotten). */
  readonly throws = new Map<string, number>();
  #nextWorker = 0;

  constructor(readonly scenario: Scenario) {
    this.state = new SchedulerState({
      placement: { sameHostIsLocal: scenario.sameHostIsLocal },
      tasksPerThread: scenario.tasksPerThread,
      allowedFailures: scenario.allowedFailures,
    });
    this.keys = scenario.nodes.map((_, i) => keyOf(i));
    scenario.nodes.forEach((node, i) => {
      const key = keyOf(i);
      this.deps.set(key, node.deps.map(keyOf));
      if (!node.scattered) {
        this.specs.set(key, {
          key,
          module: "file:///ops.ts",
          exportName: "f",
          args: [...node.deps.map((d) => ({ key: keyOf(d) })), { value: i }],
          ...(node.retries === 0 ? {} : { retries: node.retries }),
          ...(node.priority === 0 ? {} : { priority: node.priority }),
        });
      }
    });
  }

  live(): string[] {
    return [...this.stores.keys()].sort();
  }

  addWorker(nthreads: number, host: number): void {
    const id = `w${this.#nextWorker++}`;
    this.stores.set(id, new Set());
    this.running.set(id, new Set());
    this.apply(this.state.addWorker({
      id,
      host: `h${host}`,
      nthreads,
      memoryLimit: 1 << 20,
    }));
  }

  start(): void {
    for (const w of this.scenario.workers) this.addWorker(w.nthreads, w.host);
    this.scenario.nodes.forEach((node, i) => {
      if (!node.scattered) return;
      const holder = this.live()[i % this.live().length];
      const key = keyOf(i);
      this.stores.get(holder)!.add(key);
      this.want(key);
      this.apply(this.state.addData(key, [holder], nbytesOf(key)));
    });
    const wanted = this.scenario.wanted.map((w) => keyOf(w % this.keys.length));
    for (const key of wanted) this.want(key);
    this.apply(this.state.submit([...this.specs.values()], wanted));
  }

  want(key: string): void {
    this.wants.set(key, (this.wants.get(key) ?? 0) + 1);
  }

  apply(actions: readonly Action[]): void {
    for (const action of actions) {
      switch (action.type) {
        case "compute": {
          const store = this.stores.get(action.worker);
          assert.ok(store, `compute on removed worker ${action.worker}`);
          assert.ok(
            this.specs.has(action.key),
            `computes scattered ${action.key}`,
          );
          assert.deepEqual(
            Object.keys(action.who).sort(),
            [...this.deps.get(action.key)!].sort(),
          );
          for (const [dep, holders] of Object.entries(action.who)) {
            assert.ok(holders.length > 0, `${action.key}: no holder of ${dep}`);
            for (const h of holders) {
              assert.ok(
                this.stores.get(h)?.has(dep),
                `${action.key}: ${h} said to hold ${dep} but does not`,
              );
            }
          }
          assert.ok(
            (this.deaths.get(action.key) ?? 0) < this.scenario.allowedFailures,
            `${action.key} runs again after killing its workers`,
          );
          this.running.get(action.worker)!.add(action.key);
          this.computed.set(
            action.key,
            (this.computed.get(action.key) ?? 0) + 1,
          );
          break;
        }
        case "release": {
          const store = this.stores.get(action.worker);
          assert.ok(store, `release on removed worker ${action.worker}`);
          for (const key of action.keys) store.delete(key);
          break;
        }
        case "cancel": {
          const running = this.running.get(action.worker)!;
          assert.ok(
            running !== undefined && running.has(action.key),
            `cancel of unknown run ${action.key}`,
          );
          running.delete(action.key);
          this.past.push([action.worker, action.key]);
          break;
        }
        case "task-done":
        case "task-erred":
          assert.ok(
            (this.wants.get(action.key) ?? 0) > 0,
            `${action.type} for unwanted ${action.key}`,
          );
          this.told.set(
            action.key,
            action.type === "task-done" ? "done" : "erred",
          );
          break;
      }
    }
  }

  /** Every (worker, key) the scheduler assigned and awaits, sorted. */
  runs(): [string, string][] {
    return this.live().flatMap((w) =>
      [...this.running.get(w)!].sort().map((k): [string, string] => [w, k])
    );
  }

  finish(w: string, key: string, keepInputs: boolean): void {
    this.running.get(w)!.delete(key);
    this.past.push([w, key]);
    const store = this.stores.get(w)!;
    for (const dep of this.deps.get(key)!) {
      // The scheduler keeps a running task's inputs in memory somewhere.
      assert.equal(this.state.taskState(dep), "memory", `${key}: input ${dep}`);
      if (keepInputs && !store.has(dep)) {
        store.add(dep);
        this.apply(this.state.addReplica(dep, w, nbytesOf(dep)));
      }
    }
    store.add(key);
    this.apply(this.state.taskFinished(w, key, nbytesOf(key)));
  }

  run(event: Event): void {
    const live = this.live();
    const runs = this.runs();
    switch (event.kind) {
      case "finish": {
        if (runs.length === 0) return;
        const [w, key] = runs[event.pick % runs.length];
        this.finish(w, key, event.pick % 2 === 0);
        return;
      }
      case "err": {
        if (runs.length === 0) return;
        const [w, key] = runs[event.pick % runs.length];
        this.running.get(w)!.delete(key);
        this.past.push([w, key]);
        const tries = (this.throws.get(key) ?? 0) + 1;
        this.throws.set(key, tries);
        this.apply(
          this.state.taskErred(w, key, {
            name: "Error",
            message: `boom ${key}`,
          }),
        );
        // Run again exactly while it has retries left (and is wanted).
        const retries = this.specs.get(key)!.retries ?? 0;
        const state = this.state.taskState(key);
        const again = state === "ready" || state === "processing";
        if (again) assert.ok(tries <= retries, `${key} retried too often`);
        if (tries <= retries && (this.wants.get(key) ?? 0) > 0) {
          assert.ok(again, `${key} not retried (try ${tries} of ${retries})`);
        }
        if (state === "erred" && !again) {
          assert.equal(this.state.errorOf(key)?.message, `boom ${key}`);
        }
        return;
      }
      case "lose": {
        // The last worker stays: a cluster with none only waits.
        if (live.length < 2) return;
        const w = live[event.pick % live.length];
        for (const key of this.running.get(w)!) {
          this.deaths.set(key, (this.deaths.get(key) ?? 0) + 1);
        }
        this.stores.delete(w);
        this.running.delete(w);
        this.apply(this.state.removeWorker(w));
        // Its late reports must change nothing.
        assert.deepEqual(this.state.taskFinished(w, this.keys[0], 1), []);
        return;
      }
      case "add":
        this.addWorker(event.nthreads, event.host);
        return;
      case "pause":
      case "resume": {
        if (live.length === 0) return;
        const status = event.kind === "pause" ? "paused" : "running";
        this.apply(
          this.state.updateWorker(live[event.pick % live.length], { status }),
        );
        return;
      }
      case "release": {
        const wanted = this.keys.filter((k) => (this.wants.get(k) ?? 0) > 0);
        if (wanted.length === 0) return;
        const key = wanted[event.pick % wanted.length];
        this.wants.set(key, this.wants.get(key)! - 1);
        this.apply(this.state.release([key]));
        return;
      }
      case "want": {
        // A client submits the graph again and wants one key of it.
        const key = this.keys[event.pick % this.keys.length];
        if (!this.specs.has(key) && this.state.taskState(key) === undefined) {
          return; // forgotten scattered data: nothing to submit
        }
        this.want(key);
        this.apply(this.state.submit([...this.specs.values()], [key]));
        return;
      }
      case "cancel": {
        const key = this.keys[event.pick % this.keys.length];
        this.apply(this.state.cancel([key]));
        const state = this.state.taskState(key);
        assert.ok(
          state === undefined || state === "released" || state === "erred",
          `cancelled ${key} is ${state}`,
        );
        return;
      }
      case "replicate": {
        const held = live.flatMap((w) =>
          [...this.stores.get(w)!].sort().map((k): [string, string] => [w, k])
        );
        if (held.length === 0 || live.length < 2) return;
        const [from, key] = held[event.pick % held.length];
        const to = live.filter((w) => w !== from)[event.to % (live.length - 1)];
        this.stores.get(to)!.add(key);
        this.apply(this.state.addReplica(key, to, nbytesOf(key)));
        return;
      }
      case "stale": {
        const candidates = this.past.filter(([w, k]) =>
          this.stores.has(w) && !this.running.get(w)!.has(k)
        );
        if (candidates.length === 0) return;
        const [w, key] = candidates[event.pick % candidates.length];
        if (event.asError) {
          const before = this.state.snapshot();
          const actions = this.state.taskErred(w, key, {
            name: "Error",
            message: "stale",
          });
          assert.deepEqual(actions, [], "a stale failure is ignored");
          assert.deepEqual(this.state.snapshot(), before);
        } else {
          this.stores.get(w)!.add(key);
          this.apply(this.state.taskFinished(w, key, nbytesOf(key)));
        }
        return;
      }
    }
  }

  /** Compares the scheduler with the simulated workers. */
  check(): void {
    this.state.validate();
    const snapshot = this.state.snapshot();
    assert.deepEqual(snapshot.workers.map((w) => w.id), this.live());
    for (const w of snapshot.workers) {
      // Same keys: nothing held that the scheduler released or lost track of.
      assert.deepEqual(
        w.keys,
        [...this.stores.get(w.id)!].sort(),
        `keys of ${w.id}`,
      );
      assert.deepEqual(
        w.processing,
        [...this.running.get(w.id)!].sort(),
        `processing on ${w.id}`,
      );
    }
    for (const key of this.keys) {
      const state = this.state.taskState(key);
      const holders = this.state.whoHas(key);
      if (state === "memory") assert.ok(holders.length > 0, `${key} unheld`);
      else assert.deepEqual(holders, [], `${key} (${state}) is held`);
      if (state === "processing") {
        assert.ok(
          this.stores.has(this.state.workerOf(key)!),
          `${key} on dead worker`,
        );
      }
      // A forgotten key submitted again is a new task with a new count.
      if (state === undefined) {
        this.deaths.delete(key);
        this.throws.delete(key);
      }
      if (state === undefined || state === "released") {
        for (const w of this.live()) {
          assert.ok(!this.stores.get(w)!.has(key), `released ${key} on ${w}`);
        }
      }
    }
  }

  /** Runs the cluster until nothing is left to do, without failures. */
  settle(): void {
    for (let guard = 0;; guard++) {
      assert.ok(guard < 5_000, "the cluster does not settle");
      if (this.live().length === 0) this.addWorker(1, 0);
      for (const w of this.state.snapshot().workers) {
        if (w.status === "paused") {
          this.apply(this.state.updateWorker(w.id, { status: "running" }));
        }
      }
      const runs = this.runs();
      if (runs.length === 0) break;
      this.finish(runs[0][0], runs[0][1], guard % 2 === 0);
      this.check();
    }
    const counts = this.state.snapshot().tasks;
    assert.equal(counts.waiting + counts.ready + counts.processing, 0);
    for (const key of this.keys) {
      const state = this.state.taskState(key);
      const wanted = (this.wants.get(key) ?? 0) > 0;
      if (wanted) {
        assert.ok(
          state === "memory" || state === "erred",
          `${key} is ${state}`,
        );
        assert.equal(this.told.get(key), state === "memory" ? "done" : "erred");
      } else if (state === "erred") {
        // Kept only for a failed dependent's sake.
        assert.ok(
          this.keys.some((k) =>
            this.deps.get(k)!.includes(key) &&
            this.state.taskState(k) === "erred"
          ),
          `${key} kept erred for nothing`,
        );
      } else {
        // Nothing is pending: an unwanted key is needed by nobody.
        assert.ok(state === undefined || state === "released", `${key} kept`);
      }
    }
  }
}

/** Keys some wanted key needs, transitively, including the wanted ones. */
function ancestry(cluster: Cluster, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const key = stack.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    stack.push(...cluster.deps.get(key)!);
  }
  return seen;
}

Deno.test("model: random graphs under failures, losses and releases settle", () => {
  fc.assert(
    fc.property(scenarioArb(anyEventArb), (scenario) => {
      const cluster = new Cluster(scenario);
      cluster.start();
      cluster.check();
      for (const event of scenario.events) {
        cluster.run(event);
        cluster.check();
      }
      cluster.settle();
    }),
    { numRuns: 400 },
  );
});

Deno.test("model: without failures or losses each task is computed once", () => {
  fc.assert(
    fc.property(scenarioArb(calmEventArb), (scenario) => {
      const cluster = new Cluster(scenario);
      cluster.start();
      for (const event of scenario.events) {
        cluster.run(event);
        cluster.check();
      }
      cluster.settle();
      const wanted = scenario.wanted.map((w) => keyOf(w % cluster.keys.length));
      const needed = ancestry(cluster, wanted);
      for (const key of cluster.keys) {
        const expected = needed.has(key) && cluster.specs.has(key) ? 1 : 0;
        assert.equal(
          cluster.computed.get(key) ?? 0,
          expected,
          `runs of ${key}`,
        );
        if (wanted.includes(key)) {
          assert.equal(cluster.state.taskState(key), "memory");
        }
      }
    }),
    { numRuns: 300 },
  );
});

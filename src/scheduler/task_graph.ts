/**
 * The task graph: one record per known key, the edges between them, and when
 * a record may be forgotten. It knows nothing of workers or transitions; the
 * state machine (`state.ts`) moves records between states.
 *
 * @module
 */
import type {
  TaskArg,
  TaskErrorInfo,
  TaskSpec,
  TaskState,
} from "../protocol/mod.ts";
import {
  cyclicDependencyError,
  invalidTaskError,
  unknownDependencyError,
} from "./errors.ts";

/**
 * The scheduler's record of one key. Mutable: the state machine owns it.
 *
 * What holds after every public call of the state machine (checked by its
 * `validate()`):
 * - `waiters` is exactly the dependents in `waiting`, `ready` or
 *   `processing`: those that need this key in memory.
 * - A task is *needed* when `wants > 0` or it has waiters. A `waiting` or
 *   `ready` task is always needed; a `processing` one may not be (it is left
 *   to finish); a needed task is never `released`. An `erred` task is
 *   wanted or has an erred dependent.
 * - `whoHas` is non-empty exactly when the state is `memory`.
 *
 * @example
 * ```ts
 * import { TaskGraph } from "./task_graph.ts";
 * const graph = new TaskGraph();
 * const [record] = graph.addSpecs([{ key: "a", module: "file:///ops.ts", exportName: "one", args: [] }]);
 * record.state; // "released": not needed yet
 * ```
 */
export interface TaskRecord {
  /** The key. */
  readonly key: string;
  /** How to compute it; `null` for scattered data, which cannot be. */
  readonly spec: TaskSpec | null;
  /** Current state. */
  state: TaskState;
  /** Dependencies, deduplicated, in argument order. */
  deps: readonly TaskRecord[];
  /** Every task in the graph that depends on this one. */
  readonly dependents: Set<TaskRecord>;
  /** Dependents that need this key in memory (see above). */
  readonly waiters: Set<TaskRecord>;
  /** While `waiting`: the dependencies not in memory yet. Empty otherwise. */
  readonly waitingOn: Set<TaskRecord>;
  /** Ids of the workers holding the result. */
  readonly whoHas: Set<string>;
  /** While `processing`: the worker it is assigned to. */
  processingOn: string | null;
  /** Size of the result in bytes (last reported). */
  nbytes: number;
  /** How many client futures want this key. */
  wants: number;
  /** How many workers died while this task was assigned to them. */
  suspicious: number;
  /**
   * How many times the task threw and was run again (at most the spec's
   * `retries`).
   */
  retried: number;
  /** While `erred`: the error clients see. */
  error: TaskErrorInfo | null;
  /** Set when the task can never run (unknown dependency, cycle, bad options). */
  invalid: TaskErrorInfo | null;
  /** Whether the record is in the ready queue (entries are removed lazily). */
  queued: boolean;
}

/**
 * The keys a task depends on: the `key` arguments and the `keys` of nested
 * arguments (futures inside containers), deduplicated, in order.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { dependencyKeys } from "./task_graph.ts";
 * deepEqual(dependencyKeys([{ key: "a" }, { value: 2 }, { key: "a" }, { key: "b" }]), ["a", "b"]);
 * deepEqual(dependencyKeys([{ value: [0, 0], keys: ["c", "a"] }, { key: "a" }]), ["c", "a"]);
 * ```
 */
export function dependencyKeys(args: readonly TaskArg[]): string[] {
  const keys = new Set<string>();
  for (const arg of args) {
    if ("key" in arg && typeof arg.key === "string") keys.add(arg.key);
    else if ("keys" in arg && Array.isArray(arg.keys)) {
      for (const key of arg.keys) {
        if (typeof key === "string") keys.add(key);
      }
    }
  }
  return [...keys];
}

/**
 * What is wrong with a spec's options, or `null`: `retries` must be an
 * integer ≥ 0 and `priority` a finite number (both may be absent).
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { optionProblem } from "./task_graph.ts";
 * const spec = { key: "a", module: "file:///ops.ts", exportName: "f", args: [] };
 * equal(optionProblem({ ...spec, retries: 2, priority: -1.5 }), null);
 * equal(optionProblem({ ...spec, retries: 0.5 }), "retries must be an integer >= 0, got 0.5");
 * ```
 */
export function optionProblem(spec: TaskSpec): string | null {
  const { retries, priority } = spec;
  if (
    retries !== undefined &&
    !(typeof retries === "number" && Number.isInteger(retries) && retries >= 0)
  ) {
    return `retries must be an integer >= 0, got ${String(retries)}`;
  }
  if (
    priority !== undefined &&
    !(typeof priority === "number" && Number.isFinite(priority))
  ) {
    return `priority must be a finite number, got ${String(priority)}`;
  }
  return null;
}

/**
 * The set of task records by key, with their edges.
 *
 * @example
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { TaskGraph } from "./task_graph.ts";
 * const graph = new TaskGraph();
 * graph.addSpecs([
 *   { key: "a", module: "file:///ops.ts", exportName: "one", args: [] },
 *   { key: "b", module: "file:///ops.ts", exportName: "inc", args: [{ key: "a" }] },
 * ]);
 * equal(graph.get("b")?.deps[0], graph.get("a"));
 * ```
 */
export class TaskGraph {
  readonly #tasks = new Map<string, TaskRecord>();

  /** Number of records. */
  get size(): number {
    return this.#tasks.size;
  }

  /**
   * The record of `key`, if known.
   *
   * @example
   * ```ts
   * import { TaskGraph } from "./task_graph.ts";
   * new TaskGraph().get("nope"); // undefined
   * ```
   */
  get(key: string): TaskRecord | undefined {
    return this.#tasks.get(key);
  }

  /**
   * Every record, in insertion order.
   *
   * @example
   * ```ts
   * import { TaskGraph } from "./task_graph.ts";
   * const graph = new TaskGraph();
   * graph.addScattered("x");
   * [...graph.records()].map((r) => r.key); // ["x"]
   * ```
   */
  records(): IterableIterator<TaskRecord> {
    return this.#tasks.values();
  }

  /**
   * A new record for scattered data (no spec, no dependencies), `released`
   * until the caller stores it. The key must not be known.
   *
   * @example
   * ```ts
   * import { TaskGraph } from "./task_graph.ts";
   * new TaskGraph().addScattered("x").spec; // null
   * ```
   */
  addScattered(key: string): TaskRecord {
    const record = newRecord(key, null);
    this.#tasks.set(key, record);
    return record;
  }

  /**
   * Adds the specs whose keys are unknown and links them to their
   * dependencies (which may come later in the same batch); known keys are
   * left as they are, with their first spec. The new records are `released`:
   * the caller activates those it needs. A new task with malformed options
   * ({@linkcode optionProblem}), that names an unknown key, or that sits on or
   * below a cycle among the new tasks, gets `invalid` and no
   * dependency edges, so that activating it fails it at once. Cycles can only
   * be among new tasks: a known task never depends on a new one.
   *
   * Cost: O(tasks + edges) of the batch.
   *
   * @returns The new records, in batch order.
   *
   * @example
   * ```ts
   * import { equal } from "node:assert/strict";
   * import { TaskGraph } from "./task_graph.ts";
   * const graph = new TaskGraph();
   * const [bad] = graph.addSpecs([{ key: "b", module: "file:///ops.ts", exportName: "inc", args: [{ key: "gone" }] }]);
   * equal(bad.invalid?.name, "UnknownDependency");
   * ```
   */
  addSpecs(specs: readonly TaskSpec[]): TaskRecord[] {
    const fresh = new Map<string, TaskRecord>();
    for (const spec of specs) {
      if (this.#tasks.has(spec.key) || fresh.has(spec.key)) continue;
      fresh.set(spec.key, newRecord(spec.key, spec));
    }
    const lookup = (key: string) => this.#tasks.get(key) ?? fresh.get(key);
    const depKeys = new Map<TaskRecord, string[]>();
    for (const record of fresh.values()) {
      const problem = optionProblem(record.spec!);
      if (problem !== null) {
        record.invalid = invalidTaskError(record.key, problem);
        continue;
      }
      const keys = dependencyKeys(record.spec!.args);
      const unknown = keys.find((key) => lookup(key) === undefined);
      if (unknown === undefined) depKeys.set(record, keys);
      else record.invalid = unknownDependencyError(record.key, unknown);
    }
    this.#markCycles(fresh, depKeys);
    for (const [record, keys] of depKeys) {
      if (record.invalid !== null) continue;
      record.deps = keys.map((key) => lookup(key)!);
      for (const dep of record.deps) dep.dependents.add(record);
    }
    for (const record of fresh.values()) this.#tasks.set(record.key, record);
    return [...fresh.values()];
  }

  /**
   * Forgets `record` if it is released, unwanted and no task depends on it,
   * then does the same for its dependencies (which may have been kept only to
   * recompute it). A no-op for a record already forgotten.
   *
   * @example
   * ```ts
   * import { equal } from "node:assert/strict";
   * import { TaskGraph } from "./task_graph.ts";
   * const graph = new TaskGraph();
   * graph.forgetIfUnused(graph.addScattered("x"));
   * equal(graph.get("x"), undefined);
   * ```
   */
  forgetIfUnused(record: TaskRecord): void {
    const stack = [record];
    while (stack.length > 0) {
      const task = stack.pop()!;
      if (
        task.state !== "released" || task.wants > 0 ||
        task.dependents.size > 0 || this.#tasks.get(task.key) !== task
      ) continue;
      this.#tasks.delete(task.key);
      for (const dep of task.deps) {
        dep.dependents.delete(task);
        stack.push(dep);
      }
    }
  }

  /** Kahn's algorithm over the new tasks; what it cannot order is cyclic. */
  #markCycles(
    fresh: ReadonlyMap<string, TaskRecord>,
    depKeys: ReadonlyMap<TaskRecord, readonly string[]>,
  ): void {
    const pending = new Map<TaskRecord, number>();
    const freshDependents = new Map<TaskRecord, TaskRecord[]>();
    for (const [record, keys] of depKeys) {
      let count = 0;
      for (const key of keys) {
        const dep = fresh.get(key);
        if (dep === undefined) continue;
        count++;
        const list = freshDependents.get(dep);
        if (list === undefined) freshDependents.set(dep, [record]);
        else list.push(record);
      }
      pending.set(record, count);
    }
    // Invalid new tasks have no outgoing edges: they are sources too.
    const ordered = [...fresh.values()].filter((r) =>
      (pending.get(r) ?? 0) === 0
    );
    for (let i = 0; i < ordered.length; i++) {
      for (const dependent of freshDependents.get(ordered[i]) ?? []) {
        const left = pending.get(dependent)! - 1;
        pending.set(dependent, left);
        if (left === 0) ordered.push(dependent);
      }
    }
    for (const [record, left] of pending) {
      if (left > 0) record.invalid = cyclicDependencyError(record.key);
    }
  }
}

function newRecord(key: string, spec: TaskSpec | null): TaskRecord {
  return {
    key,
    spec,
    state: "released",
    deps: [],
    dependents: new Set(),
    waiters: new Set(),
    waitingOn: new Set(),
    whoHas: new Set(),
    processingOn: null,
    nbytes: 0,
    wants: 0,
    suspicious: 0,
    retried: 0,
    error: null,
    invalid: null,
    queued: false,
  };
}

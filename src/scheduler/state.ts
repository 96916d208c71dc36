/**
 * The scheduler's state machine: the task graph, each task's state, who holds
 * each key, and each worker's load. Pure logic: the networked scheduler feeds
 * it events and carries out the actions it returns.
 *
 * @module
 */
import type {
  ErrorInfo,
  SchedulerSnapshot,
  TaskErrorInfo,
  TaskSpec,
  TaskState,
} from "../protocol/mod.ts";
import { PriorityQueue } from "./priority_queue.ts";
import {
  cancelledError,
  inheritedError,
  killedWorkerError,
  lostDataError,
  ownError,
  unknownKeyError,
} from "./errors.ts";
import {
  chooseWorker,
  type PlacementInput,
  type PlacementOptions,
} from "./placement.ts";
import { TaskGraph, type TaskRecord } from "./task_graph.ts";
import type { Action, ReleaseAction, WorkerInfo } from "./types.ts";
import type {
  AddDataOptions,
  RemoveWorkerOptions,
  SchedulerOptions,
  WorkerUpdate,
} from "./scheduler_options.ts";
import { countByFunction, takeSnapshot } from "./snapshot.ts";
import { findInconsistencies } from "./validate.ts";
import {
  createWorkerRecord,
  recordDuration,
  takesWork,
  type WorkerRecord,
} from "./worker_record.ts";

/**
 * The scheduler's state machine. Every mutating method returns the actions
 * to carry out, in order; queries never change anything.
 *
 * What holds between calls (see `validate`):
 * - A key in `memory` has at least one holder, and every holder is a
 *   registered worker; a key in any other state has none.
 * - A `processing` task is assigned to a registered worker, and all its
 *   inputs are in memory.
 * - A key is released everywhere once no client wants it and no `waiting`,
 *   `ready` or `processing` task needs it; releasing it may release its own
 *   inputs in turn.
 * - A ready task waits in the queue only while every running worker is at
 *   its in-flight limit.
 *
 * Decisions worth knowing:
 * - A key names a computation: re-submitting a known key (in any state but
 *   forgotten) reuses the existing task, even if the new spec differs.
 * - A `processing` task nobody wants any more is left to finish (the worker
 *   is already running it and may still need its inputs) and released when it
 *   reports; its inputs stay until then.
 * - Worker reports that no longer match the state (the task was reassigned,
 *   cancelled or released; the worker was removed) change nothing, except
 *   that a result the scheduler does not track is released on that worker,
 *   and a late result of a key already in memory is kept as a replica.
 * - An erred key is kept while a client wants it or a task that depends on
 *   it is erred too (so a new dependent fails at once rather than running it
 *   again); then it is released, and wanting it later runs it again, unless
 *   it is a task whose workers died `allowedFailures` times: that one fails
 *   again at once for as long as the scheduler remembers the key.
 * - A ready task goes to the best worker *with room* (running, below its
 *   in-flight limit): when the worker holding its inputs is saturated, the
 *   task runs elsewhere now rather than waiting for that worker.
 * - Ready tasks leave the queue by their spec's `priority` (higher first),
 *   in the order they became ready among equals.
 * - A task that throws while it has `retries` left is ready again (placed
 *   on any worker, possibly the same one); the count of tries it used lives
 *   as long as its record. Worker deaths count apart (`allowedFailures`).
 * - A cancelled key is erred with a `CancelledError` (kept while wanted, so
 *   that its futures and new dependents fail at once), and so, with the
 *   inherited error, are its waiting, ready and processing dependents;
 *   a processing one is cancelled on its worker, a result is released.
 * - `task-done` and `task-erred` are emitted for keys some client wants,
 *   when they reach memory or fail, and again by `submit` for wanted keys
 *   that are there already.
 *
 * @example A chain on one worker
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { SchedulerState } from "./state.ts";
 *
 * const state = new SchedulerState();
 * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 2 ** 30 });
 * const [run] = state.submit([
 *   { key: "a", module: "file:///ops.ts", exportName: "load", args: [{ value: 0 }] },
 *   { key: "b", module: "file:///ops.ts", exportName: "double", args: [{ key: "a" }] },
 * ], ["b"]);
 * equal(run.type === "compute" && run.key, "a");
 * state.taskFinished("w1", "a", 8); // compute b on w1
 * equal(state.taskState("b"), "processing");
 * state.taskFinished("w1", "b", 8); // task-done b, release a
 * equal(state.taskState("b"), "memory");
 * ```
 */
export class SchedulerState {
  readonly #graph = new TaskGraph();
  readonly #workers = new Map<string, WorkerRecord>();
  readonly #queue = new PriorityQueue<TaskRecord>();
  readonly #allowedFailures: number;
  readonly #tasksPerThread: number;
  readonly #placement: PlacementOptions;
  #out: Action[] = [];
  // Release actions of the current call, by worker: keys are appended to the
  // worker's first release action so that a cascade sends one message.
  #releases = new Map<string, string[]>();

  /**
   * An empty scheduler state: no tasks, no workers.
   *
   * @param options See {@linkcode SchedulerOptions}.
   * @throws {RangeError} If `allowedFailures` or `tasksPerThread` is not an
   *   integer ≥ 1.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState({ allowedFailures: 3, tasksPerThread: 2 });
   * ```
   */
  constructor(options: SchedulerOptions = {}) {
    this.#allowedFailures = positiveInteger(
      "allowedFailures",
      options.allowedFailures ?? 3,
    );
    this.#tasksPerThread = positiveInteger(
      "tasksPerThread",
      options.tasksPerThread ?? 2,
    );
    this.#placement = { ...options.placement };
  }

  // ---------------------------------------------------------------- workers

  /**
   * Registers a worker and gives it queued ready tasks. A known id is first
   * removed (as if it had disconnected): its keys are lost.
   *
   * @throws {TypeError | RangeError} If the info is malformed.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 2, memoryLimit: 2 ** 30 }); // []
   * ```
   */
  addWorker(info: WorkerInfo): Action[] {
    const record = createWorkerRecord(info);
    if (this.#workers.has(record.id)) this.#removeWorker(record.id, false);
    this.#workers.set(record.id, record);
    return this.#finish();
  }

  /**
   * Removes a worker that disconnected, missed its heartbeats or retired.
   * The keys only it held are lost: those still needed are computed again,
   * along with whatever of their inputs is gone too. The tasks assigned to
   * it go back to the queue, and unless the removal is graceful each counts
   * one more death; a task whose count reaches `allowedFailures` fails with
   * a `KilledWorker` error instead, and so does any later attempt to run it
   * while the scheduler remembers the key. Unknown ids are ignored.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [] }], ["a"]);
   * state.removeWorker("w1"); // [] for now: a is ready again, with no worker
   * state.taskState("a"); // "ready"
   * ```
   */
  removeWorker(id: string, options: RemoveWorkerOptions = {}): Action[] {
    this.#removeWorker(id, options.graceful ?? false);
    return this.#finish();
  }

  /**
   * Records a worker's new status or store size. A paused worker gets no new
   * tasks (it keeps those it has); resuming gives it queued ready tasks.
   * Unknown ids are ignored.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.updateWorker("w1", { status: "paused", managedBytes: 1024 });
   * ```
   */
  updateWorker(id: string, update: WorkerUpdate): Action[] {
    const worker = this.#workers.get(id);
    if (worker !== undefined) {
      if (update.status !== undefined) worker.status = update.status;
      if (update.managedBytes !== undefined) {
        worker.managedBytes = update.managedBytes;
      }
    }
    return this.#finish();
  }

  // ------------------------------------------------------------------ graph

  /**
   * Adds tasks and records one client want for each key of `wanted` (a key
   * listed twice is wanted twice: one count per future). Known keys are
   * reused as they are, whatever the new spec says: a key names a
   * computation. Tasks that are not wanted and that no wanted task needs are
   * dropped. Ready tasks are placed.
   *
   * Failures come back as `task-erred` actions, not exceptions: a task that
   * names an unknown key, or sits on a dependency cycle, fails (and so do its
   * dependents); a task whose dependency is already erred fails at once; a
   * wanted key that is neither known nor submitted fails with `UnknownKey`.
   *
   * @param tasks Specs, in any order (a dependency may come after its
   *   dependent).
   * @param wanted Keys clients hold futures for.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [{ key: "nope" }] }], ["a"]);
   * // [{ type: "task-erred", key: "a", error: { name: "UnknownDependency", ... } }]
   * ```
   */
  submit(tasks: readonly TaskSpec[], wanted: readonly string[]): Action[] {
    const fresh = this.#graph.addSpecs(tasks);
    const toActivate: TaskRecord[] = [];
    const announced = new Set<string>();
    for (const key of wanted) {
      const task = this.#graph.get(key);
      if (task === undefined) {
        if (!announced.has(key)) {
          this.#out.push({
            type: "task-erred",
            key,
            error: unknownKeyError(key),
          });
        }
        announced.add(key);
        continue;
      }
      task.wants++;
      if (announced.has(key)) continue;
      announced.add(key);
      if (task.state === "memory") {
        this.#out.push({ type: "task-done", key, nbytes: task.nbytes });
      } else if (task.state === "erred") {
        this.#out.push({ type: "task-erred", key, error: task.error! });
      } else if (task.state === "released") {
        toActivate.push(task);
      }
    }
    // Wants are all counted before anything moves, so that no cascade sees a
    // key as unwanted half-way through.
    for (const task of toActivate) this.#activate(task);
    for (const task of fresh) this.#graph.forgetIfUnused(task);
    return this.#finish();
  }

  /**
   * Clients dropped futures: one want less for each key listed. A key no
   * client wants and no pending task needs is released everywhere, and so in
   * turn are its inputs that nothing else needs. A processing task is left
   * to finish and released when it reports. Keys without wants are ignored.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.addData("x", ["w1"], 8);
   * state.release(["x"]); // [{ type: "release", worker: "w1", keys: ["x"] }]
   * ```
   */
  release(keys: readonly string[]): Action[] {
    const unwanted: TaskRecord[] = [];
    for (const key of keys) {
      const task = this.#graph.get(key);
      if (task === undefined || task.wants === 0) continue;
      task.wants--;
      if (task.wants === 0) unwanted.push(task);
    }
    this.#releaseUnneeded(unwanted);
    return this.#finish();
  }

  /**
   * Clients cancelled keys. Each known key that is waiting, ready,
   * processing or in memory fails with a `CancelledError`: a queued task is
   * dropped, a processing one is cancelled on its worker (a `cancel`
   * action), a result is released on its holders. Its waiting, ready and
   * processing dependents fail with the inherited error (processing ones are
   * cancelled too); inputs nothing else needs are released. The key stays
   * erred while a client wants it. Unknown, released and erred keys are
   * left as they are.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [] }], ["a"]);
   * state.cancel(["a"]);
   * // [{ type: "cancel", worker: "w1", key: "a" },
   * //  { type: "task-erred", key: "a", error: { name: "CancelledError", ... } }]
   * ```
   */
  cancel(keys: readonly string[]): Action[] {
    for (const key of new Set(keys)) {
      const task = this.#graph.get(key);
      if (task === undefined) continue;
      switch (task.state) {
        case "memory":
          // Its holders let go first; then it fails like a pending task.
          for (const id of task.whoHas) {
            this.#workers.get(id)?.hasWhat.delete(task.key);
            this.#releaseOn(id, task.key);
          }
          task.whoHas.clear();
          task.state = "released";
          this.#fail(task, cancelledError(key));
          break;
        case "waiting":
        case "ready":
        case "processing":
          this.#fail(task, cancelledError(key));
          break;
        case "erred":
        case "released":
          break;
      }
    }
    return this.#finish();
  }

  // ---------------------------------------------------------------- reports

  /**
   * A worker computed `key` and stores `nbytes` bytes of result. Dependents
   * whose inputs are now all in memory become ready; inputs nothing needs
   * any more are released. A stale report (the task is not processing on
   * that worker) changes nothing, except: a late copy of a key in memory is
   * kept as a replica, and any other result is released on that worker.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [] }], ["a"]);
   * state.taskFinished("w1", "a", 8); // [{ type: "task-done", key: "a", nbytes: 8 }]
   * ```
   *
   * `seconds`, how long the task ran, feeds the worker's mean task
   * duration: a worker running very short tasks is given more at once (see
   * `inFlightLimit`).
   */
  taskFinished(
    worker: string,
    key: string,
    nbytes: number,
    seconds?: number,
  ): Action[] {
    const holder = this.#workers.get(worker);
    if (holder !== undefined) {
      if (seconds !== undefined) recordDuration(holder, seconds);
      const task = this.#graph.get(key);
      if (task?.state === "processing" && task.processingOn === worker) {
        const settled: TaskRecord[] = [];
        this.#leaveActive(task, settled);
        this.#storeResult(task, [holder], nbytes);
        settled.push(task);
        this.#releaseUnneeded(settled);
      } else if (task?.state === "memory") {
        this.#addHolder(task, holder);
      } else {
        this.#releaseOn(worker, key);
      }
    }
    return this.#finish();
  }

  /**
   * A worker's task threw. A needed task with tries left (its spec's
   * `retries`) is ready again, to run on any worker. Otherwise the task
   * fails with the remote error (the last try's), and every task waiting on
   * it fails with `dependency failed: <key>: <message>` (same name and
   * stack). Its inputs are released if nothing else needs them. Stale
   * reports are ignored.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [] }], ["a"]);
   * state.taskErred("w1", "a", { name: "Error", message: "boom" });
   * // [{ type: "task-erred", key: "a", error: { name: "Error", message: "boom", key: "a" } }]
   * ```
   */
  taskErred(worker: string, key: string, error: ErrorInfo): Action[] {
    const task = this.#graph.get(key);
    if (
      this.#workers.has(worker) && task?.state === "processing" &&
      task.processingOn === worker
    ) {
      // The worker is done with it: no cancel goes back there.
      this.#unassign(task);
      if (this.#needed(task) && task.retried < (task.spec?.retries ?? 0)) {
        task.retried++;
        // Still a waiter of its inputs, which are all in memory.
        this.#makeReady(task);
      } else this.#fail(task, ownError(key, error));
    }
    return this.#finish();
  }

  /**
   * Scattered data: `key` is in memory on `workers` (unknown ids are
   * skipped). A new key becomes a task with no spec, which cannot be
   * recomputed: if every holder leaves while it is needed, it fails with
   * `LostData`. A known key is set to this value, whatever its state (a
   * task assigned to a worker is cancelled there). With no known holder the
   * data is lost at once.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.addData("x", ["w1"], 1024); // [{ type: "task-done", key: "x", nbytes: 1024 }]
   * state.whoHas("x"); // ["w1"]
   * ```
   */
  addData(
    key: string,
    workers: readonly string[],
    nbytes: number,
    options: AddDataOptions = {},
  ): Action[] {
    const holders = [...new Set(workers)]
      .map((id) => this.#workers.get(id))
      .filter((worker) => worker !== undefined);
    const task = this.#graph.get(key) ?? this.#graph.addScattered(key);
    if (options.want ?? true) task.wants++;
    if (task.state === "memory") {
      for (const holder of holders) this.#addHolder(task, holder);
    } else {
      const settled: TaskRecord[] = [];
      const assignedTo = task.processingOn;
      this.#leaveActive(task, settled);
      if (assignedTo !== null) {
        this.#out.push({ type: "cancel", worker: assignedTo, key });
      }
      task.error = null;
      if (holders.length > 0) {
        this.#storeResult(task, holders, nbytes);
      } else {
        task.state = "released";
        this.#activate(task);
      }
      settled.push(task);
      this.#releaseUnneeded(settled);
    }
    return this.#finish();
  }

  /**
   * A worker fetched a copy of `key` from a peer. If the key is not in
   * memory any more (released meanwhile), the copy is released on that
   * worker. Unknown workers are ignored.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.addWorker({ id: "w2", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.addData("x", ["w1"], 8);
   * state.addReplica("x", "w2", 8);
   * state.whoHas("x"); // ["w1", "w2"]
   * ```
   */
  addReplica(key: string, worker: string, nbytes: number): Action[] {
    const holder = this.#workers.get(worker);
    if (holder !== undefined) {
      const task = this.#graph.get(key);
      if (task?.state === "memory") {
        this.#addHolder(task, holder);
        task.nbytes = nbytes;
      } else {
        this.#releaseOn(worker, key);
      }
    }
    return this.#finish();
  }

  // ---------------------------------------------------------------- queries

  /**
   * State of `key`, or `undefined` if it is unknown or forgotten (a released
   * key nothing depends on is forgotten).
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().taskState("a"); // undefined
   * ```
   */
  taskState(key: string): TaskState | undefined {
    return this.#graph.get(key)?.state;
  }

  /**
   * Workers holding `key`, sorted by id.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().whoHas("a"); // []
   * ```
   */
  whoHas(key: string): string[] {
    return [...this.#graph.get(key)?.whoHas ?? []].sort();
  }

  /**
   * Worker `key` is assigned to while it is processing.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().workerOf("a"); // undefined
   * ```
   */
  workerOf(key: string): string | undefined {
    return this.#graph.get(key)?.processingOn ?? undefined;
  }

  /**
   * The size in bytes of `key`'s result as its worker reported it (0 when
   * unknown or not computed).
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().nbytesOf("a"); // 0
   * ```
   */
  nbytesOf(key: string): number {
    return this.#graph.get(key)?.nbytes ?? 0;
  }

  /**
   * Why `key` is erred, if it is.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().errorOf("a"); // undefined
   * ```
   */
  errorOf(key: string): TaskErrorInfo | undefined {
    return this.#graph.get(key)?.error ?? undefined;
  }

  /**
   * Task counts by state, the queue length, and each worker's tasks and keys.
   * O(tasks + keys held).
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.addWorker({ id: "w1", host: "h1", nthreads: 1, memoryLimit: 0 });
   * state.snapshot().workers[0].processing; // []
   * ```
   */
  snapshot(): SchedulerSnapshot {
    return takeSnapshot(this.#graph, this.#workers);
  }

  /**
   * Tasks by state per task function (export name). O(tasks).
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * const state = new SchedulerState();
   * state.submit([{ key: "a", module: "file:///ops.ts", exportName: "f", args: [] }], ["a"]);
   * state.countsByFunction().f.ready; // 1
   * ```
   */
  countsByFunction(): Record<string, Record<TaskState, number>> {
    return countByFunction(this.#graph);
  }

  /**
   * Checks every invariant of the state (O(tasks + edges + workers)); for
   * tests and debugging.
   *
   * @throws {Error} Listing every inconsistency found.
   *
   * @example
   * ```ts
   * import { SchedulerState } from "./state.ts";
   * new SchedulerState().validate();
   * ```
   */
  validate(): void {
    const problems = findInconsistencies(
      this.#graph,
      this.#workers,
      this.#tasksPerThread,
    );
    if (problems.length > 0) {
      throw new Error(
        `scheduler state is inconsistent:\n${problems.join("\n")}`,
      );
    }
  }

  // ------------------------------------------------------------ transitions

  #needed(task: TaskRecord): boolean {
    return task.wants > 0 || task.waiters.size > 0;
  }

  /**
   * Brings needed released tasks back to life: waiting on the inputs not in
   * memory (activating those that are released too: a lost key's inputs may
   * have been released long ago), or ready. Iterative, so that a long chain
   * does not exhaust the stack.
   */
  #activate(start: TaskRecord): void {
    const stack = [start];
    while (stack.length > 0) {
      const task = stack.pop()!;
      if (task.state !== "released" || !this.#needed(task)) continue;
      const failure = task.invalid ??
        (task.spec === null ? lostDataError(task.key) : null) ??
        // Once at the limit a task never runs again, even if it was released
        // in between (its record, and so its count, lives until forgotten).
        (task.suspicious >= this.#allowedFailures
          ? killedWorkerError(task.key, task.suspicious)
          : null) ??
        failedInput(task);
      if (failure !== null) {
        this.#fail(task, failure);
        continue;
      }
      // Pushed last to first, so that inputs are activated (and become
      // ready) in argument order.
      for (let i = task.deps.length - 1; i >= 0; i--) {
        const dep = task.deps[i];
        // Registered as a waiter first: if the input fails while being
        // activated, the failure reaches this task.
        dep.waiters.add(task);
        if (dep.state !== "memory") task.waitingOn.add(dep);
        if (dep.state === "released") stack.push(dep);
      }
      if (task.waitingOn.size === 0) this.#makeReady(task);
      else task.state = "waiting";
    }
  }

  #makeReady(task: TaskRecord): void {
    task.state = "ready";
    task.waitingOn.clear();
    if (!task.queued) {
      task.queued = true;
      this.#queue.push(task, task.spec?.priority ?? 0);
    }
  }

  /**
   * Undoes what being waiting/ready/processing set up: the assignment and
   * the waiter registrations. The inputs go to `settled`, to be released if
   * nothing else needs them.
   */
  #leaveActive(task: TaskRecord, settled: TaskRecord[]): void {
    if (task.state === "processing") this.#unassign(task);
    if (
      task.state === "waiting" || task.state === "ready" ||
      task.state === "processing"
    ) {
      task.waitingOn.clear();
      for (const dep of task.deps) {
        dep.waiters.delete(task);
        settled.push(dep);
      }
    }
  }

  #unassign(task: TaskRecord): void {
    if (task.processingOn !== null) {
      this.#workers.get(task.processingOn)?.processing.delete(task.key);
    }
    task.processingOn = null;
  }

  /** `task` is in memory on `holders`: its waiting dependents may be ready. */
  #storeResult(
    task: TaskRecord,
    holders: readonly WorkerRecord[],
    nbytes: number,
  ): void {
    task.state = "memory";
    task.nbytes = nbytes;
    for (const holder of holders) this.#addHolder(task, holder);
    if (task.wants > 0) {
      this.#out.push({ type: "task-done", key: task.key, nbytes });
    }
    for (const dependent of task.waiters) {
      if (dependent.state !== "waiting") continue;
      dependent.waitingOn.delete(task);
      if (dependent.waitingOn.size === 0) this.#makeReady(dependent);
    }
  }

  #addHolder(task: TaskRecord, worker: WorkerRecord): void {
    task.whoHas.add(worker.id);
    worker.hasWhat.add(task.key);
  }

  /**
   * Fails `start` with `error` and every task waiting on it, transitively,
   * with the inherited error; then releases what they no longer need. A
   * failed task still assigned to a worker is cancelled there.
   */
  #fail(start: TaskRecord, error: TaskErrorInfo): void {
    const stack: [TaskRecord, TaskErrorInfo][] = [[start, error]];
    const settled: TaskRecord[] = [];
    while (stack.length > 0) {
      const [task, reason] = stack.pop()!;
      if (task.state === "erred" || task.state === "memory") continue;
      const assignedTo = task.state === "processing" ? task.processingOn : null;
      if (assignedTo !== null && this.#workers.has(assignedTo)) {
        this.#out.push({ type: "cancel", worker: assignedTo, key: task.key });
      }
      this.#leaveActive(task, settled);
      task.state = "erred";
      task.error = reason;
      if (task.wants > 0) {
        this.#out.push({ type: "task-erred", key: task.key, error: reason });
      }
      const inherited = inheritedError(reason, task.key);
      for (const dependent of task.waiters) stack.push([dependent, inherited]);
      settled.push(task);
    }
    this.#releaseUnneeded(settled);
  }

  /**
   * Releases every task of `candidates` that is not needed (and, if erred,
   * has no erred dependent), cascading to its inputs, and forgets what
   * nothing depends on any more.
   */
  #releaseUnneeded(candidates: readonly TaskRecord[]): void {
    const stack = [...candidates];
    while (stack.length > 0) {
      const task = stack.pop()!;
      if (this.#needed(task) || keepsFailure(task)) continue;
      switch (task.state) {
        case "processing":
          // Left to finish: see the class notes.
          continue;
        case "waiting":
        case "ready":
          this.#leaveActive(task, stack);
          break;
        case "memory":
          for (const id of task.whoHas) {
            this.#workers.get(id)?.hasWhat.delete(task.key);
            this.#releaseOn(id, task.key);
          }
          task.whoHas.clear();
          break;
        case "erred":
          task.error = null;
          // Its inputs may be erred, kept only for this task's failure.
          stack.push(...task.deps);
          break;
        case "released":
          break;
      }
      task.state = "released";
      this.#graph.forgetIfUnused(task);
    }
  }

  #releaseOn(worker: string, key: string): void {
    const keys = this.#releases.get(worker);
    if (keys !== undefined) {
      keys.push(key);
      return;
    }
    const fresh = [key];
    this.#releases.set(worker, fresh);
    const action: ReleaseAction = { type: "release", worker, keys: fresh };
    this.#out.push(action);
  }

  #removeWorker(id: string, graceful: boolean): void {
    const worker = this.#workers.get(id);
    if (worker === undefined) return;
    this.#workers.delete(id);
    const assigned = [...worker.processing];
    const held = [...worker.hasWhat];
    worker.processing.clear();
    worker.hasWhat.clear();
    // Every lost key is marked before anything else moves, so that no
    // cascade below takes a lost key for a live input or releases it on the
    // removed worker.
    const lost: TaskRecord[] = [];
    const settled: TaskRecord[] = [];
    for (const key of held) {
      const task = this.#graph.get(key)!;
      task.whoHas.delete(id);
      if (task.whoHas.size === 0) {
        this.#markLost(task, settled);
        lost.push(task);
      }
    }
    for (const key of assigned) {
      const task = this.#graph.get(key);
      if (task === undefined) continue;
      // Still processing here, or already sent back to waiting because an
      // input was lost with this worker: either way it died with it.
      if (task.processingOn === id) this.#unassign(task);
      if (!graceful) task.suspicious++;
      if (!this.#needed(task)) {
        // Left to finish, and now it never will: release it.
        if (task.state === "processing") this.#makeReady(task);
        settled.push(task);
      } else if (task.suspicious >= this.#allowedFailures) {
        this.#fail(task, killedWorkerError(key, task.suspicious));
      } else if (task.state === "processing") {
        // Its inputs were all in memory, and none was lost (see above).
        this.#makeReady(task);
      }
    }
    // Tasks nobody wants that were sent back to waiting go first, so that
    // no lost key is computed again only for them.
    this.#releaseUnneeded(settled);
    for (const task of lost) this.#activate(task);
    this.#releaseUnneeded(lost);
  }

  /**
   * A key in memory lost its last holder: it is released, and the tasks
   * that needed it wait for it again (one processing on another worker is
   * cancelled there: it can no longer fetch the input). They go to
   * `settled`: one that nobody wants any more is released by the caller.
   */
  #markLost(task: TaskRecord, settled: TaskRecord[]): void {
    task.state = "released";
    for (const dependent of task.waiters) {
      // One left to finish for nobody is released rather than rerun.
      settled.push(dependent);
      if (dependent.state === "processing") {
        const worker = dependent.processingOn!;
        this.#unassign(dependent);
        if (this.#workers.has(worker)) {
          this.#out.push({ type: "cancel", worker, key: dependent.key });
        }
      }
      dependent.state = "waiting";
      dependent.waitingOn.add(task);
    }
  }

  /**
   * Gives queued ready tasks to workers with room, in queue order (priority,
   * then readiness). Each placement costs O(inputs' holders + workers) plus
   * O(log queue) to take it from the queue, so draining n tasks is
   * O(n · (workers + log n)), never O(n²).
   */
  #placeQueued(): void {
    if (this.#queue.size === 0) return;
    const candidates = [...this.#workers.values()].filter((worker) =>
      takesWork(worker, this.#tasksPerThread)
    );
    while (candidates.length > 0) {
      const task = this.#queue.shift();
      if (task === undefined) break;
      task.queued = false;
      // Entries are removed lazily: skip those that left `ready`.
      if (task.state !== "ready") continue;
      const worker = chooseWorker(
        this.#inputsOf(task),
        candidates,
        this.#placement,
      )!;
      this.#assign(task, worker);
      if (!takesWork(worker, this.#tasksPerThread)) {
        candidates.splice(candidates.indexOf(worker), 1);
      }
    }
  }

  #inputsOf(task: TaskRecord): PlacementInput[] {
    return task.deps.map((dep) => ({
      nbytes: dep.nbytes,
      holders: [...dep.whoHas].map((id) => this.#workers.get(id)!),
    }));
  }

  #assign(task: TaskRecord, worker: WorkerRecord): void {
    task.state = "processing";
    task.processingOn = worker.id;
    worker.processing.add(task.key);
    const who: Record<string, string[]> = {};
    for (const dep of task.deps) who[dep.key] = [...dep.whoHas].sort();
    const spec = task.spec!;
    this.#out.push({
      type: "compute",
      worker: worker.id,
      key: task.key,
      module: spec.module,
      exportName: spec.exportName,
      args: spec.args,
      who,
    });
  }

  /** Ends a public call: places what it made ready, hands over the actions. */
  #finish(): Action[] {
    this.#placeQueued();
    const out = this.#out;
    this.#out = [];
    this.#releases = new Map();
    return out;
  }
}

/**
 * An erred task stays erred, even unwanted, while a task that depends on it
 * is erred too: a task submitted on it, or a lost key that needs it, then
 * fails at once instead of running it again (a task that killed its workers
 * would otherwise kill one more per new dependent).
 */
function keepsFailure(task: TaskRecord): boolean {
  if (task.state !== "erred") return false;
  for (const dependent of task.dependents) {
    if (dependent.state === "erred") return true;
  }
  return false;
}

/** The error a task inherits from its first erred input, if any. */
function failedInput(task: TaskRecord): TaskErrorInfo | null {
  for (const dep of task.deps) {
    if (dep.state === "erred") return inheritedError(dep.error!, dep.key);
  }
  return null;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be an integer >= 1, got ${value}`);
  }
  return value;
}

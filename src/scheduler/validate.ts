/**
 * Every invariant of the scheduler's state, checked from the outside: the
 * state machine's `validate()` and the tests rely on it. Slow (it walks the
 * whole graph); never called on the hot path.
 *
 * @module
 */
import type { TaskGraph, TaskRecord } from "./task_graph.ts";
import {
  MAX_TASKS_PER_THREAD,
  takesWork,
  type WorkerRecord,
} from "./worker_record.ts";

const ACTIVE = new Set(["waiting", "ready", "processing"]);

/**
 * Lists every broken invariant of a graph and its workers (an empty list
 * means the state is consistent). See `TaskRecord` and `SchedulerState` for
 * what is meant to hold.
 *
 * @param graph The task graph.
 * @param workers Registered workers by id.
 * @param tasksPerThread The in-flight bound per thread.
 * @returns One line per problem.
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { TaskGraph } from "./task_graph.ts";
 * import { findInconsistencies } from "./validate.ts";
 * deepEqual(findInconsistencies(new TaskGraph(), new Map(), 2), []);
 * ```
 */
export function findInconsistencies(
  graph: TaskGraph,
  workers: ReadonlyMap<string, WorkerRecord>,
  tasksPerThread: number,
): string[] {
  const problems: string[] = [];
  let anyReady = false;
  for (const task of graph.records()) {
    if (task.state === "ready") anyReady = true;
    checkTask(task, graph, workers, problems);
  }
  for (const worker of workers.values()) {
    checkWorker(worker, graph, tasksPerThread, problems);
    if (anyReady && takesWork(worker, tasksPerThread)) {
      problems.push(
        `worker ${worker.id} has room while ready tasks wait in the queue`,
      );
    }
  }
  return problems;
}

function checkTask(
  task: TaskRecord,
  graph: TaskGraph,
  workers: ReadonlyMap<string, WorkerRecord>,
  problems: string[],
): void {
  const say = (what: string) =>
    problems.push(`task ${task.key} (${task.state}): ${what}`);
  const needed = task.wants > 0 || task.waiters.size > 0;
  const active = ACTIVE.has(task.state);

  if (graph.get(task.key) !== task) say("record is not the graph's");
  for (const dep of task.deps) {
    if (graph.get(dep.key) !== dep) say(`input ${dep.key} is forgotten`);
    if (!dep.dependents.has(task)) say(`missing from ${dep.key}.dependents`);
    if (active && !dep.waiters.has(task)) {
      say(`not a waiter of input ${dep.key}`);
    }
    if (active && dep.state === "released") {
      say(`input ${dep.key} is released`);
    }
  }
  for (const dependent of task.dependents) {
    if (graph.get(dependent.key) !== dependent) {
      say(`dependent ${dependent.key} is forgotten`);
    }
    if (!dependent.deps.includes(task)) {
      say(`dependent ${dependent.key} does not list it`);
    }
    if (ACTIVE.has(dependent.state) !== task.waiters.has(dependent)) {
      say(`waiters disagree with dependent ${dependent.key}`);
    }
  }
  for (const waiter of task.waiters) {
    if (!task.dependents.has(waiter)) {
      say(`waiter ${waiter.key} is no dependent`);
    }
  }
  if (task.wants < 0) say("negative wants");

  if ((task.state === "waiting" || task.state === "ready") && !needed) {
    say("active but not needed");
  }
  if (task.state === "memory") {
    if (task.whoHas.size === 0) say("in memory without a holder");
    if (!needed) say("in memory but not needed");
    for (const id of task.whoHas) {
      if (!workers.get(id)?.hasWhat.has(task.key)) {
        say(`holder ${id} is unknown or does not list it`);
      }
    }
  } else if (task.whoHas.size > 0) {
    say(`held by ${[...task.whoHas]} outside memory`);
  }
  if (task.state === "processing") {
    const worker = task.processingOn === null
      ? undefined
      : workers.get(task.processingOn);
    if (!worker?.processing.has(task.key)) {
      say(`assigned to ${task.processingOn}, which is unknown or disagrees`);
    }
  } else if (task.processingOn !== null) {
    say(`processingOn ${task.processingOn} outside processing`);
  }
  if (task.state === "ready" || task.state === "processing") {
    for (const dep of task.deps) {
      if (dep.state !== "memory") say(`input ${dep.key} not in memory`);
    }
  }
  if (task.state === "ready" && !task.queued) say("ready but not queued");
  if (task.state === "waiting") {
    const missing = task.deps.filter((dep) => dep.state !== "memory");
    if (missing.length === 0) say("waiting on nothing");
    if (
      missing.length !== task.waitingOn.size ||
      missing.some((dep) => !task.waitingOn.has(dep))
    ) say("waitingOn disagrees with its inputs");
    if (missing.some((dep) => dep.state === "erred")) {
      say("waiting on an erred input");
    }
  } else if (task.waitingOn.size > 0) {
    say("waitingOn not empty outside waiting");
  }
  if (task.state === "erred") {
    if (task.error === null) say("erred without an error");
    const blamed = [...task.dependents].some((d) => d.state === "erred");
    if (task.wants === 0 && !blamed) {
      say("erred, unwanted and no erred dependent");
    }
  } else if (task.error !== null) {
    say("error set outside erred");
  }
  if (task.state === "released") {
    if (needed) say("released but needed");
    if (task.dependents.size === 0) say("released and unused, not forgotten");
  }
}

function checkWorker(
  worker: WorkerRecord,
  graph: TaskGraph,
  tasksPerThread: number,
  problems: string[],
): void {
  const say = (what: string) => problems.push(`worker ${worker.id}: ${what}`);
  for (const key of worker.processing) {
    const task = graph.get(key);
    if (task?.state !== "processing" || task.processingOn !== worker.id) {
      say(`lists ${key} as processing, which it is not here`);
    }
  }
  for (const key of worker.hasWhat) {
    const task = graph.get(key);
    if (task?.state !== "memory" || !task.whoHas.has(worker.id)) {
      say(`lists ${key} as held, which it is not here`);
    }
  }
  // The limit shrinks when tasks get longer; what was sent before stays.
  const most = worker.nthreads * Math.max(tasksPerThread, MAX_TASKS_PER_THREAD);
  if (worker.processing.size > most) {
    say(`${worker.processing.size} tasks in flight, over the limit`);
  }
}

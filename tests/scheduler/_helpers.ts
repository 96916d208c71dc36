/**
 * Builders and action filters shared by the scheduler tests.
 */
import type { ErrorInfo, TaskSpec } from "../../src/protocol/mod.ts";
import type { Action, WorkerInfo } from "../../src/scheduler/types.ts";
import { SchedulerState } from "../../src/scheduler/state.ts";
import type {
  AddDataOptions,
  RemoveWorkerOptions,
  WorkerUpdate,
} from "../../src/scheduler/scheduler_options.ts";

/** Module URL of every test task (never imported: the state machine is pure). */
export const OPS = "file:///ops.ts";

/** A task whose arguments are the given dependency keys, then one literal. */
export function task(key: string, ...deps: string[]): TaskSpec {
  return {
    key,
    module: OPS,
    exportName: "f",
    args: [...deps.map((dep) => ({ key: dep })), { value: key }],
  };
}

/** A worker registration; one thread and its own host unless told. */
export function worker(
  id: string,
  options: Partial<Omit<WorkerInfo, "id">> = {},
): WorkerInfo {
  return {
    id,
    host: options.host ?? `host-${id}`,
    nthreads: options.nthreads ?? 1,
    memoryLimit: options.memoryLimit ?? 2 ** 30,
    ...(options.status === undefined ? {} : { status: options.status }),
  };
}

/** The actions of one type, narrowed. */
export function ofType<T extends Action["type"]>(
  actions: readonly Action[],
  type: T,
): Extract<Action, { type: T }>[] {
  return actions.filter((action): action is Extract<Action, { type: T }> =>
    action.type === type
  );
}

/** `worker:key` of every compute action, in order. */
export function computes(actions: readonly Action[]): string[] {
  return ofType(actions, "compute").map((a) => `${a.worker}:${a.key}`);
}

/** `worker:key` of every released key, in order. */
export function releases(actions: readonly Action[]): string[] {
  return ofType(actions, "release").flatMap((a) =>
    a.keys.map((key) => `${a.worker}:${key}`)
  );
}

/** Keys of the task-done actions. */
export function done(actions: readonly Action[]): string[] {
  return ofType(actions, "task-done").map((a) => a.key);
}

/** Keys of the task-erred actions. */
export function erred(actions: readonly Action[]): string[] {
  return ofType(actions, "task-erred").map((a) => a.key);
}

/** Whether a key is gone: released, or forgotten altogether. */
export function gone(state: SchedulerState, key: string): boolean {
  const s = state.taskState(key);
  return s === undefined || s === "released";
}

/** A state machine that checks every invariant after each mutating call. */
export class CheckedState extends SchedulerState {
  override addWorker(info: WorkerInfo): Action[] {
    return this.#checked(super.addWorker(info));
  }
  override removeWorker(id: string, options?: RemoveWorkerOptions): Action[] {
    return this.#checked(super.removeWorker(id, options));
  }
  override updateWorker(id: string, update: WorkerUpdate): Action[] {
    return this.#checked(super.updateWorker(id, update));
  }
  override submit(
    tasks: readonly TaskSpec[],
    wanted: readonly string[],
  ): Action[] {
    return this.#checked(super.submit(tasks, wanted));
  }
  override release(keys: readonly string[]): Action[] {
    return this.#checked(super.release(keys));
  }
  override cancel(keys: readonly string[]): Action[] {
    return this.#checked(super.cancel(keys));
  }
  override taskFinished(
    w: string,
    key: string,
    nbytes: number,
    seconds?: number,
  ): Action[] {
    return this.#checked(super.taskFinished(w, key, nbytes, seconds));
  }
  override taskErred(w: string, key: string, error: ErrorInfo): Action[] {
    return this.#checked(super.taskErred(w, key, error));
  }
  override addData(
    key: string,
    workers: readonly string[],
    nbytes: number,
    options?: AddDataOptions,
  ): Action[] {
    return this.#checked(super.addData(key, workers, nbytes, options));
  }
  override addReplica(key: string, w: string, nbytes: number): Action[] {
    return this.#checked(super.addReplica(key, w, nbytes));
  }
  #checked(actions: Action[]): Action[] {
    this.validate();
    return actions;
  }
}

/**
 * A task on its worker, from the scheduler's `compute` to the result in
 * the store: room first (for inputs to fetch or read back, and for the
 * result), then the inputs (fetched from peers, read back from disk, or,
 * in shared-memory mode, mapped by the executor), the executor, and the
 * result stored. Each phase goes in the task's timeline (the task
 * stream).
 *
 * @module
 */
import { checkTaskModule } from "../protocol/checks.ts";
import type {
  ComputeMessage,
  TaskErredMessage,
  TaskFinished,
} from "../protocol/mod.ts";
import type { PeerSpillBuffer } from "../store/peer_files.ts";
import { type ExecutorPool, TaskError } from "./executor_pool.ts";
import type { InputFetcher } from "./input_fetcher.ts";
import { reachableBuffers } from "./lend.ts";
import {
  argumentKeys,
  fillNested,
  isNestedArg,
  nestedKeys,
} from "./nested_args.ts";
import type { WorkerMode } from "./mode.ts";
import type { Room } from "./room.ts";
import { epochMs, Timeline } from "./timeline.ts";

/**
 * What a {@linkcode TaskRunner} works with: the worker's parts.
 *
 * @example
 * ```ts
 * import type { TaskRunnerParts } from "./task_runner.ts";
 * type Target = TaskRunnerParts["target"]; // number | undefined
 * ```
 */
export interface TaskRunnerParts {
  /** The worker's store: inputs come from it, results go to it. */
  store: PeerSpillBuffer;
  /** Memory reserved by steps under way. */
  room: Room;
  /** The executors. */
  pool: ExecutorPool;
  /** Private or shared-memory mode. */
  mode: WorkerMode;
  /** Fetches inputs from peers. */
  fetcher: InputFetcher;
  /** The store's target, as configured (0: results spill at once). */
  target: number | undefined;
  /** Whether the worker has closed (nothing is reported after). */
  closed: () => boolean;
  /** Reports a finished task to the scheduler. */
  finished: (task: TaskFinished) => void;
  /** Reports a failed task to the scheduler. */
  erred: (task: TaskErredMessage) => void;
}

/**
 * Runs a worker's tasks.
 *
 * @example
 * ```ts
 * import type { TaskRunner } from "./task_runner.ts";
 * declare const runner: TaskRunner;
 * runner.cancel("dot-0-1"); // a task that is not running: nothing happens
 * ```
 */
export class TaskRunner {
  readonly #deps: TaskRunnerParts;
  readonly #running = new Map<string, AbortController>();
  /** Tasks not yet handed to an executor (waiting for room or inputs). */
  readonly #starting = new Set<string>();
  /** Abort reasons that are reported as the task's error, not silently. */
  readonly #reported = new WeakSet<Error>();
  /** The size of the last result of each function (`module#export`). */
  readonly #resultSizes = new Map<string, number>();

  /** A runner over the worker's `parts`. */
  constructor(parts: TaskRunnerParts) {
    this.#deps = parts;
  }

  /** Tasks under way: from their arrival to their result or error. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Stops the task `key` if it is running: nothing is reported for it. An
   * executor running it is terminated and replaced (a task cannot be
   * interrupted in place, and may be spinning); the other executors and
   * tasks go on. Deno 2.9's `terminate()` does not stop a thread stuck in a
   * synchronous endless loop: the thread is abandoned (it keeps a core
   * busy until the process exits), but no task waits on it.
   */
  cancel(key: string): void {
    this.#running.get(key)?.abort(new Error(`task ${key} cancelled`));
  }

  /**
   * Fails, with `error` reported to the scheduler, every task not yet
   * handed to an executor (waiting for room or for its inputs); tasks
   * computing go on. Returns how many were failed.
   */
  failWaiting(error: Error): number {
    this.#reported.add(error);
    let n = 0;
    for (const key of this.#starting) {
      this.#running.get(key)?.abort(error);
      n++;
    }
    return n;
  }

  /** Stops every running task (the worker is closing). */
  abortAll(reason: Error): void {
    for (const controller of this.#running.values()) controller.abort(reason);
  }

  /**
   * Runs the task of `message` (received at `received`, epoch ms) and
   * reports its result or its error.
   */
  async run(message: ComputeMessage, received: number): Promise<void> {
    const timeline = new Timeline();
    timeline.add("queued", received, epochMs());
    let thread = 0;
    const controller = new AbortController();
    this.#running.set(message.key, controller);
    this.#starting.add(message.key);
    const { store, room, mode } = this.#deps;
    const { signal } = controller;
    // Top-level futures and those inside containers (nested arguments).
    const inputs = argumentKeys(message.args);
    const nested = nestedKeys(message.args);
    const pinned: string[] = [];
    let release = () => {};
    const fn = `${message.module}#${message.exportName}`;
    try {
      // A peer may name any module: only file: and https: (http:) ones run.
      checkTaskModule(message.module);
      // Room first, for the inputs to fetch or read back from disk and for
      // the result (twice: the executor's copy and the shared one, for a
      // moment), as big as this function's last one. Fetched inputs are
      // pinned: fetching before the room is there filled the memory with
      // the pinned inputs of tasks that could not run yet.
      let expected = 2 * (this.#resultSizes.get(fn) ?? 0);
      for (const key of inputs) {
        if (!store.has(key)) expected += message.sizes?.[key] ?? 0;
        else expected += mode.readBackBytes(store, key);
      }
      // Abortable while it waits (spill space exhausted): a reservation
      // granted after the abort is given back at once.
      const reserving = room.reserve(expected, { timeline });
      release = await new Promise<() => void>((resolve, reject) => {
        const onAbort = () => {
          reserving.then((r) => r(), () => {});
          reject(signal.reason);
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        reserving.then((r) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) r();
          else resolve(r);
        }, (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        });
      });
      signal.throwIfAborted();
      const fetching = epochMs();
      const fetched = await this.#deps.fetcher.fetch(
        message,
        inputs,
        signal,
        false,
      );
      timeline.add("transfer", fetching, epochMs(), fetched);
      for (const key of inputs) {
        store.pin(key);
        pinned.push(key);
      }
      // Inputs on disk in shared-memory mode: the executor maps them.
      const values = new Map<string, unknown>();
      const files = new Map<string, string>();
      for (const key of inputs) {
        // A value inside a container is passed: only a whole argument is
        // mapped by the executor.
        const path = nested.has(key)
          ? null
          : await mode.mappedInput(store, key);
        if (path !== null) {
          files.set(key, path);
          continue;
        }
        if (store.state(key) === "spilled") {
          await timeline.time(
            "disk-read",
            () => store.load(key),
            store.nbytes(key),
          );
        }
        const wasLive = store.state(key) === "live";
        const start = epochMs();
        values.set(key, await store.get(key));
        if (!wasLive) timeline.add("deserialize", start, epochMs());
      }
      const mapped: Record<number, string> = {};
      const valueOf = (key: string): unknown => {
        if (!values.has(key)) throw new Error(`input ${key} is missing`);
        return values.get(key);
      };
      const args = message.args.map((a, at) => {
        if (isNestedArg(a)) return fillNested(a.value, valueOf);
        if (!("key" in a)) return a.value;
        const path = files.get(a.key);
        if (path === undefined) return values.get(a.key);
        mapped[at] = path;
        return undefined;
      });
      // Shared-memory mode with target 0: the executor writes the result.
      const prepared = await mode.prepareResult(
        store,
        message.key,
        this.#deps.target,
      );
      signal.throwIfAborted();
      this.#starting.delete(message.key);
      let outcome;
      const running = epochMs();
      try {
        outcome = await this.#deps.pool.run(
          {
            module: message.module,
            exportName: message.exportName,
            args,
            ...(files.size > 0 ? { mapped } : {}),
          },
          // Inputs not in shared memory (rare: data set by hand) are
          // copied, never lent, so the store's values are never detached.
          // With target 0 the result is spilled at once and later tasks
          // read (or map) it from its file: a shared copy would be one more
          // copy, and garbage V8 does not see.
          {
            signal,
            keep: reachableBuffers(args),
            shareResult: this.#deps.target !== 0,
            ...(prepared === null ? {} : { spillTo: prepared.path }),
          },
        );
      } catch (error) {
        timeline.add("compute", running, epochMs());
        await prepared?.abandon();
        throw error;
      }
      thread = outcome.thread;
      timeline.add("queued", running, outcome.started);
      timeline.startstops.push(...outcome.phases);
      if (this.#deps.closed()) {
        await prepared?.abandon().catch(() => {});
        return;
      }
      const storing = epochMs();
      if (outcome.spilled !== undefined && prepared !== null) {
        await prepared.adopt();
      } else {
        await prepared?.abandon();
        store.set(message.key, outcome.value);
      }
      const nbytes = store.nbytes(message.key);
      timeline.add("store", storing, epochMs(), nbytes);
      this.#resultSizes.set(fn, nbytes);
      // The store measured the value when it took it: no second walk.
      this.#deps.finished({
        key: message.key,
        nbytes,
        seconds: outcome.seconds,
        name: message.exportName,
        thread,
        startstops: timeline.startstops,
      });
    } catch (thrown) {
      if (this.#deps.closed()) return;
      if (signal.aborted && !this.#reported.has(signal.reason)) return;
      // Aborted to be reported (spill space exhausted): the abort's reason.
      const error: unknown = signal.aborted ? signal.reason : thrown;
      const e = error as Error;
      const reported = error instanceof TaskError
        ? {
          name: error.remoteName,
          message: error.message,
          stack: error.remoteStack,
        }
        : {
          name: e.name ?? "Error",
          message: e.message ?? String(error),
          stack: e.stack,
        };
      this.#deps.erred({
        key: message.key,
        error: reported,
        name: message.exportName,
        thread,
        startstops: timeline.startstops,
      });
    } finally {
      release();
      if (!this.#deps.closed()) {
        for (const key of pinned) {
          if (store.has(key)) store.unpin(key);
        }
      }
      // A retry of the key may have started meanwhile: leave its entry.
      if (this.#running.get(message.key) === controller) {
        this.#running.delete(message.key);
        this.#starting.delete(message.key);
      }
    }
  }
}

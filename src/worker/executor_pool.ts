/**
 * Task executors: a fixed set of module Web Workers that run tasks off the
 * control thread, so that sockets, heartbeats and spilling stay responsive
 * while CPU-bound tasks run (a spinning executor leaves the main loop's
 * longest gap at ~5 ms: docs/platform.md#a-spinning-worker).
 *
 * A task is an export of an ES module imported by URL (`file:` or `https:`),
 * called with arguments, possibly async. Its inputs are lent, not copied:
 * their ArrayBuffers are transferred to the executor (the caller's views are
 * detached meanwhile) and transferred back with the result, which arrives as
 * {@linkcode TaskOutcome.args}. See `lend.ts` for which buffers are copied
 * instead (partial views, `keep`).
 *
 * @module
 */
import type { StartStop } from "../protocol/mod.ts";
import { type Packed, packForTransfer, UnsendableValueError } from "./lend.ts";
import type { FromExecutor, ToExecutor } from "./executor_messages.ts";
import { TaskError } from "./task_error.ts";
import { hasWorkerOptionsFlag } from "./worker_options_flag.ts";
import { epochMs } from "./timeline.ts";
import { type PooledBuffers, sharedBuffersIn } from "./buffer_pool.ts";
import { adoptCodecValues, collectCodecValues } from "./codec_wire.ts";

/**
 * What a task may do in a sandboxed executor, in Deno's permission shape:
 * per permission a list or `true` for all of it. Everything not listed is
 * denied: reads, writes, network, FFI, env, subprocesses, system info. The
 * process must hold at least as much (Deno refuses to widen a worker's
 * permissions past its parent's). `task_permissions.ts` builds a worker's.
 *
 * @example
 * ```ts
 * import type { ExecutorPermissions } from "./executor_pool.ts";
 * const sandbox: ExecutorPermissions = { read: ["/srv/tasks"], import: ["deno.land"] };
 * ```
 */
export interface ExecutorPermissions {
  /**
   * Paths the task may read. Its module's directory must be among them to
   * import a `file:` task (the executor's own code loads regardless).
   * Default: none.
   */
  read?: string[] | boolean;
  /** Paths the task may write. Default: none. */
  write?: string[] | boolean;
  /** Hosts (`host[:port]`) the task may reach or listen on. Default: none. */
  net?: string[] | boolean;
  /** Environment variables the task may read. Default: none. */
  env?: string[] | boolean;
  /** Programs the task may run. Default: none. */
  run?: string[] | boolean;
  /** Whether the task may call native code (lifts the sandbox). Default false. */
  ffi?: boolean;
  /**
   * Remote hosts `https:` task modules may be imported from (`true`: any;
   * `"inherit"`: those this process may import from). Default `false` (an
   * import URL can carry data out).
   */
  import?: boolean | string[] | "inherit";
}

/**
 * Options for {@linkcode ExecutorPool}.
 *
 * @example
 * ```ts
 * import type { ExecutorPoolOptions } from "./executor_pool.ts";
 * const options: ExecutorPoolOptions = { threads: 2, shutdownGraceMs: 200 };
 * ```
 */
export interface ExecutorPoolOptions {
  /** How many executors (tasks running at once). Default `1`. */
  threads?: number;
  /**
   * Sandbox the executors (Deno's `deno.permissions` worker option). Needs
   * `--unstable-worker-options`; see `workerOptionsEnabled`.
   */
  permissions?: ExecutorPermissions;
  /**
   * Whether `--unstable-worker-options` is on. Default: detected from the
   * command line ({@linkcode hasWorkerOptionsFlag}, which answers `false`
   * when unsure). With `permissions` and no flag the constructor throws
   * rather than run tasks unsandboxed. Do not claim `true` without the flag:
   * `new Worker` would then exit the process with code 70, uncatchable.
   */
  workerOptionsEnabled?: boolean;
  /**
   * On {@linkcode ExecutorPool.close}, how long an executor gets to
   * acknowledge the shutdown message before it is terminated anyway (a busy
   * one cannot read it until its task yields). Default `1000`.
   */
  shutdownGraceMs?: number;
  /**
   * The worker's buffer pool: pooled SharedArrayBuffers among a task's
   * arguments are counted as held by the executor until it has collected
   * them (or dies), so that their memory is not reused under it.
   */
  buffers?: PooledBuffers;
  /**
   * Module URLs every executor imports before its first task (`codecs:` on
   * LocalCluster, `--codecs` on the worker): modules that register codecs
   * (`registerCodec`). A module that cannot be imported fails each task
   * with a message naming it.
   */
  codecs?: readonly string[];
}

/**
 * A task: `module`'s export `exportName` called with `args`.
 *
 * @example
 * ```ts
 * import type { Task } from "./executor_pool.ts";
 * const task: Task = {
 *   module: new URL("./tasks.ts", import.meta.url).href,
 *   exportName: "sum",
 *   args: [new Float64Array(8)],
 * };
 * ```
 */
export interface Task {
  /** Absolute URL of an ES module (`file:` or `https:`), imported once per executor and cached. */
  module: string;
  /** The export to call. */
  exportName: string;
  /** Arguments. Their ArrayBuffers are lent (see {@linkcode ExecutorPool.run}). */
  args: unknown[];
  /**
   * Arguments the executor maps from spill files itself (shared-memory
   * mode), by index: `args[i]` is ignored and the value deserialized over
   * an mmap of `mapped[i]` takes its place, with no copy. The returned
   * `args` hold `undefined` there.
   */
  mapped?: Record<number, string>;
}

/**
 * Options for one {@linkcode ExecutorPool.run}.
 *
 * @example
 * ```ts
 * import type { RunOptions } from "./executor_pool.ts";
 * const mapped = new ArrayBuffer(8); // imagine an mmap-backed buffer
 * const options: RunOptions = { signal: AbortSignal.timeout(5000), keep: [mapped] };
 * ```
 */
export interface RunOptions {
  /**
   * Cancels the task: a queued one leaves the queue, a running one's
   * executor is terminated and replaced (its lent inputs are lost with it).
   * The task rejects with `signal.reason`.
   */
  signal?: AbortSignal;
  /**
   * Buffers not to lend: views over them are sent as copies of the bytes
   * they span, and stay usable here. Mmap-backed buffers must be listed
   * (transferring one crashes the process:
   * docs/platform.md#transferring-a-mapped-buffer).
   */
  keep?: Iterable<ArrayBufferLike>;
  /**
   * Buffers to lend whole even though `args` only view part of them, instead
   * of copying the parts (e.g. a decoded frame whose other bytes nobody
   * holds). Every view over them, inside `args` or not, is detached while
   * lent. Copying a 256 MiB part blocked this thread 130–200 ms here, as
   * long as a structured clone; lending it whole, ~0.3 ms.
   */
  lendWhole?: Iterable<ArrayBufferLike>;
  /**
   * Return the result's typed arrays backed by SharedArrayBuffers: the
   * executor copies them (off this thread), so the result can later be an
   * input of any executor with no copy and no lending. Bare ArrayBuffers
   * in the result stay as they are (transferred).
   */
  shareResult?: boolean;
  /**
   * Shared-memory mode: the executor writes a result whose buffers hold at
   * least `spillAbove` bytes (default 1 MiB) to this spill file and frees
   * them, instead of sending it here; the outcome then says `spilled`. A
   * result that cannot be written (not serializable, disk full, no write
   * permission) comes back as usual.
   */
  spillTo?: string;
  /** See `spillTo`. */
  spillAbove?: number;
}

/**
 * A finished task.
 *
 * @example
 * ```ts
 * import type { TaskOutcome } from "./executor_pool.ts";
 * const outcome: TaskOutcome = {
 *   value: 3, args: [1, 2], seconds: 0.0001, thread: 0, started: Date.now(), phases: [],
 * };
 * ```
 */
export interface TaskOutcome {
  /** What the export returned (awaited); its buffers were transferred, not copied. */
  value: unknown;
  /**
   * The inputs, returned: the lent buffers are back in here, while the
   * views passed to `run` stay detached. Put these back where they came from.
   */
  args: unknown[];
  /** How long the call took in the executor (the import excluded). */
  seconds: number;
  /**
   * Bytes of the spill file the executor wrote (`RunOptions.spillTo`);
   * `value` is then undefined.
   */
  spilled?: number;
  /** The executor that ran it (0-based). */
  thread: number;
  /** When it left the queue for its executor (epoch milliseconds). */
  started: number;
  /**
   * Its phases in the executor (epoch milliseconds): `deserialize` (mapped
   * inputs), `compute`, and `store` (the copy into shared memory) or
   * `disk-write` (the result written to `spillTo`).
   */
  phases: StartStop[];
}

/**
 * Running counts since the pool started.
 *
 * @example
 * ```ts
 * import type { ExecutorPoolStats } from "./executor_pool.ts";
 * const copiedShare = (s: ExecutorPoolStats): number =>
 *   s.copiedBytes / Math.max(1, s.copiedBytes + s.lentBytes);
 * ```
 */
export interface ExecutorPoolStats {
  /** Tasks that returned a value. */
  completed: number;
  /** Tasks that rejected with a {@linkcode TaskError} (crashes included). */
  failed: number;
  /** Executors that died on their own and were replaced. */
  crashed: number;
  /** Tasks cancelled by their signal. */
  aborted: number;
  /** Input bytes lent by transfer. */
  lentBytes: number;
  /** Input bytes copied (partial views, `keep`, non-detachable buffers). */
  copiedBytes: number;
}

/**
 * Raised for tasks still queued or running when the pool closes, and for
 * `run` on a closed pool.
 *
 * @example
 * ```ts
 * import { ExecutorPool, PoolClosedError } from "./executor_pool.ts";
 * const pool = new ExecutorPool();
 * await pool.close();
 * await pool.run({ module: "file:///t.ts", exportName: "f", args: [] })
 *   .catch((e) => console.log(e instanceof PoolClosedError)); // true
 * ```
 */
export class PoolClosedError extends Error {
  /** @param message What was refused. */
  constructor(message = "the executor pool is closed") {
    super(message);
    this.name = "PoolClosedError";
  }
}

interface Job {
  id: number;
  task: Task;
  options: RunOptions;
  resolve: (outcome: TaskOutcome) => void;
  reject: (error: unknown) => void;
  onAbort?: () => void;
  /** The executor running it, once dispatched. */
  slot?: Slot;
  /** When it was dispatched (epoch milliseconds). */
  started?: number;
}

interface Slot {
  index: number;
  worker: Worker;
  /** The executor has evaluated its entry module. */
  ready: boolean;
  job: Job | null;
  /** Terminated and not replaced (the pool could not start executors). */
  dead: boolean;
  /** Set while closing: called when the executor acknowledges or dies. */
  retired?: () => void;
  /** Ids of pooled buffers the executor holds (one per hold). */
  holds: number[];
}

type SandboxedWorkerOptions = WorkerOptions & {
  deno?: { permissions: Record<string, boolean | string[] | "inherit"> };
};

const ENTRY = new URL("./executor_entry.ts", import.meta.url);

/**
 * A fixed set of executors (module Web Workers) that run tasks off the
 * control thread, at most `threads` at once, the rest queued first in,
 * first out. Executors start once (each start blocks the caller ~13 ms) and
 * are reused; one that dies is replaced.
 *
 * What holds after a failure:
 * - a task that throws rejects with a {@linkcode TaskError} (`kind:
 *   "threw"`) carrying the remote name, message and stack, and its inputs
 *   come back in `error.args`;
 * - an executor that dies (uncaught error in a timer, `self.close()`,
 *   `Deno.exit()`) rejects its task with a `TaskError` (`kind: "crashed"`)
 *   and is replaced; the lent inputs are lost with it;
 * - arguments that cannot be sent reject with an
 *   {@linkcode UnsendableValueError} before anything is detached.
 *
 * Not survivable: a task that exhausts the heap takes the whole process
 * down (V8's fatal OOM, rc 133 here; Deno has no per-worker heap limit).
 *
 * Close it (`await using`, or {@linkcode ExecutorPool.close}): live
 * executors keep the process running.
 *
 * @example Running a task with a lent input
 * ```ts
 * import { ExecutorPool } from "./executor_pool.ts";
 * await using pool = new ExecutorPool({ threads: 2 });
 * // Any module URL: file:, https:, here data:.
 * const module =
 *   "data:text/javascript,export const sum = (a) => a.reduce((s, x) => s + x, 0);";
 * const data = new Float64Array(1 << 20).fill(1);
 * const outcome = await pool.run({ module, exportName: "sum", args: [data] });
 * outcome.value; // 1048576
 * data.length; // 0: detached, it was lent
 * const back = outcome.args[0] as Float64Array; // the same memory, returned
 * ```
 */
export class ExecutorPool implements AsyncDisposable {
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #nextId = 1;
  #closing: Promise<void> | null = null;
  #broken: Error | null = null;
  #workerOptions: SandboxedWorkerOptions;
  #shutdownGraceMs: number;
  readonly #buffers: PooledBuffers | undefined;
  readonly #codecs: readonly string[];
  readonly #codecsLoaded = Promise.withResolvers<string | null>();
  #stats: ExecutorPoolStats = {
    completed: 0,
    failed: 0,
    crashed: 0,
    aborted: 0,
    lentBytes: 0,
    copiedBytes: 0,
  };

  /**
   * Starts `threads` executors.
   *
   * @param options Threads, sandbox and shutdown grace.
   * @throws {RangeError} If `threads` is not a positive integer.
   * @throws {TypeError} If `permissions` are given without
   *   `--unstable-worker-options` (see `workerOptionsEnabled`).
   */
  constructor(options: ExecutorPoolOptions = {}) {
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(
        `threads must be a positive integer, got ${threads}`,
      );
    }
    this.#shutdownGraceMs = options.shutdownGraceMs ?? 1000;
    this.#buffers = options.buffers;
    this.#codecs = [...(options.codecs ?? [])];
    this.#workerOptions = { type: "module" };
    if (options.permissions !== undefined) {
      const enabled = options.workerOptionsEnabled ?? hasWorkerOptionsFlag();
      if (!enabled) {
        throw new TypeError(
          "ExecutorPool: sandboxing executors (permissions) needs Deno's " +
            "--unstable-worker-options flag, which this process does not " +
            "seem to have; without it `new Worker` exits the process with " +
            "code 70, which nothing can catch. Run with the flag (or " +
            'deno.json "unstable": ["worker-options"]) and pass ' +
            "workerOptionsEnabled: true, or omit permissions to run tasks " +
            "with this process's permissions.",
        );
      }
      const p = options.permissions;
      const grant = (g: string[] | boolean | undefined) =>
        Array.isArray(g) ? (g.length > 0 ? [...g] : false) : g ?? false;
      this.#workerOptions.deno = {
        permissions: {
          read: grant(p.read),
          write: grant(p.write),
          net: grant(p.net),
          ffi: p.ffi ?? false,
          env: grant(p.env),
          run: grant(p.run),
          sys: false,
          import: p.import === "inherit" ? "inherit" : grant(p.import),
        },
      };
    }
    for (let i = 0; i < threads; i++) this.#slots.push(this.#spawn(i));
  }

  /** How many executors are running (`threads`; 0 once closed). */
  get size(): number {
    return this.#slots.filter((s) => !s.dead).length;
  }

  /** Executors running a task. */
  get busy(): number {
    return this.#slots.filter((s) => s.job !== null).length;
  }

  /** Executors waiting for a task. */
  get idle(): number {
    return this.size - this.busy;
  }

  /** Tasks waiting for an executor. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Running counts since the pool started (a copy). */
  get stats(): ExecutorPoolStats {
    return { ...this.#stats };
  }

  /**
   * Runs `task` in an executor when one is free (first in, first out).
   *
   * The arguments are lent: the ArrayBuffers behind typed arrays, DataViews
   * and ArrayBuffers inside `args` (found through arrays, Maps, Sets and
   * plain objects) are transferred to the executor when the task starts, so
   * the views passed here are detached from then on; the executor transfers
   * them back with the result, in {@linkcode TaskOutcome.args}. Each buffer
   * moves once however many views share it. SharedArrayBuffers are shared
   * as they are. A view over part of a bigger buffer is copied instead (one
   * copy of the bytes it spans), since transferring would detach the whole
   * buffer (unless it is listed in `options.lendWhole`); so are views over
   * buffers in `options.keep`. Copied inputs stay usable here, and
   * `outcome.args` holds the copies.
   *
   * @param task The module URL, export name and arguments.
   * @param options An abort signal; buffers not to lend.
   * @returns What the task returned, the returned inputs and its duration.
   * @throws {TaskError} If the task threw, its module or export is missing,
   *   its result cannot be sent back, or its executor died.
   * @throws {UnsendableValueError} If `args` hold something that cannot be
   *   sent (a function, a detached buffer, ...); nothing was detached.
   * @throws {PoolClosedError} If the pool is (or gets) closed first.
   * @throws The signal's reason, when aborted.
   */
  run(task: Task, options: RunOptions = {}): Promise<TaskOutcome> {
    if (this.#closing !== null) {
      return Promise.reject(new PoolClosedError());
    }
    if (this.#broken !== null) return Promise.reject(this.#broken);
    if (typeof task?.module !== "string" || !URL.canParse(task.module)) {
      return Promise.reject(
        new TypeError(
          `task.module must be an absolute URL, got ${task?.module}`,
        ),
      );
    }
    if (typeof task.exportName !== "string") {
      return Promise.reject(new TypeError("task.exportName must be a string"));
    }
    if (!Array.isArray(task.args)) {
      return Promise.reject(new TypeError("task.args must be an array"));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<TaskOutcome>();
    const job: Job = { id: this.#nextId++, task, options, resolve, reject };
    if (signal) {
      job.onAbort = () => this.#abort(job);
      signal.addEventListener("abort", job.onAbort, { once: true });
    }
    this.#queue.push(job);
    this.#pump();
    return promise;
  }

  /**
   * Resolves once an executor has imported the `codecs` modules (at once
   * without any); rejects with why one could not be imported.
   *
   * @returns When the codec modules are loaded.
   */
  async codecsLoaded(): Promise<void> {
    if (this.#codecs.length === 0) return;
    const error = await this.#codecsLoaded.promise;
    if (error !== null) throw new Error(error);
  }

  /**
   * Closes the pool: rejects queued and running tasks with
   * {@linkcode PoolClosedError}, asks every executor to finish (a message it
   * acknowledges once it has released what it holds), and terminates it on
   * the acknowledgement or after `shutdownGraceMs`. Idempotent.
   *
   * @returns When every executor is terminated.
   */
  close(): Promise<void> {
    this.#codecsLoaded.resolve("the executor pool was closed");
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@linkcode ExecutorPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #spawn(index: number): Slot {
    const worker = new Worker(ENTRY, {
      ...this.#workerOptions,
      name: `spillway-executor-${index}`,
    });
    if (this.#codecs.length > 0) {
      worker.postMessage(
        { type: "codecs", modules: [...this.#codecs] } satisfies ToExecutor,
      );
    }
    const slot: Slot = {
      index,
      worker,
      ready: false,
      job: null,
      dead: false,
      holds: [],
    };
    worker.onmessage = (event: MessageEvent<FromExecutor>) =>
      this.#onMessage(slot, event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Unhandled, the error would also be thrown in this thread.
      event.preventDefault();
      this.#onDeath(slot, `uncaught ${event.message}`, "");
    };
    worker.onmessageerror = () => {
      const job = slot.job;
      if (!job || this.#slots[slot.index] !== slot) return;
      this.#finish(slot, job);
      this.#stats.failed++;
      job.reject(
        new TaskError(
          `the result of ${job.task.module}#${job.task.exportName} could not be received`,
          {
            kind: "unsendable",
            module: job.task.module,
            exportName: job.task.exportName,
            remoteName: "DataCloneError",
            remoteStack: "",
          },
        ),
      );
      this.#pump();
    };
    return slot;
  }

  #onMessage(slot: Slot, message: FromExecutor): void {
    if (message.type === "codecs-loaded") {
      this.#codecsLoaded.resolve(message.error);
      return;
    }
    if (message.type === "released") {
      for (const id of message.ids) {
        const at = slot.holds.indexOf(id);
        if (at === -1) continue;
        slot.holds.splice(at, 1);
        this.#buffers?.release(id);
      }
      return;
    }
    if (slot.retired) {
      // Closing: the acknowledgement, or a death, ends the wait.
      if (message.type === "shutdown-done" || message.type === "dying") {
        slot.retired();
      }
      return;
    }
    if (this.#slots[slot.index] !== slot) return; // from a replaced executor
    switch (message.type) {
      case "ready":
        slot.ready = true;
        return;
      case "dying":
        this.#onDeath(slot, message.reason, message.stack);
        return;
      case "done": {
        const job = slot.job;
        if (!job || job.id !== message.id) return;
        this.#finish(slot, job);
        this.#stats.completed++;
        // Values of registered classes stay encoded here (CodecValue).
        if (message.codecs !== undefined) adoptCodecValues(message.codecs);
        job.resolve({
          value: message.result,
          args: message.args,
          seconds: message.seconds,
          ...(message.spilled === undefined
            ? {}
            : { spilled: message.spilled }),
          thread: slot.index,
          started: job.started ?? epochMs(),
          phases: message.phases ?? [],
        });
        this.#pump();
        return;
      }
      case "failed": {
        const job = slot.job;
        if (!job || job.id !== message.id) return;
        this.#finish(slot, job);
        this.#stats.failed++;
        const f = message.failure;
        job.reject(
          new TaskError(f.message, {
            kind: f.kind,
            module: job.task.module,
            exportName: job.task.exportName,
            remoteName: f.name,
            remoteStack: f.stack,
            args: message.args,
          }),
        );
        this.#pump();
        return;
      }
    }
  }

  /** Detaches `job` from `slot` and from its signal. */
  #finish(slot: Slot, job: Job): void {
    slot.job = null;
    if (job.onAbort) {
      job.options.signal?.removeEventListener("abort", job.onAbort);
    }
  }

  #onDeath(slot: Slot, reason: string, stack: string): void {
    if (slot.retired) {
      slot.retired();
      return;
    }
    if (this.#slots[slot.index] !== slot || slot.dead) return;
    this.#terminate(slot);
    const job = slot.job;
    if (job) {
      this.#finish(slot, job);
      this.#stats.failed++;
      job.reject(
        new TaskError(
          `executor ${slot.index} died while running ${job.task.module}#${job.task.exportName}: ${reason}`,
          {
            kind: "crashed",
            module: job.task.module,
            exportName: job.task.exportName,
            remoteName: "ExecutorDied",
            remoteStack: stack,
          },
        ),
      );
    }
    if (!slot.ready) {
      // The entry itself failed: a replacement would fail the same way.
      this.#broken = new Error(
        `executor ${slot.index} failed to start: ${reason}`,
      );
      this.#codecsLoaded.resolve(this.#broken.message);
      slot.dead = true;
      for (const queued of this.#queue.splice(0)) {
        this.#finishQueued(queued);
        queued.reject(this.#broken);
      }
      return;
    }
    this.#stats.crashed++;
    if (this.#closing === null) {
      this.#slots[slot.index] = this.#spawn(slot.index);
      this.#pump();
    }
  }

  /** Ends an executor; the pooled buffers it held are its no more. */
  #terminate(slot: Slot): void {
    slot.worker.terminate();
    for (const id of slot.holds.splice(0)) this.#buffers?.release(id);
  }

  #finishQueued(job: Job): void {
    if (job.onAbort) {
      job.options.signal?.removeEventListener("abort", job.onAbort);
    }
  }

  #abort(job: Job): void {
    const reason = job.options.signal?.reason;
    const slot = job.slot;
    if (slot === undefined) {
      const at = this.#queue.indexOf(job);
      if (at === -1) return;
      this.#queue.splice(at, 1);
      this.#stats.aborted++;
      job.reject(reason);
      return;
    }
    if (slot.job !== job || this.#slots[slot.index] !== slot) return;
    this.#finish(slot, job);
    this.#stats.aborted++;
    job.reject(reason);
    // A task cannot be interrupted in place; its executor goes with it.
    this.#terminate(slot);
    if (this.#closing === null) {
      this.#slots[slot.index] = this.#spawn(slot.index);
      this.#pump();
    }
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#closing === null) {
      const slot = this.#slots.find((s) => s.job === null && !s.dead);
      if (slot === undefined) return;
      const job = this.#queue.shift()!;
      this.#dispatch(slot, job);
    }
  }

  #dispatch(slot: Slot, job: Job): void {
    const dispatched = epochMs();
    const { module, exportName, args } = job.task;
    const post = (packed: Packed<unknown[]>): void => {
      const pooled: [number, SharedArrayBuffer][] = [];
      if (this.#buffers !== undefined) {
        for (const buffer of sharedBuffersIn(packed.value)) {
          const id = this.#buffers.idOf(buffer);
          if (id !== undefined) pooled.push([id, buffer]);
        }
      }
      const message: ToExecutor = {
        type: "run",
        id: job.id,
        module,
        exportName,
        args: packed.value,
        shareResult: job.options.shareResult ?? false,
        ...(job.task.mapped === undefined ? {} : { mapped: job.task.mapped }),
        ...(job.options.spillTo === undefined ? {} : {
          spillTo: job.options.spillTo,
          spillAbove: job.options.spillAbove ?? 2 ** 20,
        }),
        ...(pooled.length === 0 ? {} : { pooled }),
        ...codecsOf(packed.value),
      };
      slot.worker.postMessage(message, packed.transfer);
      for (const [id] of pooled) {
        this.#buffers!.hold(id);
        slot.holds.push(id);
      }
    };
    const pack = (copyOthers: boolean) =>
      packForTransfer(args, {
        keep: job.options.keep,
        transferWhole: job.options.lendWhole,
        copyOthers,
      }, "args");
    let packed: Packed<unknown[]>;
    try {
      packed = pack(false);
      try {
        post(packed);
      } catch (error) {
        // Deno refuses a buffer that cannot be detached (WebAssembly.Memory)
        // before detaching anything; JavaScript cannot tell which one it was,
        // so copy them all. Anything else detached the buffers: they are lost.
        if (packed.transfer.some((b) => b.detached)) {
          throw new TypeError(
            `cannot send the arguments of ${module}#${exportName}; the lent buffers were lost: ${
              (error as Error).message
            }`,
            { cause: error },
          );
        }
        packed = pack(true);
        post(packed);
      }
    } catch (error) {
      this.#finishQueued(job);
      job.reject(error);
      return;
    }
    slot.job = job;
    job.slot = slot;
    job.started = dispatched;
    this.#stats.lentBytes += packed.transferredBytes;
    this.#stats.copiedBytes += packed.copiedBytes;
  }

  async #shutdown(): Promise<void> {
    const closed = new PoolClosedError(
      "the executor pool was closed before the task finished",
    );
    for (const job of this.#queue.splice(0)) {
      this.#finishQueued(job);
      job.reject(closed);
    }
    const slots = this.#slots;
    this.#slots = [];
    await Promise.all(
      slots.filter((s) => !s.dead).map((s) => this.#retire(s, closed)),
    );
  }

  /** Asks the executor to finish, then terminates it (on reply or after the grace period). */
  #retire(slot: Slot, closed: PoolClosedError): Promise<void> {
    const job = slot.job;
    if (job) {
      this.#finish(slot, job);
      job.reject(closed);
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(() => slot.retired?.(), this.#shutdownGraceMs);
    slot.retired = () => {
      slot.retired = undefined;
      clearTimeout(timer);
      this.#terminate(slot);
      resolve();
    };
    try {
      slot.worker.postMessage({ type: "shutdown" } satisfies ToExecutor);
    } catch {
      slot.retired();
    }
    return promise;
  }
}

/** The `codecs` field of a `run` message whose arguments are `args`. */
function codecsOf(args: unknown[]): { codecs?: object[] } {
  const codecs = collectCodecValues(args);
  return codecs.length === 0 ? {} : { codecs };
}

export { TaskError, UnsendableValueError };

/**
 * The networked scheduler: an RPC server that feeds worker and client
 * messages to the pure state machine ({@linkcode SchedulerState}) and
 * carries out the actions it returns.
 *
 * @module
 */
import type {
  ClientOperations,
  ComputeMessage,
  DepartedWorker,
  Heartbeat,
  RegisterWorker,
  SchedulerOperations,
  TaskCounts,
  TaskErrorInfo,
  TaskState,
  TaskStreamRecord,
  TaskTimeline,
  WorkerControlOperations,
  WorkerDescription,
} from "../protocol/mod.ts";
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  PROTOCOL_VERSION,
} from "../protocol/version.ts";
import { checkBody, checkKeys, checkTaskSpecs } from "../protocol/checks.ts";
import { noTasks } from "../protocol/task.ts";
import { Batcher } from "../comm/batcher.ts";
import { RpcServer } from "../comm/server.ts";
import type { TlsOptions } from "../comm/tls.ts";
import { type LogFunction, roleLog } from "../comm/log.ts";
import type {
  RequestOf,
  RpcHandlers,
  RpcPeer as AnyPeer,
} from "../comm/rpc.ts";
import { SchedulerState } from "./state.ts";
import { localityGroup } from "./placement.ts";
import type { Action } from "./types.ts";
import { TASK_STREAM_CAPACITY, TaskStream } from "./task_stream.ts";

/** Options of {@linkcode SchedulerServer.start}. */
export interface SchedulerServerOptions {
  /** Interface to listen on. Default `127.0.0.1`: other hosts need an explicit choice. */
  hostname?: string;
  /** Port; default 0 (a free one). */
  port?: number;
  /** A worker silent this long (ms) is removed and its keys recomputed. Default 30 000. */
  heartbeatTimeout?: number;
  /** How many workers may die running one task before it fails with KilledWorker. Default 3. */
  allowedFailures?: number;
  /**
   * Tasks in flight per executor thread of a worker; the rest wait at the
   * scheduler, so late placement can still follow the data. Default 4
   * (2 left a worker idle between round trips on tiny tasks).
   */
  tasksPerThread?: number;
  /**
   * Count bytes held by a same-host worker as local when placing tasks.
   * Default true, and it applies only between workers in shared-memory mode
   * on the same host and spill filesystem (they hand keys over by hard
   * link); `false` turns it off.
   */
  sameHostIsLocal?: boolean;
  /** How many task records `task-stream` keeps. Default 100,000. */
  taskStreamCapacity?: number;
  /**
   * The shared secret every worker and client must prove in the handshake
   * (`--auth-token`); null or absent for none. Default none.
   */
  authToken?: string | null;
  /**
   * The largest message accepted after the handshake, in bytes
   * (`--max-message-size`). Default `DEFAULT_MAX_MESSAGE_SIZE` (16 GiB).
   */
  maxMessageSize?: number;
  /**
   * TLS (PEM text): with `cert` and `key` the scheduler listens with TLS
   * (its address is `tls://…`); with `ca` too, every worker and client must
   * present a certificate signed by `ca` (mutual TLS). Default: plain TCP.
   */
  tls?: TlsOptions;
  /**
   * Log lines go here (the message, its level, its fields). Default: the
   * process's log, as `scheduler` (see `configureLogging`).
   */
  log?: LogFunction;
}

/**
 * A connection to the scheduler: a worker's (which serves
 * `WorkerControlOperations`) or a client's (which serves `ClientOperations`).
 */
type Peer = AnyPeer<
  WorkerControlOperations & ClientOperations,
  SchedulerOperations
>;

interface WorkerConnection {
  peer: Peer;
  /** Compute messages of one turn go in one notification. */
  computes: Batcher<ComputeMessage>;
  registration: RegisterWorker;
  lastSeen: number;
  heartbeat: Heartbeat | null;
}

interface ClientConnection {
  peer: Peer;
  /** Keys done in one turn go in one notification. */
  done: Batcher<string>;
  /** How many futures of this client want each key. */
  wants: Map<string, number>;
}

/**
 * What the scheduler shows a dashboard, read-only: every method returns a
 * fresh copy and changes nothing.
 *
 * @example
 * ```ts
 * import type { SchedulerServer } from "./server.ts";
 * declare const scheduler: SchedulerServer;
 * const view = scheduler.view();
 * for (const { description } of view.workers()) console.log(description.address);
 * ```
 */
export interface SchedulerView {
  /**
   * The workers as `client.workers()` describes them, each with the last
   * heartbeat they came from (null before the first).
   */
  workers(): { description: WorkerDescription; heartbeat: Heartbeat | null }[];
  /** Tasks by state, in all and per task function. */
  tasks(): TaskCounts;
  /** Workers that left in the last minute, oldest first. */
  departed(): DepartedWorker[];
  /** Task records whose last phase ended at or after `since` (all without). */
  taskStream(since?: number): TaskStreamRecord[];
  /**
   * Task records added after `cursor` (0 at first) and the cursor for the
   * next call.
   */
  taskStreamAfter(
    cursor: number,
  ): { records: TaskStreamRecord[]; cursor: number };
}

/** How long a departed worker is remembered, ms. */
const DEPARTED_WINDOW = 60_000;

/**
 * The scheduler role.
 *
 * @example
 * ```ts
 * import { SchedulerServer } from "./server.ts";
 * await using scheduler = await SchedulerServer.start({ port: 8786 });
 * console.log(scheduler.address); // tcp://127.0.0.1:8786
 * ```
 */
export class SchedulerServer implements AsyncDisposable {
  readonly #state: SchedulerState;
  readonly #workers = new Map<string, WorkerConnection>();
  readonly #workerOf = new Map<Peer, string>();
  readonly #clients = new Map<Peer, ClientConnection>();
  readonly #log: LogFunction;
  readonly #heartbeatTimeout: number;
  readonly #taskStream: TaskStream;
  /** Workers that left recently (see {@linkcode SchedulerView.departed}). */
  #departed: DepartedWorker[] = [];
  /** The tasks each recently removed worker was running (a few dozen kept). */
  readonly #diedRunning = new Map<string, string[]>();
  #server!: RpcServer<
    SchedulerOperations,
    WorkerControlOperations & ClientOperations
  >;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  private constructor(options: SchedulerServerOptions) {
    this.#state = new SchedulerState({
      allowedFailures: options.allowedFailures,
      tasksPerThread: options.tasksPerThread ?? 4,
      placement: { sameHostIsLocal: options.sameHostIsLocal ?? true },
    });
    this.#log = options.log ?? roleLog("scheduler");
    this.#heartbeatTimeout = options.heartbeatTimeout ?? 30_000;
    this.#taskStream = new TaskStream(
      options.taskStreamCapacity ?? TASK_STREAM_CAPACITY,
    );
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(
    options: SchedulerServerOptions = {},
  ): Promise<SchedulerServer> {
    const scheduler = new SchedulerServer(options);
    scheduler.#server = await RpcServer.listen<
      SchedulerOperations,
      WorkerControlOperations & ClientOperations
    >({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      handlers: scheduler.#handlers(),
      onPeer: (peer) => {
        peer.closed.then(() => scheduler.#disconnected(peer));
      },
      log: scheduler.#log,
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      authToken: options.authToken ?? null,
      protocolVersion: PROTOCOL_VERSION,
      maxMessageBytes: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    });
    scheduler.#watchdog = setInterval(
      () => scheduler.#checkHeartbeats(),
      Math.min(1000, scheduler.#heartbeatTimeout),
    );
    return scheduler;
  }

  /** Where workers and clients connect: `tcp://host:port` (`tls://host:port` with TLS). */
  get address(): string {
    return this.#server.url;
  }

  /** Whether every connection must present a client certificate signed by the CA (mutual TLS). */
  get mutualTls(): boolean {
    return this.#server.mutualTls;
  }

  /** The state machine, for inspection. */
  get state(): SchedulerState {
    return this.#state;
  }

  /**
   * A read-only view of the workers, tasks and task stream, for a
   * dashboard.
   *
   * @returns Functions that read the scheduler as it is when called.
   */
  view(): SchedulerView {
    return {
      workers: () =>
        [...this.#workers.values()].map((w) => ({
          description: describeWorker(w),
          heartbeat: w.heartbeat,
        })),
      tasks: () => {
        const byFunction = this.#state.countsByFunction();
        const states: TaskCounts["states"] = noTasks();
        for (const counts of Object.values(byFunction)) {
          for (const state of Object.keys(states) as TaskState[]) {
            states[state] += counts[state];
          }
        }
        return { states, byFunction };
      },
      departed: () => this.#recentDepartures().map((d) => ({ ...d })),
      taskStream: (since) => this.#taskStream.collect(since),
      taskStreamAfter: (cursor) => ({
        records: this.#taskStream.after(cursor),
        cursor: this.#taskStream.added,
      }),
    };
  }

  #recentDepartures(): DepartedWorker[] {
    const from = Date.now() - DEPARTED_WINDOW;
    this.#departed = this.#departed.filter((d) => d.at >= from);
    return this.#departed;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog);
    await this.#server.close();
  }

  /** Closes the scheduler at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #handlers(): RpcHandlers<
    SchedulerOperations,
    WorkerControlOperations & ClientOperations
  > {
    return {
      "register-worker": (registration, peer) => {
        checkRegistration(registration);
        const id = registration.address;
        if (this.#workers.has(id)) this.#removeWorker(id, "re-registered");
        const replaced = registration.replaces;
        if (replaced !== undefined && replaced !== id) {
          // Its nanny restarted it: the old process may not be noticed yet.
          const memory = registration.replacedAfterMemoryKill;
          if (memory !== undefined) {
            const why = `killed by its nanny for memory at ${
              (memory / 2 ** 20).toFixed(2)
            } MiB`;
            if (this.#workers.has(replaced)) {
              this.#removeWorker(replaced, why);
            } else {
              const running = this.#diedRunning.get(replaced) ?? [];
              this.#log(
                `worker ${replaced} died (${why})${
                  running.length > 0
                    ? ` while running ${running.join(", ")}`
                    : ""
                }`,
                "warn",
                { worker: replaced, why, running },
              );
            }
          }
          this.#removeWorker(replaced, "restarted");
          for (const d of this.#departed) {
            if (d.address === replaced) d.why = "restarted";
          }
        }
        this.#workers.set(id, {
          peer,
          computes: new Batcher((tasks) =>
            this.#notify(peer, "compute", { tasks })
          ),
          registration,
          lastSeen: Date.now(),
          heartbeat: null,
        });
        this.#workerOf.set(peer, id);
        this.#log(
          `worker ${id} joined (host ${registration.host}, ${registration.nthreads} threads)`,
        );
        this.#apply(this.#state.addWorker({
          id,
          host: localityGroup(registration),
          nthreads: registration.nthreads,
          memoryLimit: registration.memoryLimit ?? 0,
        }));
        return { ok: true };
      },
      "heartbeat": (beat, peer) => {
        const worker = this.#worker(peer);
        if (worker === undefined) return;
        const changed = worker.heartbeat?.status !== beat.status;
        worker.heartbeat = beat;
        worker.lastSeen = Date.now();
        this.#apply(this.#state.updateWorker(worker.registration.address, {
          managedBytes: beat.store.managed,
          ...(changed ? { status: beat.status } : {}),
        }));
      },
      "task-finished": ({ tasks }, peer) => {
        const id = this.#workerOf.get(peer);
        if (id === undefined) return;
        for (const task of tasks) {
          this.#record(id, task.key, task);
          this.#apply(
            this.#state.taskFinished(id, task.key, task.nbytes, task.seconds),
          );
        }
      },
      "task-erred": (erred, peer) => {
        const id = this.#workerOf.get(peer);
        if (id === undefined) return;
        this.#record(
          id,
          erred.key,
          erred,
          `${erred.error.name}: ${erred.error.message}`,
        );
        this.#apply(this.#state.taskErred(id, erred.key, erred.error));
      },
      "task-stream": (body): TaskStreamRecord[] => {
        const since = body?.since;
        if (since !== undefined && !Number.isFinite(since)) {
          throw new TypeError(
            `task-stream: since must be a time in epoch milliseconds, got ${
              JSON.stringify(since)
            }`,
          );
        }
        return this.#taskStream.collect(since);
      },
      "add-replica": ({ key, nbytes }, peer) => {
        const id = this.#workerOf.get(peer);
        if (id === undefined) return;
        this.#apply(this.#state.addReplica(key, id, nbytes));
      },
      "register-client": (_body, peer) => {
        this.#client(peer);
        return { ok: true };
      },
      "submit": (body, peer) => {
        const checked = checkBody(body, "submit");
        const tasks = checkTaskSpecs(checked.tasks);
        const wanted = checkKeys(checked.wanted, "submit: wanted");
        const client = this.#client(peer);
        for (const key of wanted) {
          client.wants.set(key, (client.wants.get(key) ?? 0) + 1);
        }
        this.#apply(this.#state.submit(tasks, wanted));
        // Keys already done (or failed) before this client asked.
        for (const key of wanted) this.#tellIfSettled(client, key);
        return { ok: true };
      },
      "add-data": (body, peer) => {
        const checked = checkBody(body, "add-data");
        const [key] = checkKeys([checked.key], "add-data: key");
        const workers = checkKeys(checked.workers, "add-data: workers");
        const nbytes = checked.nbytes;
        if (!(typeof nbytes === "number" && nbytes >= 0)) {
          throw new TypeError("add-data: nbytes must be a number >= 0");
        }
        const client = this.#client(peer);
        client.wants.set(key, (client.wants.get(key) ?? 0) + 1);
        this.#apply(this.#state.addData(key, workers, nbytes));
        this.#tellIfSettled(client, key);
        return { ok: true };
      },
      "release": (body, peer) => {
        checkKeys(checkBody(body, "release").keys, "release: keys");
        const client = this.#client(peer);
        const keys = body.keys.filter((key) => {
          const n = client.wants.get(key) ?? 0;
          if (n === 0) return false;
          if (n === 1) client.wants.delete(key);
          else client.wants.set(key, n - 1);
          return true;
        });
        this.#apply(this.#state.release(keys));
        return { ok: true };
      },
      "cancel": ({ keys }) => {
        if (!Array.isArray(keys) || keys.some((k) => typeof k !== "string")) {
          throw new TypeError("cancel: keys must be an array of strings");
        }
        this.#apply(this.#state.cancel(keys));
        return { ok: true };
      },
      "who-has": (body) => {
        const keys = checkKeys(
          checkBody(body, "who-has").keys,
          "who-has: keys",
        );
        const out: Record<string, string[]> = {};
        for (const key of keys) {
          out[key] = this.#state.whoHas(key);
        }
        return out;
      },
      "workers": () => [...this.#workers.values()].map(describeWorker),
      "snapshot": () => this.#state.snapshot(),
      "ping": () => "pong",
    };
  }

  /** Keeps what a worker said of the phases of `key` (if it said anything). */
  #record(
    worker: string,
    key: string,
    timeline: TaskTimeline,
    error?: string,
  ): void {
    if (timeline.startstops === undefined) return;
    this.#taskStream.add({
      key,
      name: timeline.name ?? key,
      worker,
      thread: timeline.thread ?? 0,
      startstops: timeline.startstops,
      ...(error === undefined ? {} : { error }),
    });
  }

  #worker(peer: Peer): WorkerConnection | undefined {
    const id = this.#workerOf.get(peer);
    return id === undefined ? undefined : this.#workers.get(id);
  }

  #client(peer: Peer): ClientConnection {
    let client = this.#clients.get(peer);
    if (client === undefined) {
      client = {
        peer,
        wants: new Map(),
        // With the holders, so that the client fetches without a who-has.
        done: new Batcher((keys) =>
          this.#notify(peer, "task-done", {
            keys,
            who: Object.fromEntries(
              keys.map((key) => [key, this.#state.whoHas(key)]),
            ),
          })
        ),
      };
      this.#clients.set(peer, client);
    }
    return client;
  }

  #tellIfSettled(client: ClientConnection, key: string): void {
    const state = this.#state.taskState(key);
    if (state === "memory") client.done.push(key);
    else if (state === "erred") {
      // An erred task always has its error; the fallback only satisfies the type.
      const error = this.#state.errorOf(key) ??
        { name: "Error", message: `task ${key} failed`, key };
      this.#notify(client.peer, "task-erred", { key, error });
    }
  }

  #apply(actions: Action[]): void {
    for (const action of actions) {
      switch (action.type) {
        case "compute": {
          const worker = this.#workers.get(action.worker);
          if (worker === undefined) break;
          worker.computes.push({
            key: action.key,
            module: action.module,
            exportName: action.exportName,
            args: action.args,
            who: action.who,
            sizes: Object.fromEntries(
              Object.keys(action.who).map((
                key,
              ) => [key, this.#state.nbytesOf(key)]),
            ),
          });
          break;
        }
        case "release":
        case "cancel": {
          const worker = this.#workers.get(action.worker);
          if (worker === undefined) break;
          if (action.type === "release") {
            this.#notify(worker.peer, "release", { keys: action.keys });
          } else this.#notify(worker.peer, "cancel", { key: action.key });
          break;
        }
        case "task-done":
          for (const client of this.#clientsWanting(action.key)) {
            client.done.push(action.key);
          }
          break;
        case "task-erred":
          for (const client of this.#clientsWanting(action.key)) {
            this.#notify(client.peer, "task-erred", {
              key: action.key,
              error: action.error satisfies TaskErrorInfo,
            });
          }
          break;
      }
    }
  }

  *#clientsWanting(key: string): Iterable<ClientConnection> {
    for (const client of this.#clients.values()) {
      if (client.wants.has(key)) yield client;
    }
  }

  #notify<K extends keyof (WorkerControlOperations & ClientOperations)>(
    peer: Peer,
    op: K,
    body: RequestOf<WorkerControlOperations & ClientOperations, K>,
  ): void {
    peer.notify(op, body).catch((error) => {
      this.#log(
        `could not send ${op} to ${peer.remoteAddress.hostname}:${peer.remoteAddress.port}: ${error.message}`,
        "warn",
      );
    });
  }

  #disconnected(peer: Peer): void {
    const id = this.#workerOf.get(peer);
    if (id !== undefined && this.#workers.get(id)?.peer === peer) {
      this.#removeWorker(id, "disconnected");
    }
    this.#workerOf.delete(peer);
    const client = this.#clients.get(peer);
    if (client !== undefined) {
      this.#clients.delete(peer);
      const keys: string[] = [];
      for (const [key, n] of client.wants) {
        for (let i = 0; i < n; i++) keys.push(key);
      }
      this.#apply(this.#state.release(keys));
    }
  }

  #removeWorker(id: string, why: string): void {
    const worker = this.#workers.get(id);
    if (worker === undefined) return;
    this.#workers.delete(id);
    this.#workerOf.delete(worker.peer);
    if (why !== "re-registered") {
      this.#recentDepartures().push({
        address: id,
        at: Date.now(),
        why: why === "restarted" ? "restarted" : "left",
      });
    }
    worker.peer.close();
    // A worker leaving with nothing (the end of a run) is no news.
    const record = this.#state.snapshot().workers.find((w) => w.id === id);
    const held = (record?.keys.length ?? 0) + (record?.processing.length ?? 0);
    const running = record?.processing ?? [];
    this.#diedRunning.set(id, [...running]);
    // Kept for a nanny's restart that says why its child died.
    if (this.#diedRunning.size > 64) {
      this.#diedRunning.delete(this.#diedRunning.keys().next().value!);
    }
    this.#log(
      `worker ${id} removed (${why})${
        running.length > 0 ? ` while running ${running.join(", ")}` : ""
      }${held > 0 ? `; its ${held} keys will be recomputed if needed` : ""}`,
      held > 0 ? "warn" : "info",
      { worker: id, why, keys: held, running },
    );
    this.#apply(this.#state.removeWorker(id));
  }

  #checkHeartbeats(): void {
    const now = Date.now();
    for (const [id, worker] of this.#workers) {
      if (now - worker.lastSeen > this.#heartbeatTimeout) {
        this.#removeWorker(id, `no heartbeat for ${this.#heartbeatTimeout} ms`);
      }
    }
  }
}

/** Refuses a registration without a worker's address and thread count. */
function checkRegistration(registration: unknown): void {
  const r = checkBody(registration, "register-worker");
  if (typeof r.address !== "string" || !URL.canParse(r.address)) {
    throw new TypeError("register-worker: address must be the worker's URL");
  }
  if (!(Number.isSafeInteger(r.nthreads) && (r.nthreads as number) >= 1)) {
    throw new TypeError("register-worker: nthreads must be an integer >= 1");
  }
  if (typeof r.host !== "string") {
    throw new TypeError("register-worker: host must be a string");
  }
}

/** A worker as `client.workers()` returns it, from its registration and last heartbeat. */
function describeWorker(w: WorkerConnection): WorkerDescription {
  const { restarts, replaces: _, thresholds, ...registration } = w.registration;
  const beat = w.heartbeat;
  const tasks = beat?.tasks;
  return {
    ...registration,
    status: beat?.status ?? "running",
    store: beat?.store ?? null,
    memory: beat?.memory ?? null,
    transfers: beat?.transfers ?? null,
    eventLoop: beat?.eventLoop === undefined ? null : {
      maxMs: beat.eventLoop.maxMs,
      p99Ms: beat.eventLoop.p99Ms,
      windowSeconds: 60,
    },
    restarts: restarts ?? 0,
    spillExhausted: beat?.spillExhausted ?? false,
    thresholds: thresholds ??
      { target: null, spill: null, pause: null, terminate: null },
    segments: {
      live: beat?.store.live.bytes ?? 0,
      serialized: beat?.store.serialized.bytes ?? 0,
      mapped: beat?.store.mappings.bytes ?? 0,
      spilled: beat?.store.spilled.bytes ?? 0,
      unmanaged: beat?.memory.unmanaged ?? 0,
    },
    tasks: {
      executing: tasks?.executing ?? 0,
      ready: tasks?.ready ?? 0,
      waiting: tasks?.waiting ?? 0,
      paused: tasks?.paused ?? 0,
      memory: tasks?.memory ?? 0,
    },
  };
}

/**
 * A cluster on this machine: a scheduler and workers, each a separate
 * process started with least-privilege Deno flags.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL as toFileUrl } from "node:url";
import { parseMemoryLimit } from "../memory/bytes.ts";
import { checkMemoryLimit } from "../memory/floor.ts";
import { remoteAllowedBy, remoteRefusal } from "./remote.ts";
import { checkAuthToken, randomAuthToken } from "../comm/handshake.ts";
import type { WorkerConfig } from "../worker/config.ts";
import {
  checkTaskPermissions,
  denoCachePaths,
  findDenoDir,
  type TaskPermissions,
} from "../worker/task_permissions.ts";
import { roleLog } from "../comm/log.ts";
import { readTlsFiles, type TlsFiles, type TlsOptions } from "../comm/tls.ts";
import { makeTestCertificates } from "./certs.ts";
import { LineTail, pumpLines } from "./lines.ts";
import {
  checkSpillPath,
  codecReadPaths,
  nannyFlags,
  schedulerFlags,
  workerFlags,
} from "./permissions.ts";
import {
  authTokenEnv,
  isCompiled,
  ownReadPaths,
  roleCommand,
  WORKER_ENV,
  workerArgs,
  workerV8Flags,
} from "./spawn.ts";

/**
 * Options of {@linkcode LocalCluster.start}: its workers' configuration
 * (`sharedMemory`, `target`, and the fields below), and the cluster's own.
 *
 * @example
 * ```ts
 * import { LocalCluster, type LocalClusterOptions } from "@spillway/spillway";
 * const options: LocalClusterOptions = { workers: 2, threadsPerWorker: 1, memoryLimit: "1GiB" };
 * await using cluster = await LocalCluster.start(options);
 * ```
 */
export interface LocalClusterOptions extends
  Partial<
    Pick<
      WorkerConfig,
      | "sharedMemory"
      | "target"
      | "reconnectTimeout"
      | "spillExhaustedTimeout"
      | "insecureAllowRemote"
      | "logLevel"
      | "logFormat"
      | "maxMessageSize"
    >
  > {
  /** How many workers. Default 2. */
  workers?: number;
  /** Executor threads per worker. Default 1. */
  threadsPerWorker?: number;
  /**
   * Memory limit per worker: `"1GiB"`, `2e9`, a fraction of system memory
   * (`0.5`; needs `--allow-sys=systemMemoryInfo` in this process), or
   * `0`/`null` for none (see `parseMemoryLimit`). Default none. At least
   * `MIN_MEMORY_LIMIT` (112 MiB).
   */
  memoryLimit?: string | number | null;
  /**
   * Where the cluster's spill directories go: a directory made inside it
   * holds one subdirectory per worker; all removed by `close()`. Default:
   * the OS temp directory. Not under `/dev` (Deno refuses scoped grants
   * there) unless `allowAll`.
   */
  spillDir?: string;
  /**
   * Directories or files task modules are read from (paths or `file:`
   * URLs; `https:` modules need none). Workers may read only these.
   * Default: the current working directory.
   */
  modules?: (string | URL)[];
  /**
   * Modules that register codecs (`registerCodec`; paths, `file:` or
   * `https:` URLs), imported by every worker when it starts, on its control
   * thread and in each executor: values of those classes can then be the
   * arguments and results of any task. Workers may read them (as
   * `modules`). Default none: a task module that registers a codec is
   * enough for its own tasks.
   */
  codecs?: (string | URL)[];
  /**
   * What tasks may do beyond the sandbox, in Deno's permission shape (a
   * list, or `true` for all). Tasks run in a sandbox that reads only
   * `modules`, the codec modules, spillway's code and Deno's cache, and
   * writes, connects, reads the environment and runs programs only as
   * granted here (the worker processes are given what they grant). In
   * shared-memory mode executors hold FFI, which lifts the sandbox. Default
   * none.
   *
   * @example `taskPermissions: { read: ["/srv/data"], net: ["db:5432"] }`
   */
  taskPermissions?: TaskPermissions;
  /** A worker silent this long (ms) is removed. Default 30 000. */
  heartbeatTimeout?: number;
  /**
   * How many workers may die while running one task before it fails with
   * `KilledWorker` (the scheduler's `--allowed-failures`; Dask's
   * `allowed-failures`). Default 3.
   *
   * @example `allowedFailures: 50` for a test that kills workers at random
   */
  allowedFailures?: number;
  /**
   * How many task records the scheduler's task stream keeps (its
   * `--task-stream-capacity`). Default 100,000.
   *
   * @example `taskStreamCapacity: 1000` for a long run whose memory must stay flat
   */
  taskStreamCapacity?: number;
  /**
   * Run each worker under a nanny that kills it past 95% of its memory
   * limit and restarts it when it dies. Default true.
   */
  nanny?: boolean;
  /**
   * Interface everything listens on. Default `127.0.0.1`. One that other
   * hosts can reach needs `insecureAllowRemote: true` (there is no
   * authentication yet).
   */
  host?: string;
  /** V8 flags for the scheduler and worker processes, e.g. `"--expose-gc"`. */
  v8Flags?: string;
  /**
   * Run every process with `-A` instead of scoped flags (needed for a spill
   * directory under `/dev`). Default false.
   */
  allowAll?: boolean;
  /** How long (ms) a process may take to print its address. Default 30 000. */
  startTimeout?: number;
  /** How long (ms) `close()` waits after SIGTERM before SIGKILL. Default 10 000. */
  closeTimeout?: number;
  /**
   * Where the processes' log lines (stderr, and stdout lines that are not
   * addresses) go, prefixed with `scheduler: ` or `worker-<i>: `. Default:
   * this process's stderr, each line as its process wrote it (with its
   * time, level and role; `logLevel` and `logFormat` set how), and the
   * cluster's own lines (a process that exited unexpectedly) through this
   * process's log as `cluster`.
   */
  log?: (line: string) => void;
  /**
   * Serve the dashboard and `/metrics` over HTTP from the scheduler
   * (`cluster.dashboardUrl`). Default true.
   */
  dashboard?: boolean;
  /**
   * The dashboard's port; 0 for a free one (a taken port falls back to a
   * free one too). Default 0.
   */
  dashboardPort?: number;
  /**
   * The cluster's shared secret: every connection (client, worker, peer)
   * proves it in its handshake, and the dashboard asks for it. A string,
   * or `true` for a random one (`cluster.authToken` gives it). It reaches
   * the processes through their environment, never their command line.
   * Default none on loopback (then `Client.connect(cluster.address)` works
   * as it is); a non-loopback `host` needs one (or mutual TLS, or
   * `insecureAllowRemote`).
   */
  authToken?: string | true | null;
  /**
   * TLS on every connection, with a throwaway CA made for this cluster: the
   * scheduler and workers listen with TLS (`tls://` addresses) and require
   * client certificates signed by that CA (mutual TLS); their keys stay in
   * the cluster's temp directory (mode 0600), removed on close, and reach
   * the processes by path. `cluster.tls` gives a client its CA, certificate
   * and key. Default false.
   */
  tls?: boolean;
  /**
   * TLS with your own PEM files (paths, as `--tls-cert`, `--tls-key`,
   * `--tls-ca`): the scheduler and workers listen with `cert` and `key`, and
   * with `ca` require client certificates it signed (mutual TLS). The
   * certificate must name the cluster's host, and carry both `serverAuth`
   * and `clientAuth` for mutual TLS (each process is a server and a client).
   * `cluster.tls` gives the same files' text to a client. Default none.
   */
  tlsFiles?: TlsFiles;
}

/**
 * One worker of a {@linkcode LocalCluster}, as it is now.
 *
 * @example
 * ```ts
 * import type { LocalCluster, LocalClusterWorker } from "@spillway/spillway";
 * declare const cluster: LocalCluster;
 * for (const w of cluster.workers as readonly LocalClusterWorker[]) {
 *   console.log(w.address, w.pid, w.spillDir, w.restarts);
 * }
 * ```
 */
export interface LocalClusterWorker {
  /** The worker's address, `tcp://host:port` (changes when it restarts). */
  address: string;
  /** The worker process's pid (changes when it restarts). */
  pid: number;
  /** The nanny's pid, or null without a nanny. */
  nannyPid: number | null;
  /** The worker process's spill directory. */
  spillDir: string;
  /** How many times the nanny started a fresh worker process. */
  restarts: number;
}

/**
 * Where a process's lines go: `line` from process `name`; `own` for the
 * cluster's own lines about it.
 */
type Relay = (name: string, line: string, own?: boolean) => void;

/** A line a process's log wrote: a time, a level (text), or a JSON object. */
const LOG_LINE =
  /^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z (?:DEBUG|INFO|WARN|ERROR) |\{"time":)/;

/** The relay to a `log` option: each line prefixed with its process's name. */
function prefixed(log: (line: string) => void): Relay {
  return (name, line) => log(`${name}: ${line}`);
}

/** The default relay: log lines as they are, others named, own lines logged. */
function toStderr(): Relay {
  const own = roleLog("cluster");
  return (name, line, mine) => {
    if (mine) own(`${name} ${line}`, "warn");
    else console.error(LOG_LINE.test(line) ? line : `${name}: ${line}`);
  };
}

/** A started process of the cluster, its output watched line by line. */
class RoleProcess {
  readonly name: string;
  readonly process: Deno.ChildProcess;
  readonly #tail = new LineTail();
  readonly #stop = new AbortController();
  readonly #pumps: Promise<void>[];
  readonly #waiters = new Set<() => void>();
  #exited = false;
  #stopping = false;

  constructor(
    name: string,
    command: { command: string; args: string[] },
    relay: Relay,
    onLine: (line: string) => boolean,
    env?: Readonly<Record<string, string>>,
  ) {
    this.name = name;
    this.process = new Deno.Command(command.command, {
      args: command.args,
      ...(env !== undefined ? { env: { ...env } } : {}),
      stdin: "piped", // closed when this process dies: the child then exits
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const signal = this.#stop.signal;
    this.#pumps = [
      pumpLines(this.process.stdout, (line) => {
        if (!onLine(line)) relay(name, line);
        this.#notify();
      }, signal),
      pumpLines(this.process.stderr, (line) => {
        this.#tail.push(line);
        relay(name, line);
      }, signal),
    ];
    this.process.status.then((status) => {
      this.#exited = true;
      if (!this.#stopping) {
        relay(
          name,
          `exited unexpectedly (${status.signal ?? `code ${status.code}`})`,
          true,
        );
      }
      this.#notify();
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Waits until `ready()` holds (checked after each stdout line). */
  async waitFor<T>(
    ready: () => T | undefined,
    what: string,
    timeout: number,
  ): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.#exited) {
        const status = await this.process.status;
        await Promise.race([Promise.all(this.#pumps), delay(500)]);
        throw new Error(
          `${this.name} exited (${
            status.signal ?? `code ${status.code}`
          }) before ${what}${this.#lastLines()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.name} did not report ${what} within ${timeout} ms${this.#lastLines()}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  #lastLines(): string {
    const text = this.#tail.toString();
    return text === "" ? "" : `; its last output:\n${text}`;
  }

  /** SIGTERM, SIGKILL after `grace` ms; resolves once it exited and its output ended. */
  async stop(grace: number): Promise<{ killed: boolean }> {
    this.#stopping = true;
    let killed = false;
    if (!this.#exited) {
      signal(this.process, "SIGTERM");
      const timer = setTimeout(() => {
        killed = true;
        signal(this.process, "SIGKILL");
      }, grace);
      await this.process.status;
      clearTimeout(timer);
    }
    await this.process.stdin.close().catch(() => {});
    // A grandchild holding the pipes open must not hold us up for long.
    await Promise.race([Promise.all(this.#pumps), delay(2000)]);
    this.#stop.abort();
    await Promise.all(this.#pumps);
    return { killed };
  }
}

function signal(process: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    process.kill(sig);
  } catch {
    // Already gone.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const LISTENING = /^(?:scheduler|worker) listening at ((?:tcp|tls):\/\/\S+)/;
const DASHBOARD = /^dashboard at (https?:\/\/\S+)/;
const STARTED = /^worker process (\d+) started \(spill dir (.*)\)$/;

interface WorkerState {
  role: RoleProcess;
  nanny: boolean;
  address: string | null;
  pid: number | null;
  spillDir: string | null;
  starts: number;
}

/**
 * A scheduler and workers on this machine, each a separate process (`deno
 * run … cli.ts scheduler|worker`, or the `spillway` binary's roles when
 * compiled), listening on free ports so that several clusters can run side
 * by side.
 *
 * Each process gets only what it needs: the scheduler `--allow-net=<host>`;
 * a worker network to the cluster's host, read and write on its own spill
 * directory, read on the task modules and on spillway's executor code, and
 * `--allow-sys=hostname`; its nanny additionally `--allow-run=<deno>,cat`
 * (see `permissions.ts`).
 *
 * @example Two workers with 1 GiB each
 * ```ts
 * import { Client, LocalCluster } from "@spillway/spillway";
 * // The task module's type; a real program writes `typeof import("./ops.ts")`.
 * type Ops = {
 *   chunk(seed: number, n: number): Float64Array;
 *   dot(a: Float64Array, b: Float64Array): number;
 * };
 *
 * await using cluster = await LocalCluster.start({
 *   workers: 2,
 *   memoryLimit: "1GiB",
 *   modules: [new URL("./", import.meta.url)],
 * });
 * await using client = await Client.connect(cluster.address);
 * const ops = client.module<Ops>(new URL("./ops.ts", import.meta.url));
 * console.log(await ops.dot(ops.chunk(0, 1e6), ops.chunk(1, 1e6)).result());
 * ```
 */
export class LocalCluster implements AsyncDisposable {
  readonly #scheduler: RoleProcess;
  readonly #address: string;
  readonly #workers: WorkerState[] = [];
  /** Removed on close: the cluster's spill root, or the directory made for it. */
  readonly #root: string;
  #spillRoot = "";
  #dashboardUrl: string | null = null;
  #authToken: string | null = null;
  #tls: TlsOptions | null = null;
  #mutualTls = false;
  readonly #closeTimeout: number;
  #closing: Promise<void> | null = null;

  private constructor(
    scheduler: RoleProcess,
    address: string,
    root: string,
    closeTimeout: number,
  ) {
    this.#scheduler = scheduler;
    this.#address = address;
    this.#root = root;
    this.#closeTimeout = closeTimeout;
  }

  /**
   * Starts the scheduler, then the workers; resolves once every worker has
   * registered.
   *
   * @param options Workers, threads, memory limit, spill root, modules, ...
   * @returns The running cluster.
   * @throws {RangeError} For a bad option (workers, threads, memory limit).
   * @throws {SpillPathError} For a spill root under `/dev` without `allowAll`.
   * @throws {Error} If a process exits or stays silent before it is ready
   *   (the message carries its last output); what started is stopped.
   */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const workers = options.workers ?? 2;
    const threads = options.threadsPerWorker ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(
        `workers must be a positive integer, got ${workers}`,
      );
    }
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(
        `threadsPerWorker must be a positive integer, got ${threads}`,
      );
    }
    const memoryLimit = parseMemoryLimit(options.memoryLimit ?? null);
    checkMemoryLimit(memoryLimit);
    const host = options.host ?? "127.0.0.1";
    const authToken = options.authToken === true
      ? randomAuthToken()
      : checkAuthToken(options.authToken);
    // Mutual TLS (a CA that clients must be signed by) secures a
    // non-loopback host as a token does.
    const mutualTlsAsked = options.tls === true ||
      (options.tlsFiles?.cert !== undefined &&
        options.tlsFiles?.ca !== undefined);
    const verdict = remoteAllowedBy(
      host,
      { authToken: authToken !== null, mutualTls: mutualTlsAsked },
      options.insecureAllowRemote === true,
    );
    if (verdict === "refused") {
      throw new RangeError(
        remoteRefusal(
          host,
          "pass insecureAllowRemote: true",
          "pass authToken (a string, or true for a random one), or tls: true",
        ),
      );
    }
    // Only an unsecured non-loopback host needs the flag (and warns).
    const remote = verdict === "insecure";
    const tokenEnv = authTokenEnv(authToken);
    const reconnectTimeout = options.reconnectTimeout;
    if (
      reconnectTimeout !== undefined &&
      !(reconnectTimeout >= 0 && Number.isFinite(reconnectTimeout))
    ) {
      throw new RangeError(
        `reconnectTimeout must be a number of milliseconds >= 0, got ${reconnectTimeout}`,
      );
    }
    const allowedFailures = options.allowedFailures;
    if (
      allowedFailures !== undefined &&
      !(Number.isInteger(allowedFailures) && allowedFailures >= 1)
    ) {
      throw new RangeError(
        `allowedFailures must be a positive integer, got ${allowedFailures}`,
      );
    }
    const allowAll = options.allowAll ?? false;
    const nanny = options.nanny ?? true;
    const log = options.log !== undefined ? prefixed(options.log) : toStderr();
    const logFlags = [
      ...(options.logLevel !== undefined
        ? ["--log-level", options.logLevel]
        : []),
      ...(options.logFormat !== undefined
        ? ["--log-format", options.logFormat]
        : []),
    ];
    const startTimeout = options.startTimeout ?? 30_000;
    const remedy = "pass allowAll: true (every process then runs with -A)";
    const modules = (options.modules ?? [Deno.cwd()]).flatMap(modulePath);
    const codecs = (options.codecs ?? []).map(codecUrl);
    const taskPermissions = options.taskPermissions === undefined
      ? undefined
      : checkTaskPermissions(options.taskPermissions);
    // Tasks may read Deno's caches (npm: packages reading their own files).
    const denoDir = await findDenoDir();

    // A spill directory that did not exist is made, and removed on close.
    let madeSpillDir: string | null = null;
    if (options.spillDir !== undefined) {
      await checkSpillPath(options.spillDir, allowAll, remedy);
      madeSpillDir = await mkdirs(resolve(options.spillDir));
    }
    const root = await Deno.makeTempDir({
      ...(options.spillDir !== undefined ? { dir: options.spillDir } : {}),
      prefix: "spillway-cluster-",
    });
    let tlsPaths: Required<TlsFiles> | TlsFiles | undefined;
    let clientTls: TlsOptions | null = null;
    try {
      if (options.tls === true) {
        const dir = join(root, "tls");
        await Deno.mkdir(dir, { mode: 0o700 });
        const certs = await makeTestCertificates(dir);
        tlsPaths = certs.nodeFiles;
        clientTls = certs.client;
      } else if (options.tlsFiles !== undefined) {
        tlsPaths = Object.fromEntries(
          Object.entries(options.tlsFiles).flatMap(([part, path]) =>
            path === undefined ? [] : [[part, resolve(path)]]
          ),
        );
        clientTls = await readTlsFiles(tlsPaths);
      }
    } catch (error) {
      await Deno.remove(madeSpillDir ?? root, { recursive: true })
        .catch(() => {});
      throw error;
    }
    const tlsArgs = Object.entries(tlsPaths ?? {}).flatMap(([part, path]) =>
      path === undefined ? [] : [`--tls-${part}`, path]
    );
    const tlsRead = Object.values(tlsPaths ?? {}).filter((p) =>
      p !== undefined
    );
    const v8 = options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : [];
    const workerV8 = [`--v8-flags=${workerV8Flags(options.v8Flags)}`];
    let scheduler: RoleProcess | undefined;
    let cluster: LocalCluster | undefined;
    try {
      await checkSpillPath(root, allowAll, remedy);
      let address: string | undefined;
      const dashboard = options.dashboard ?? true;
      const dashboardPort = options.dashboardPort ?? 0;
      if (
        !Number.isInteger(dashboardPort) || dashboardPort < 0 ||
        dashboardPort > 65535
      ) {
        throw new RangeError(
          `dashboardPort must be 0 to 65535, got ${dashboardPort}`,
        );
      }
      let dashboardUrl: string | null = null;
      scheduler = new RoleProcess(
        "scheduler",
        roleCommand("scheduler", [
          "--host",
          host,
          "--port",
          "0",
          "--heartbeat-timeout",
          `${options.heartbeatTimeout ?? 30_000}ms`,
          "--die-with-parent",
          // Removed by the scheduler if this process dies without close().
          "--remove-when-orphaned",
          madeSpillDir ?? root,
          ...(allowedFailures !== undefined
            ? ["--allowed-failures", String(allowedFailures)]
            : []),
          ...(options.taskStreamCapacity !== undefined
            ? ["--task-stream-capacity", String(options.taskStreamCapacity)]
            : []),
          ...(remote ? ["--insecure-allow-remote"] : []),
          ...(dashboard
            ? ["--dashboard-port", String(dashboardPort)]
            : ["--no-dashboard"]),
          ...logFlags,
          ...tlsArgs,
          ...(options.maxMessageSize !== undefined
            ? ["--max-message-size", `${options.maxMessageSize}B`]
            : []),
        ], [
          ...(allowAll ? ["-A"] : [
            ...withRead(schedulerFlags(host, dashboard), [
              ...tlsRead,
              madeSpillDir ?? root,
            ]),
            `--allow-write=${madeSpillDir ?? root}`,
          ]),
          ...v8,
        ]),
        log,
        (line) => {
          // The scheduler prints its dashboard's URL before its address.
          const url = DASHBOARD.exec(line);
          if (url) dashboardUrl = url[1];
          if (url) return true;
          const match = LISTENING.exec(line);
          if (match) address = match[1];
          return match !== null;
        },
        tokenEnv,
      );
      const schedulerAddress = await scheduler.waitFor(
        () => address,
        "its address",
        startTimeout,
      );
      cluster = new LocalCluster(
        scheduler,
        schedulerAddress,
        madeSpillDir ?? root,
        options.closeTimeout ?? 10_000,
      );
      cluster.#spillRoot = root;
      cluster.#dashboardUrl = dashboardUrl;
      cluster.#authToken = authToken;
      cluster.#tls = clientTls;
      cluster.#mutualTls = tlsPaths?.cert !== undefined &&
        tlsPaths.key !== undefined && tlsPaths.ca !== undefined;
      for (let i = 0; i < workers; i++) {
        // Shared mode: one root for all, where each makes its directory.
        const worker: WorkerConfig = {
          scheduler: schedulerAddress,
          hostname: host,
          port: 0,
          nthreads: threads,
          memoryLimit,
          spillDir: options.sharedMemory ? root : join(root, `worker-${i}`),
          sharedMemory: options.sharedMemory ?? false,
          target: options.target,
          ...(reconnectTimeout !== undefined ? { reconnectTimeout } : {}),
          ...(options.spillExhaustedTimeout !== undefined
            ? { spillExhaustedTimeout: options.spillExhaustedTimeout }
            : {}),
          ...(remote ? { insecureAllowRemote: true } : {}),
          ...(codecs.length > 0 ? { codecs } : {}),
          ...(options.maxMessageSize !== undefined
            ? { maxMessageSize: options.maxMessageSize }
            : {}),
          taskModules: modules,
          ...(denoDir !== null ? { denoDir } : {}),
          ...(taskPermissions !== undefined ? { taskPermissions } : {}),
          ...(tlsPaths !== undefined ? { tlsFiles: tlsPaths } : {}),
          ...(options.logLevel !== undefined
            ? { logLevel: options.logLevel }
            : {}),
          ...(options.logFormat !== undefined
            ? { logFormat: options.logFormat }
            : {}),
        };
        if (!worker.sharedMemory) await Deno.mkdir(worker.spillDir);
        const needs = {
          netHosts: [host],
          spillDir: worker.spillDir,
          read: [
            ...modules,
            ...codecReadPaths(codecs),
            ...ownReadPaths(),
            ...tlsRead,
            ...denoCachePaths(denoDir),
          ],
          sharedMemory: worker.sharedMemory,
          ...(taskPermissions !== undefined ? { tasks: taskPermissions } : {}),
        };
        const flags = [
          ...(allowAll
            ? ["-A"]
            : nanny
            ? nannyFlags(needs)
            : workerFlags(needs)),
          // The executors' sandbox (deno.permissions on a Web Worker).
          "--unstable-worker-options",
        ];
        const args = [...workerArgs(worker), "--die-with-parent"];
        // --sandbox: this process has --unstable-worker-options (a compiled
        // binary's flags are its own).
        if (!nanny) {
          args.push("--no-nanny", ...(isCompiled() ? [] : ["--sandbox"]));
        } else {
          if (options.v8Flags) args.push(`--v8-flags=${options.v8Flags}`);
        }
        const state: WorkerState = {
          nanny,
          address: null,
          pid: null,
          spillDir: null,
          starts: 0,
          role: undefined as unknown as RoleProcess,
        };
        state.role = new RoleProcess(
          `worker-${i}`,
          roleCommand("worker", args, nanny ? flags : [...flags, ...workerV8]),
          log,
          (line) => {
            const started = STARTED.exec(line);
            if (started) {
              state.pid = Number(started[1]);
              state.spillDir = started[2];
              state.address = null;
              state.starts++;
              return true;
            }
            const listening = LISTENING.exec(line);
            if (listening) state.address = listening[1];
            return listening !== null;
          },
          nanny ? tokenEnv : { ...WORKER_ENV, ...tokenEnv },
        );
        cluster.#workers.push(state);
      }
      await Promise.all(
        cluster.#workers.map((w) =>
          w.role.waitFor(
            () => w.address ?? undefined,
            "its address",
            startTimeout,
          )
        ),
      );
      return cluster;
    } catch (error) {
      if (cluster !== undefined) await cluster.close();
      else {
        await scheduler?.stop(1000);
        await Deno.remove(madeSpillDir ?? root, { recursive: true })
          .catch(() => {});
      }
      throw error;
    }
  }

  /** The scheduler's address, `tcp://host:port`, for `Client.connect`. */
  get address(): string {
    return this.#address;
  }

  /**
   * The dashboard's URL, `http://host:port/` (its JSON under `api/`, and
   * `metrics`), or null when started with `dashboard: false`.
   */
  get dashboardUrl(): string | null {
    return this.#dashboardUrl;
  }

  /**
   * The cluster's auth token (`authToken`, or the random one `authToken:
   * true` made), or null when it runs without one. `Client.connect(cluster)`
   * uses it; so does the dashboard (a bearer token, or its login page).
   */
  get authToken(): string | null {
    return this.#authToken;
  }

  /**
   * What a client needs to reach this cluster over TLS (PEM text: the CA,
   * and a client certificate and key signed by it), for
   * `Client.connect(cluster.address, { tls: cluster.tls })`; null when the
   * cluster runs plain TCP.
   */
  get tls(): TlsOptions | null {
    return this.#tls;
  }

  /** Whether the cluster's servers require client certificates (mutual TLS). */
  get mutualTls(): boolean {
    return this.#mutualTls;
  }

  /** The directory holding every worker's spill directories. */
  get spillRoot(): string {
    return this.#spillRoot;
  }

  /** The scheduler's pid. */
  get schedulerPid(): number {
    return this.#scheduler.process.pid;
  }

  /** The workers as they are now (a worker restarted by its nanny shows its new address and pid). */
  get workers(): LocalClusterWorker[] {
    return this.#workers.map((w) => ({
      address: w.address ?? "",
      pid: w.pid ?? w.role.process.pid,
      nannyPid: w.nanny ? w.role.process.pid : null,
      spillDir: w.spillDir ?? "",
      restarts: Math.max(0, w.starts - 1),
    }));
  }

  /**
   * Kills worker `i`'s process with SIGKILL (for tests): with a nanny, the
   * nanny starts a fresh one; without, the worker is gone.
   *
   * @param i The worker's index.
   * @returns The pid that was killed.
   */
  killWorker(i: number): number {
    const w = this.#workers[i];
    if (w === undefined) throw new RangeError(`no worker ${i}`);
    const pid = w.pid ?? w.role.process.pid;
    Deno.kill(pid, "SIGKILL");
    return pid;
  }

  /**
   * Waits until worker `i` runs a process other than `previousPid` and
   * that process has its address (after a nanny restart).
   *
   * @param i The worker's index.
   * @param previousPid The pid it had before.
   * @param timeout Milliseconds to wait. Default 30 000.
   * @returns The worker as it is then.
   */
  async restarted(
    i: number,
    previousPid: number,
    timeout = 30_000,
  ): Promise<LocalClusterWorker> {
    const w = this.#workers[i];
    if (w === undefined) throw new RangeError(`no worker ${i}`);
    await w.role.waitFor(
      () => w.pid !== previousPid && w.address !== null ? true : undefined,
      "a restarted worker process",
      timeout,
    );
    return this.workers[i];
  }

  /**
   * Stops every process (SIGTERM; SIGKILL after `closeTimeout`), waits for
   * them, and removes every spill directory. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the cluster at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    await Promise.all(this.#workers.map(async (w) => {
      const { killed } = await w.role.stop(this.#closeTimeout);
      // A nanny killed outright leaves its worker process to notice its
      // closed stdin; do not wait for that.
      if (killed && w.nanny && w.pid !== null) {
        try {
          Deno.kill(w.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }));
    await this.#scheduler.stop(this.#closeTimeout);
    await Deno.remove(this.#root, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
}

/** `flags` with read access to `paths` too (merged into its `--allow-read=`). */
function withRead(flags: string[], paths: readonly string[]): string[] {
  if (paths.length === 0) return flags;
  const at = flags.findIndex((f) => f.startsWith("--allow-read="));
  if (at < 0) return [...flags, `--allow-read=${paths.join(",")}`];
  const out = [...flags];
  out[at] = `${flags[at]},${paths.join(",")}`;
  return out;
}

/** Makes `path` and missing parents; returns the topmost one it made, or null. */
async function mkdirs(path: string): Promise<string | null> {
  try {
    await Deno.stat(path);
    return null;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const parent = resolve(path, "..");
  const made = parent === path ? null : await mkdirs(parent);
  await Deno.mkdir(path).catch((error) => {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  });
  return made ?? path;
}

/** A codec module's URL: a URL as it is, a path made absolute. */
function codecUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z][a-z0-9+.-]*:/i.test(module)
    ? new URL(module).href
    : toFileUrl(resolve(module)).href;
}

function modulePath(module: string | URL): string[] {
  const url = module instanceof URL
    ? module
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(module)
    ? new URL(module)
    : null;
  if (url === null) return [resolve(module as string)];
  if (url.protocol === "file:") return [resolve(fileURLToPath(url))];
  return []; // https: modules are imported, not read
}

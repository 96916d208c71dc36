/**
 * The nanny: a small supervisor that runs a worker as a child process,
 * kills it (SIGKILL) when its memory passes the terminate threshold,
 * restarts it when it dies, and forwards SIGINT/SIGTERM to it.
 *
 * Each child gets a fresh spill directory, removed when that child ends
 * (whatever the way): a killed worker's spill files are garbage, since the
 * scheduler recomputes its keys.
 *
 * The nanny prints, on its stdout, `worker process <pid> started (spill dir
 * <dir>)` for every child and relays the child's own stdout (its `worker
 * listening at tcp://…` line); it logs what it does on stderr.
 *
 * @module
 */
import { formatBytes } from "../memory/bytes.ts";
import { parseAddress } from "../comm/address.ts";
import { type LogFunction, roleLog } from "../comm/log.ts";
import type { WorkerConfig } from "../worker/config.ts";
import { pumpLines } from "./lines.ts";
import { childFlags, codecReadPaths } from "./permissions.ts";
import { denoCachePaths } from "../worker/task_permissions.ts";
import {
  authTokenEnv,
  ownReadPaths,
  roleCommand,
  WORKER_ENV,
  workerArgs,
  workerV8Flags,
} from "./spawn.ts";
import { RssProbe } from "../platform/rss_probe.ts";

/**
 * A worker process exits with this code when it lost its scheduler and
 * could not register with it again within its reconnect timeout
 * (`--reconnect-timeout`, default 60 s).
 */
export const EXIT_LOST_SCHEDULER = 3;

/**
 * A worker process exits with this code when its configuration cannot work
 * (a shared spill root that is not a usable tmpfs): starting it again would
 * fail the same way, so the nanny does not (EX_CONFIG of sysexits.h).
 */
export const EXIT_BAD_CONFIG = 78;

/**
 * Options of {@linkcode Nanny}: the worker it runs (without `spillDir`,
 * each child's spill directory is made in the OS temp directory), and how
 * it watches it.
 */
export interface NannyOptions
  extends
    Omit<WorkerConfig, "spillDir">,
    Partial<Pick<WorkerConfig, "spillDir">> {
  /** Directories or files task modules are read from; null: not named. */
  modules: string[] | null;
  /** `--v8-flags` for the child (ignored when compiled). */
  v8Flags?: string;
  /** Fraction of the memory limit past which the child is killed. Default 0.95. */
  terminateFraction?: number;
  /** Milliseconds between memory checks. Default 100. */
  interval?: number;
  /** Consecutive quick failures before giving up. Default 5. */
  maxFailures?: number;
  /** A child dying sooner than this (ms) after its start failed quickly. Default 10 000. */
  quickFailureMs?: number;
  /** How long a child gets to exit after SIGTERM/SIGINT before SIGKILL (ms). Default 5000. */
  stopGraceMs?: number;
  /** Stdout lines (the pid line, the relayed address line). Default `console.log`. */
  out?: (line: string) => void;
  /** Log lines. Default: the process's log, as `nanny` (see `configureLogging`). */
  log?: LogFunction;
  /**
   * The cluster's auth token, handed to each worker process in its
   * environment (`SPILLWAY_AUTH_TOKEN`), never on its command line. Null
   * or absent for none.
   */
  authToken?: string | null;
}

interface Running {
  process: Deno.ChildProcess;
  spillDir: string;
  started: number;
  listening: boolean;
  killedForMemory: number | null;
}

/**
 * Runs and watches one worker process at a time until stopped.
 *
 * @example
 * ```ts
 * import { Nanny } from "./nanny.ts";
 * const nanny = new Nanny({
 *   scheduler: "tcp://127.0.0.1:8786", nthreads: 1, memoryLimit: 2 ** 30,
 *   hostname: "127.0.0.1", port: 0, sharedMemory: false, modules: null,
 * });
 * Deno.addSignalListener("SIGTERM", () => nanny.stop("SIGTERM"));
 * Deno.exit(await nanny.run());
 * ```
 */
export class Nanny {
  readonly #options: NannyOptions;
  readonly #out: (line: string) => void;
  readonly #log: LogFunction;
  readonly #probe = new RssProbe();
  #running: Running | null = null;
  /** Worker processes started so far. */
  #starts = 0;
  /** The address of the last worker process that said it listened. */
  #lastAddress: string | null = null;
  /** The RSS at which the nanny killed its last child for memory, if it did. */
  #lastMemoryKill: number | null = null;
  #stopping: Deno.Signal | null = null;
  #wake: (() => void) | null = null;

  /** @param options What to run and how to watch it. */
  constructor(options: NannyOptions) {
    this.#options = options;
    this.#out = options.out ?? ((line) => console.log(line));
    this.#log = options.log ?? roleLog("nanny");
  }

  /** The current worker process's pid, if one runs. */
  get pid(): number | null {
    return this.#running?.process.pid ?? null;
  }

  /**
   * Stops: forwards `signal` to the worker process (SIGKILL after the
   * grace period), and makes {@linkcode Nanny.run} return once it is gone.
   */
  stop(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#stopping !== null) return;
    this.#stopping = signal;
    this.#wake?.();
    if (this.#running !== null) this.#signal(this.#running, signal);
  }

  #signal(running: Running, signal: Deno.Signal): void {
    kill(running.process, signal);
    const timer = setTimeout(() => {
      this.#log(
        `worker process ${running.process.pid} still running ${this.#grace} ms after ${signal}: killing it`,
        "warn",
      );
      kill(running.process, "SIGKILL");
    }, this.#grace);
    running.process.status.finally(() => clearTimeout(timer));
  }

  get #grace(): number {
    return this.#options.stopGraceMs ?? 5000;
  }

  /**
   * Runs worker processes until stopped or given up.
   *
   * @returns The exit code for the nanny: 0 when stopped, 1 after too many
   *   quick failures, {@linkcode EXIT_LOST_SCHEDULER} when the worker lost
   *   its scheduler, {@linkcode EXIT_BAD_CONFIG} when its configuration
   *   cannot work.
   */
  async run(): Promise<number> {
    const maxFailures = this.#options.maxFailures ?? 5;
    const quick = this.#options.quickFailureMs ?? 10_000;
    let failures = 0;
    while (this.#stopping === null) {
      let running: Running;
      try {
        running = await this.#start();
      } catch (error) {
        this.#log(
          `could not start a worker process: ${(error as Error).message}`,
          "error",
        );
        return 1;
      }
      const status = await this.#supervise(running);
      this.#running = null;
      this.#lastMemoryKill = running.killedForMemory;
      await removeDir(running.spillDir, this.#log);
      if (this.#stopping !== null) break;
      const pid = running.process.pid;
      const lived = Date.now() - running.started;
      if (running.killedForMemory !== null && running.listening) {
        failures = 0;
        this.#log(`restarting the worker after the memory kill`, "warn");
        continue;
      }
      if (status.code === EXIT_LOST_SCHEDULER) {
        this.#log(
          `worker process ${pid} lost its scheduler; stopping`,
          "error",
        );
        return EXIT_LOST_SCHEDULER;
      }
      if (status.code === EXIT_BAD_CONFIG) {
        this.#log(
          `worker process ${pid} cannot run with this configuration (see above); not restarting it`,
          "error",
        );
        return EXIT_BAD_CONFIG;
      }
      failures = lived < quick ? failures + 1 : 1;
      const how = running.killedForMemory !== null
        ? `was killed for memory before it started (is the limit of ${
          formatBytes(this.#options.memoryLimit ?? 0)
        } below a worker's baseline?)`
        : describeExit(status);
      if (failures >= maxFailures) {
        this.#log(
          `worker process ${pid} ${how}; ${failures} quick failures in a row ` +
            `(each within ${quick / 1000} s of starting): giving up`,
          "error",
        );
        return 1;
      }
      const delay = Math.min(5000, 100 * 2 ** (failures - 1));
      this.#log(
        `worker process ${pid} ${how}; restarting in ${delay / 1000} s`,
        "warn",
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    return 0;
  }

  async #start(): Promise<Running> {
    const o = this.#options;
    const spillDir = await Deno.makeTempDir({
      ...(o.spillDir !== undefined ? { dir: o.spillDir } : {}),
      prefix: "spillway-worker-",
    });
    const flags = childFlags({
      netHosts: [...new Set([parseAddress(o.scheduler).hostname, o.hostname])],
      // Shared mode: the whole root, where peers' files are linked from.
      spillDir: o.sharedMemory && o.spillDir !== undefined
        ? o.spillDir
        : spillDir,
      read: [
        ...(o.modules ?? []),
        ...codecReadPaths(o.codecs),
        ...Object.values(o.tlsFiles ?? {}).filter((p) => p !== undefined),
        ...ownReadPaths(),
        ...denoCachePaths(o.denoDir),
      ],
      anyRead: o.modules === null,
      sharedMemory: o.sharedMemory,
      ...(o.taskPermissions !== undefined ? { tasks: o.taskPermissions } : {}),
    });
    // The executors' sandbox (Deno's deno.permissions on a Web Worker).
    flags.push("--unstable-worker-options");
    flags.push(`--v8-flags=${workerV8Flags(o.v8Flags)}`);
    // The child says in its registration that it is a restart, and of
    // which process (the scheduler marks that one restarted).
    const lineage = [
      ...(this.#starts > 0 ? ["--restarts", String(this.#starts)] : []),
      ...(this.#starts > 0 && this.#lastAddress !== null
        ? ["--replaces", this.#lastAddress]
        : []),
      ...(this.#starts > 0 && this.#lastAddress !== null &&
          this.#lastMemoryKill !== null
        ? ["--replaced-after-memory-kill", String(this.#lastMemoryKill)]
        : []),
    ];
    const { command, args } = roleCommand(
      "worker-process",
      [...workerArgs({ ...o, spillDir }), ...lineage],
      flags,
    );
    let process: Deno.ChildProcess;
    try {
      process = new Deno.Command(command, {
        args,
        env: { ...WORKER_ENV, ...authTokenEnv(o.authToken ?? null) },
        stdin: "piped", // the child exits when this closes (the nanny died)
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      await removeDir(spillDir, this.#log);
      throw error;
    }
    this.#starts++;
    const running: Running = {
      process,
      spillDir,
      started: Date.now(),
      listening: false,
      killedForMemory: null,
    };
    this.#running = running;
    this.#out(`worker process ${process.pid} started (spill dir ${spillDir})`);
    // Stopped while starting: the child gets the signal too.
    if (this.#stopping !== null) this.#signal(running, this.#stopping);
    return running;
  }

  async #supervise(running: Running): Promise<Deno.CommandStatus> {
    const relay = pumpLines(running.process.stdout, (line) => {
      if (line.startsWith("worker listening at ")) {
        running.listening = true;
        this.#lastAddress = line.slice("worker listening at ".length).trim();
      }
      this.#out(line);
    });
    const watch = this.#watchMemory(running);
    const status = await running.process.status;
    watch.stop();
    await relay;
    await running.process.stdin.close().catch(() => {});
    return status;
  }

  #watchMemory(running: Running): { stop(): void } {
    const limit = this.#options.memoryLimit;
    if (limit === null) return { stop() {} };
    const threshold = (this.#options.terminateFraction ?? 0.95) * limit;
    const pid = running.process.pid;
    let busy = false;
    let stopped = false;
    const timer = setInterval(async () => {
      if (busy || stopped || running.killedForMemory !== null) return;
      busy = true;
      try {
        const rss = await this.#probe.read(pid);
        if (this.#probe.mode === "unavailable") {
          this.#log(
            `cannot read the worker's memory (/proc needs -A, or --allow-run=cat): ` +
              `the ${
                formatBytes(limit)
              } limit will not be enforced by killing it`,
            "warn",
          );
          clearInterval(timer);
          return;
        }
        if (stopped || rss === null || rss <= threshold) return;
        running.killedForMemory = rss;
        this.#log(
          `worker process ${pid} uses ${formatBytes(rss)}, past ${
            Math.round((threshold / limit) * 100)
          }% of its ${formatBytes(limit)} memory limit: killing it`,
          "warn",
        );
        kill(running.process, "SIGKILL");
      } finally {
        busy = false;
      }
    }, this.#options.interval ?? 100);
    return {
      stop() {
        stopped = true;
        clearInterval(timer);
      },
    };
  }
}

function kill(process: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    process.kill(signal);
  } catch {
    // Already gone.
  }
}

function describeExit(status: Deno.CommandStatus): string {
  return status.signal !== null
    ? `was killed by ${status.signal}`
    : `exited with code ${status.code}`;
}

async function removeDir(
  path: string,
  log: (message: string) => void,
): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      log(`could not remove ${path}: ${(error as Error).message}`);
    }
  }
}

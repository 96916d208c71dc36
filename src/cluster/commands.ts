/**
 * The cluster's subcommands of `spillway`: `scheduler`, `worker`, `local`,
 * and the hidden `worker-process` a nanny runs as its child.
 *
 * Each command returns its exit status; a bad command line throws
 * {@linkcode UsageError}, which `cli.ts` prints as one line and the usage
 * (exit 2).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { SharedSpillRootError, tmpfsSetupCommands } from "../store/tmpfs.ts";
import { parseAddress } from "../comm/address.ts";
import { formatBytes, parseBytes, parseMemoryLimit } from "../memory/bytes.ts";
import type { SchedulerServer } from "../scheduler/server.ts";
import type { WorkerNode } from "../worker/worker_node.ts";
import type { LocalCluster } from "./local_cluster.ts";
import { EXIT_BAD_CONFIG, EXIT_LOST_SCHEDULER, Nanny } from "./nanny.ts";
import { checkSpillPath, holdsAll, SpillPathError } from "./permissions.ts";

/** A bad command line: `message` (one line) and the command's usage. */
export class UsageError extends Error {
  /** Always `"UsageError"`. */
  override name = "UsageError";
  /** The usage text of the command that was misused. */
  readonly usage: string;

  /**
   * @param message What is wrong, in one line.
   * @param usage The command's usage text.
   */
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

/** One line per cluster command, for the top-level usage. */
export const CLUSTER_COMMANDS =
  `  scheduler  run a scheduler: spillway scheduler [--host 127.0.0.1] [--port 8786]
  worker     run a worker (under a nanny): spillway worker <scheduler-address> [options]
  local      run a scheduler and workers on this machine: spillway local [options]
  shm-setup  print the commands that mount a tmpfs for shared-memory mode:
             spillway shm-setup --size <size> [--dir /mnt/spillway] [--swap <size>]`;

/** Usage of `spillway shm-setup`. */
export const SHM_SETUP_USAGE =
  `usage: spillway shm-setup --size <size> [options]

Prints the shell commands (to run as root) that mount a tmpfs of <size> for
shared-memory mode (\`spillway worker --shared-memory --spill-dir <dir>\`).
Nothing is run. Make it at least the workers' combined memory limit; with
--swap, a swap file behind it lets spilled data outgrow RAM.

options:
  --size <size>     size of the tmpfs, e.g. 64GiB (required)
  --dir <dir>       where to mount it (default /mnt/spillway; not under /dev,
                    where Deno refuses scoped permissions)
  --swap <size>     also make and enable a swap file of this size
  --swap-file <f>   the swap file, on a disk (default /var/spillway.swap)
  --uid <uid>       owner of the mount (the workers' user)
  -h, --help        this text
`;

/** Usage of `spillway scheduler`. */
export const SCHEDULER_USAGE = `usage: spillway scheduler [options]

Runs the scheduler. Prints "scheduler listening at tcp://host:port" and runs
until SIGINT or SIGTERM.

options:
  --host <host>                interface to listen on (default 127.0.0.1; any
                               other interface must be named explicitly)
  --port <port>                port to listen on, 0 for a free one (default 8786)
  --heartbeat-timeout <time>   remove a worker silent this long: 30s, 500ms, 2m
                               (default 30s)
  -h, --help                   this text

permissions: --allow-net=<host>
`;

/** Usage of `spillway worker`. */
export const WORKER_USAGE =
  `usage: spillway worker <scheduler-address> [options]

Runs a worker that joins the scheduler at <scheduler-address> (tcp://host:port).
By default a small supervisor, the nanny, runs the worker as a child process,
kills it when its memory passes 95% of --memory-limit, and starts a fresh one
when it dies (each with a new spill directory). Prints "worker listening at
tcp://host:port" (again after each restart) and runs until SIGINT or SIGTERM.

options:
  --nthreads <n>           tasks run at once (executor threads; default 1)
  --memory-limit <limit>   4GiB, 2e9, a fraction of system memory (0.5), or 0
                           for none (default 0)
  --spill-dir <dir>        where each worker process's spill directory is made
                           (default: the temp directory); not under /dev
  --host <host>            interface to listen on (default 127.0.0.1)
  --port <port>            port to listen on (default 0: a free one)
  --modules <paths>        comma-separated directories or files task modules
                           are read from; the worker process may read only
                           these (default: whatever the nanny may read)
  --v8-flags <flags>       V8 flags for the worker process, e.g. --expose-gc
  --shared-memory          shared-memory mode: --spill-dir must be a tmpfs
                           shared by this host's workers; spilled data is
                           mapped, and same-host peers get hard links
                           (needs --allow-ffi; see \`spillway shm-setup\`)
  --target <fraction>      memory the store keeps before spilling, as a
                           fraction of --memory-limit (default 0.6; 0 spills
                           every result at once, for shared-memory mode)
  --no-nanny               run the worker in this process, unsupervised
  -h, --help               this text

exit status: 0 when stopped, 3 when the worker lost its scheduler, 78 when
--spill-dir cannot hold the shared-memory mode (said once, not restarted),
1 when the nanny gave up after five quick failures.

permissions: --allow-net (the cluster's hosts), --allow-read and --allow-write
on the spill dir, --allow-read on the task modules and spillway's src/,
--allow-sys=hostname (and systemMemoryInfo for a fractional limit); with the
nanny also --allow-run=<deno>,cat (cat reads /proc/<pid>/status: Deno lets
only -A read /proc). The worker process gets no more than the nanny holds.
`;

/** Usage of `spillway local`. */
export const LOCAL_USAGE = `usage: spillway local [options]

Runs a scheduler and workers on this machine, each a separate process with
least-privilege permissions. Prints the scheduler's address and runs until
SIGINT or SIGTERM, then stops them all and removes their spill directories.

options:
  --workers <n>            how many workers (default 2)
  --nthreads <n>           tasks each worker runs at once (default 1)
  --memory-limit <limit>   per worker: 1GiB, 2e9, a fraction of system memory
                           (0.5), or 0 for none (default 1GiB)
  --spill-dir <dir>        where the spill directories go (default: the temp
                           directory); not under /dev
  --modules <paths>        comma-separated directories or files task modules
                           are read from (default: the current directory)
  --host <host>            interface to listen on (default 127.0.0.1)
  --v8-flags <flags>       V8 flags for every process, e.g. --expose-gc
  --shared-memory          shared-memory mode: --spill-dir must be a tmpfs;
                           spilled data is mapped, and workers take each
                           other's data by hard link (see \`spillway shm-setup\`)
  --target <fraction>      memory each store keeps before spilling, as a
                           fraction of --memory-limit (default 0.6; 0 spills
                           every result at once, for shared-memory mode)
  --no-nanny               run workers unsupervised
  -h, --help               this text

permissions: --allow-run, --allow-read and --allow-write on the spill
directory's parent (and /tmp by default), --allow-sys=systemMemoryInfo for a
fractional limit; or -A. In shared-memory mode the workers get --allow-ffi.
`;

type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string }
>;

/** Parses `args` strictly; `null` when `--help` was asked (usage printed). */
function parse(
  args: string[],
  options: OptionSpec,
  usage: string,
  positionals: number,
): {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
} | null {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: positionals > 0,
    });
  } catch (error) {
    throw new UsageError(oneLine((error as Error).message), usage);
  }
  if (parsed.values.help) {
    console.log(usage);
    return null;
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(
      `unexpected argument "${parsed.positionals[positionals]}"`,
      usage,
    );
  }
  return parsed as {
    values: Record<string, string | boolean | undefined>;
    positionals: string[];
  };
}

/** The first line of a message, with parseArgs' hint for dashed values kept. */
function oneLine(text: string): string {
  const [first] = text.split("\n");
  const dashed = /starting with a dash use '([^']+)'/.exec(text);
  return dashed
    ? `${first.replace(/\.$/, "")} (for a value starting with a dash, write ${
      dashed[1]
    })`
    : first;
}

function integer(
  name: string,
  text: string,
  min: number,
  max: number,
  usage: string,
): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(
      `--${name}: expected an integer from ${min} to ${max}, got "${text}"`,
      usage,
    );
  }
  return Number(text);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration such as `30s`, `500ms`, `2m`, `1.5h` or `30` (seconds)
 * into milliseconds.
 *
 * @param text The duration.
 * @returns Milliseconds (more than 0).
 * @throws {RangeError} If it is not a positive duration.
 */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$/i.exec(text);
  const ms = match
    ? Number(match[1]) * DURATION_UNITS[(match[2] ?? "s").toLowerCase()]
    : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(
      `invalid duration ${JSON.stringify(text)}: expected e.g. 30s, 500ms, 2m`,
    );
  }
  return ms;
}

function host(text: string, usage: string): string {
  try {
    parseAddress(`${text.includes(":") ? `[${text}]` : text}:1`);
  } catch {
    throw new UsageError(`--host: invalid host "${text}"`, usage);
  }
  return text;
}

function memoryLimit(text: string, usage: string): number | null {
  try {
    return parseMemoryLimit(text);
  } catch (error) {
    throw new UsageError(
      `--memory-limit: ${oneLine((error as Error).message)}`,
      usage,
    );
  }
}

function schedulerAddress(
  positionals: string[],
  usage: string,
): string {
  if (positionals.length === 0) {
    throw new UsageError("missing <scheduler-address>", usage);
  }
  try {
    parseAddress(positionals[0]);
  } catch (error) {
    throw new UsageError(oneLine((error as Error).message), usage);
  }
  return positionals[0].includes("://")
    ? positionals[0]
    : `tcp://${positionals[0]}`;
}

function paths(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  return text.split(",").filter((p) => p !== "").map((p) => resolve(p));
}

/** Resolves on SIGINT or SIGTERM, or when stdin closes (if asked). */
function stopRequested(watchStdin: boolean): Promise<Deno.Signal | "stdin"> {
  return new Promise((done) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => done(signal));
    }
    if (watchStdin) {
      (async () => {
        try {
          for await (const _ of Deno.stdin.readable) { /* discard */ }
        } catch {
          // Closed either way.
        }
        done("stdin");
      })();
    }
  });
}

/**
 * `spillway scheduler`.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function schedulerCommand(args: string[]): Promise<number> {
  const parsed = parse(
    args,
    {
      host: { type: "string" },
      port: { type: "string" },
      "heartbeat-timeout": { type: "string" },
      "die-with-parent": { type: "boolean" },
    },
    SCHEDULER_USAGE,
    0,
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  const hostname = host((v.host as string) ?? "127.0.0.1", SCHEDULER_USAGE);
  const port = integer(
    "port",
    (v.port as string) ?? "8786",
    0,
    65535,
    SCHEDULER_USAGE,
  );
  let heartbeatTimeout: number;
  try {
    heartbeatTimeout = parseDuration(
      (v["heartbeat-timeout"] as string) ?? "30s",
    );
  } catch (error) {
    throw new UsageError(
      `--heartbeat-timeout: ${(error as Error).message}`,
      SCHEDULER_USAGE,
    );
  }
  const stop = stopRequested(v["die-with-parent"] === true);
  let scheduler: SchedulerServer;
  try {
    // Each role loads only its own modules: a nanny (one per worker) stays
    // small.
    const { SchedulerServer } = await import("../scheduler/server.ts");
    scheduler = await SchedulerServer.start({
      hostname,
      port,
      heartbeatTimeout,
    });
  } catch (error) {
    console.error(
      `spillway: could not start the scheduler on ${hostname}:${port}: ${
        (error as Error).message
      }`,
    );
    return 1;
  }
  console.log(`scheduler listening at ${scheduler.address}`);
  await stop;
  await scheduler.close();
  return 0;
}

/** The store options `worker` and `local` share. */
const STORE_OPTIONS: OptionSpec = {
  "shared-memory": { type: "boolean" },
  target: { type: "string" },
};

const WORKER_OPTIONS: OptionSpec = {
  nthreads: { type: "string" },
  "memory-limit": { type: "string" },
  "spill-dir": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  ...STORE_OPTIONS,
};

interface WorkerSettings {
  scheduler: string;
  nthreads: number;
  memoryLimit: number | null;
  spillDir: string | undefined;
  host: string;
  port: number;
  sharedMemory: boolean;
  target: number | undefined;
}

function workerSettings(
  parsed: {
    values: Record<string, string | boolean | undefined>;
    positionals: string[];
  },
  usage: string,
): WorkerSettings {
  const v = parsed.values;
  return {
    scheduler: schedulerAddress(parsed.positionals, usage),
    nthreads: integer(
      "nthreads",
      (v.nthreads as string) ?? "1",
      1,
      1024,
      usage,
    ),
    memoryLimit: memoryLimit((v["memory-limit"] as string) ?? "0", usage),
    spillDir: v["spill-dir"] === undefined
      ? undefined
      : resolve(v["spill-dir"] as string),
    host: host((v.host as string) ?? "127.0.0.1", usage),
    port: integer("port", (v.port as string) ?? "0", 0, 65535, usage),
    sharedMemory: sharedMemory(v, usage),
    target: target(v, usage),
  };
}

/** `--target`, when given. */
function target(
  v: Record<string, string | boolean | undefined>,
  usage: string,
): number | undefined {
  return v.target === undefined
    ? undefined
    : fraction("target", v.target as string, usage);
}

function sharedMemory(
  v: Record<string, string | boolean | undefined>,
  usage: string,
): boolean {
  if (v["shared-memory"] !== true) return false;
  if (v["spill-dir"] === undefined) {
    throw new UsageError(
      "--shared-memory needs --spill-dir <dir on a tmpfs>; `spillway shm-setup --size <size>` prints how to mount one",
      usage,
    );
  }
  return true;
}

function fraction(name: string, text: string, usage: string): number {
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0 && value <= 1)) {
    throw new UsageError(
      `--${name} must be a fraction from 0 to 1, got ${JSON.stringify(text)}`,
      usage,
    );
  }
  return value;
}

/**
 * `spillway worker`: the nanny, or with `--no-nanny` the worker itself.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function workerCommand(args: string[]): Promise<number> {
  const parsed = parse(
    args,
    {
      ...WORKER_OPTIONS,
      modules: { type: "string" },
      "v8-flags": { type: "string" },
      "no-nanny": { type: "boolean" },
      "die-with-parent": { type: "boolean" },
    },
    WORKER_USAGE,
    1,
  );
  if (parsed === null) return 0;
  const settings = workerSettings(parsed, WORKER_USAGE);
  const v = parsed.values;
  const watchStdin = v["die-with-parent"] === true;
  if (v["no-nanny"]) {
    for (const name of ["modules", "v8-flags"]) {
      if (v[name] !== undefined) {
        throw new UsageError(
          `--${name} is for the nanny's worker process; with --no-nanny, give the process its permissions and V8 flags directly`,
          WORKER_USAGE,
        );
      }
    }
  }
  if (settings.spillDir !== undefined) {
    try {
      await checkSpillPath(settings.spillDir, holdsAll(), "run with -A");
      await Deno.mkdir(settings.spillDir, { recursive: true });
    } catch (error) {
      console.error(`spillway: ${(error as Error).message}`);
      return 1;
    }
  }
  if (v["no-nanny"]) {
    let spillDir: string;
    try {
      spillDir = await Deno.makeTempDir({
        ...(settings.spillDir !== undefined ? { dir: settings.spillDir } : {}),
        prefix: "spillway-worker-",
      });
    } catch (error) {
      console.error(
        `spillway: could not make a spill directory: ${
          (error as Error).message
        }`,
      );
      return 1;
    }
    return await runWorker({ ...settings, spillDir }, watchStdin, true);
  }
  const nanny = new Nanny({
    scheduler: settings.scheduler,
    nthreads: settings.nthreads,
    memoryLimit: settings.memoryLimit,
    spillRoot: settings.spillDir ?? null,
    host: settings.host,
    port: settings.port,
    modules: paths(v.modules as string | undefined),
    v8Flags: v["v8-flags"] as string | undefined,
    sharedMemory: settings.sharedMemory,
    ...(settings.target !== undefined ? { target: settings.target } : {}),
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => nanny.stop(signal));
  }
  if (watchStdin) stopRequested(true).then(() => nanny.stop("SIGTERM"));
  return await nanny.run();
}

/**
 * `spillway worker-process` (hidden): the worker a nanny runs. Its spill
 * directory is exactly `--spill-dir`; it exits when its stdin closes (the
 * nanny died), with {@linkcode EXIT_LOST_SCHEDULER} when it loses its
 * scheduler, and with {@linkcode EXIT_BAD_CONFIG} when its shared spill root
 * cannot work.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function workerProcessCommand(args: string[]): Promise<number> {
  const parsed = parse(args, WORKER_OPTIONS, WORKER_USAGE, 1);
  if (parsed === null) return 0;
  const settings = workerSettings(parsed, WORKER_USAGE);
  if (settings.spillDir === undefined) {
    throw new UsageError("worker-process needs --spill-dir", WORKER_USAGE);
  }
  return await runWorker(
    { ...settings, spillDir: settings.spillDir },
    true,
    false,
  );
}

async function runWorker(
  settings: WorkerSettings & { spillDir: string },
  watchStdin: boolean,
  announce: boolean,
): Promise<number> {
  const stop = stopRequested(watchStdin);
  if (announce) {
    console.log(
      `worker process ${Deno.pid} started (spill dir ${settings.spillDir})`,
    );
  }
  let node: WorkerNode;
  try {
    const { WorkerNode } = await import("../worker/worker_node.ts");
    node = await WorkerNode.start({
      scheduler: settings.scheduler,
      hostname: settings.host,
      port: settings.port,
      nthreads: settings.nthreads,
      memoryLimit: settings.memoryLimit,
      spillDir: settings.spillDir,
      // The nanny (or --no-nanny) made spillDir inside the shared root.
      ...(settings.sharedMemory
        ? { sharedMemory: { root: dirname(settings.spillDir) } }
        : {}),
      ...(settings.target !== undefined ? { target: settings.target } : {}),
    });
  } catch (error) {
    console.error(
      `spillway: could not start the worker (scheduler ${settings.scheduler}): ${
        (error as Error).message
      }`,
    );
    await Deno.remove(settings.spillDir, { recursive: true }).catch(() => {});
    return error instanceof SharedSpillRootError ? EXIT_BAD_CONFIG : 1;
  }
  console.log(`worker listening at ${node.address}`);
  const outcome = await Promise.race([
    stop.then(() => "stop" as const),
    node.finished.then(() => "lost" as const),
  ]);
  await node.close();
  return outcome === "lost" ? EXIT_LOST_SCHEDULER : 0;
}

/**
 * `spillway local`.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function localCommand(args: string[]): Promise<number> {
  const parsed = parse(
    args,
    {
      workers: { type: "string" },
      nthreads: { type: "string" },
      "memory-limit": { type: "string" },
      "spill-dir": { type: "string" },
      modules: { type: "string" },
      host: { type: "string" },
      "v8-flags": { type: "string" },
      ...STORE_OPTIONS,
      "no-nanny": { type: "boolean" },
    },
    LOCAL_USAGE,
    0,
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  const workers = integer(
    "workers",
    (v.workers as string) ?? "2",
    1,
    1024,
    LOCAL_USAGE,
  );
  const nthreads = integer(
    "nthreads",
    (v.nthreads as string) ?? "1",
    1,
    1024,
    LOCAL_USAGE,
  );
  const limit = memoryLimit(
    (v["memory-limit"] as string) ?? "1GiB",
    LOCAL_USAGE,
  );
  const hostname = host((v.host as string) ?? "127.0.0.1", LOCAL_USAGE);
  const shared = sharedMemory(v, LOCAL_USAGE);
  const storeTarget = target(v, LOCAL_USAGE);
  const stop = stopRequested(false);
  let cluster: LocalCluster;
  try {
    const { LocalCluster } = await import("./local_cluster.ts");
    cluster = await LocalCluster.start({
      workers,
      threadsPerWorker: nthreads,
      memoryLimit: limit,
      spillDir: v["spill-dir"] as string | undefined,
      modules: paths(v.modules as string | undefined) ?? undefined,
      host: hostname,
      v8Flags: v["v8-flags"] as string | undefined,
      nanny: v["no-nanny"] !== true,
      sharedMemory: shared,
      ...(storeTarget !== undefined ? { target: storeTarget } : {}),
    });
  } catch (error) {
    const prefix = error instanceof SpillPathError ? "" : "could not start: ";
    console.error(`spillway: ${prefix}${(error as Error).message}`);
    return 1;
  }
  console.log(`scheduler listening at ${cluster.address}`);
  for (const w of cluster.workers) {
    console.log(`worker listening at ${w.address} (pid ${w.pid})`);
  }
  console.error(
    `${workers} workers × ${nthreads} threads, memory limit ${
      limit === null ? "none" : formatBytes(limit)
    } each; spill directories in ${cluster.spillRoot}${
      shared ? " (shared memory)" : ""
    }. Ctrl-C stops.`,
  );
  await stop;
  await cluster.close();
  return 0;
}

/**
 * `spillway shm-setup`: prints the commands that mount a tmpfs for
 * shared-memory mode.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export function shmSetupCommand(args: string[]): Promise<number> {
  const parsed = parse(
    args,
    {
      size: { type: "string" },
      dir: { type: "string" },
      swap: { type: "string" },
      "swap-file": { type: "string" },
      uid: { type: "string" },
    },
    SHM_SETUP_USAGE,
    0,
  );
  if (parsed === null) return Promise.resolve(0);
  const v = parsed.values;
  if (v.size === undefined) {
    throw new UsageError("--size is required", SHM_SETUP_USAGE);
  }
  const bytes = (name: string, text: string): number => {
    try {
      return parseBytes(text);
    } catch (error) {
      throw new UsageError(
        `--${name}: ${(error as Error).message}`,
        SHM_SETUP_USAGE,
      );
    }
  };
  const commands = tmpfsSetupCommands(
    resolve((v.dir as string | undefined) ?? "/mnt/spillway"),
    bytes("size", v.size as string),
    {
      ...(v.swap !== undefined
        ? { swapBytes: bytes("swap", v.swap as string) }
        : {}),
      ...(v["swap-file"] !== undefined
        ? { swapFile: v["swap-file"] as string }
        : {}),
      ...(v.uid !== undefined
        ? {
          uid: integer("uid", v.uid as string, 0, 2 ** 31, SHM_SETUP_USAGE),
        }
        : {}),
    },
  );
  console.log(commands.join("\n"));
  return Promise.resolve(0);
}

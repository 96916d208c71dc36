/**
 * `spillway worker-process` (hidden): the worker a nanny runs, and
 * {@linkcode runWorker}, a worker in this process until it is stopped or
 * loses its scheduler (also what `spillway worker --no-nanny` runs).
 *
 * @module
 */
import { dirname } from "node:path";
import { SharedSpillRootError } from "../store/tmpfs.ts";
import type { WorkerConfig } from "../worker/config.ts";
import type { WorkerNode } from "../worker/worker_node.ts";
import { EXIT_BAD_CONFIG, EXIT_LOST_SCHEDULER } from "../cluster/nanny.ts";
import { integer, logging, parseFlags, UsageError } from "./args.ts";
import { stopRequested } from "./lifecycle.ts";
import { readTlsFiles } from "../comm/tls.ts";
import {
  bareTaskGrants,
  WORKER_FLAGS,
  WORKER_USAGE,
  workerSettings,
} from "./worker_flags.ts";
import { hasWorkerOptionsFlag } from "../worker/worker_options_flag.ts";
import type { ExecutorPermissions } from "../worker/executor_pool.ts";
import {
  executorSandbox,
  findDenoDir,
  missingGrants,
} from "../worker/task_permissions.ts";

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
  const parsed = parseFlags(
    bareTaskGrants(args),
    {
      ...WORKER_FLAGS,
      // From the nanny: its restarts so far, and the process replaced.
      restarts: { type: "string" },
      replaces: { type: "string" },
      "replaced-after-memory-kill": { type: "string" },
    },
    WORKER_USAGE,
    { positionals: 1 },
  );
  if (parsed === null) return 0;
  const settings = workerSettings(parsed, WORKER_USAGE);
  logging(parsed.values, WORKER_USAGE, "worker");
  if (settings.spillDir === undefined) {
    throw new UsageError("worker-process needs --spill-dir", WORKER_USAGE);
  }
  const restarts = parsed.values.restarts as string | undefined;
  const replaces = parsed.values.replaces as string | undefined;
  const memoryKill = parsed.values["replaced-after-memory-kill"] as
    | string
    | undefined;
  return await runWorker(
    { ...settings, spillDir: settings.spillDir },
    true,
    false,
    {
      ...(restarts !== undefined
        ? { restarts: integer("restarts", restarts, 0, 1e9, WORKER_USAGE) }
        : {}),
      ...(replaces !== undefined ? { replaces } : {}),
      ...(memoryKill !== undefined
        ? {
          replacedAfterMemoryKill: integer(
            "replaced-after-memory-kill",
            memoryKill,
            0,
            Number.MAX_SAFE_INTEGER,
            WORKER_USAGE,
          ),
        }
        : {}),
    },
    // The nanny runs it with --unstable-worker-options (a compiled binary's
    // flags are its own).
    Deno.build.standalone !== true,
  );
}

/**
 * Runs a worker in this process until SIGINT, SIGTERM (or stdin closing,
 * if watched) or until it loses its scheduler; prints `worker listening at
 * tcp://host:port` once it is up.
 *
 * @param config The worker; `spillDir` is its own directory, made by the
 *   caller inside the shared root in shared-memory mode; `authToken`, the
 *   cluster's token (or null).
 * @param watchStdin Whether stdin closing (the parent died) stops it.
 * @param announce Whether to print `worker process <pid> started (spill dir
 *   <dir>)` first, as a nanny does for its child.
 * @returns The exit status: 0 when stopped, {@linkcode EXIT_LOST_SCHEDULER},
 *   {@linkcode EXIT_BAD_CONFIG} when the shared spill root cannot work or
 *   a `--codecs` module cannot be imported, 1
 *   when it could not start otherwise.
 * @param lineage From a nanny: how many times it restarted the worker, and
 *   the address of the process this one replaces (said in the
 *   registration).
 * @param workerOptions Whether this process runs with Deno's
 *   `--unstable-worker-options`, so that tasks run in the sandbox (without
 *   it, `new Worker` with permissions exits the process). Default: seen on
 *   the command line (only under `-A`).
 */
export async function runWorker(
  config: WorkerConfig & { authToken?: string | null },
  watchStdin: boolean,
  announce: boolean,
  lineage: {
    restarts?: number;
    replaces?: string;
    replacedAfterMemoryKill?: number;
  } = {},
  workerOptions: boolean = hasWorkerOptionsFlag(),
): Promise<number> {
  const stop = stopRequested(watchStdin);
  if (announce) {
    console.log(
      `worker process ${Deno.pid} started (spill dir ${config.spillDir})`,
    );
  }
  const sandbox = await tasksSandbox(config, workerOptions);
  if (typeof sandbox === "string") {
    console.error(`spillway: ${sandbox}`);
    await Deno.remove(config.spillDir, { recursive: true }).catch(() => {});
    return EXIT_BAD_CONFIG;
  }
  // Codec modules are tried first, in an executor (user code never runs on
  // the control thread): one that cannot load is said once, at start, not
  // at each task.
  if (config.codecs !== undefined && config.codecs.length > 0) {
    const { ExecutorPool } = await import("../worker/executor_pool.ts");
    const probe = new ExecutorPool({
      threads: 1,
      codecs: config.codecs,
      ...(sandbox !== undefined
        ? { permissions: sandbox, workerOptionsEnabled: true }
        : {}),
    });
    try {
      await probe.codecsLoaded();
    } catch (error) {
      console.error(`spillway: ${(error as Error).message}`);
      await Deno.remove(config.spillDir, { recursive: true }).catch(() => {});
      return EXIT_BAD_CONFIG;
    } finally {
      await probe.close();
    }
  }
  let node: WorkerNode;
  try {
    const { WorkerNode } = await import("../worker/worker_node.ts");
    node = await WorkerNode.start({
      scheduler: config.scheduler,
      hostname: config.hostname,
      port: config.port,
      nthreads: config.nthreads,
      memoryLimit: config.memoryLimit,
      spillDir: config.spillDir,
      // The nanny (or --no-nanny) made spillDir inside the shared root.
      ...(config.sharedMemory
        ? { sharedMemory: { root: dirname(config.spillDir) } }
        : {}),
      ...(config.target !== undefined ? { target: config.target } : {}),
      ...(config.reconnectTimeout !== undefined
        ? { reconnectTimeout: config.reconnectTimeout }
        : {}),
      ...(config.spillExhaustedTimeout !== undefined
        ? { spillExhaustedTimeout: config.spillExhaustedTimeout }
        : {}),
      ...(config.codecs !== undefined ? { codecs: config.codecs } : {}),
      authToken: config.authToken ?? null,
      ...(config.maxMessageSize !== undefined
        ? { maxMessageSize: config.maxMessageSize }
        : {}),
      ...(sandbox !== undefined ? { sandbox } : {}),
      ...(config.tlsFiles !== undefined
        ? { tls: await readTlsFiles(config.tlsFiles) }
        : {}),
      ...lineage,
    });
  } catch (error) {
    console.error(
      `spillway: could not start the worker (scheduler ${config.scheduler}): ${
        (error as Error).message
      }`,
    );
    await Deno.remove(config.spillDir, { recursive: true }).catch(() => {});
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
 * The executors' sandbox for `config` (see `executorSandbox`); undefined,
 * with a warning, when this process lacks `--unstable-worker-options` (a
 * worker started by hand with `--no-nanny`: tasks then run with its own
 * permissions); a message when it cannot grant what its tasks are granted.
 */
async function tasksSandbox(
  config: WorkerConfig,
  workerOptions: boolean,
): Promise<ExecutorPermissions | undefined | string> {
  if (!workerOptions) {
    console.error(
      "spillway: WARNING: tasks run with all of this process's permissions, " +
        "not in the sandbox: with --no-nanny, run Deno with " +
        "--unstable-worker-options and pass --sandbox (a nanny's worker " +
        "process always has both)",
    );
    return undefined;
  }
  const missing = missingGrants(config.taskPermissions);
  if (missing.length > 0) {
    return `the worker cannot grant its tasks what its process does not hold: run it with ${
      missing.join(" ")
    } (or narrow --task-allow-*)`;
  }
  let modules = config.taskModules;
  if (modules === undefined) {
    try {
      modules = [Deno.cwd()];
    } catch {
      modules = []; // no read on the working directory: nothing to grant
    }
  }
  return executorSandbox({
    modules,
    ...(config.codecs !== undefined ? { codecs: config.codecs } : {}),
    denoDir: config.denoDir ?? await findDenoDir(),
    ...(config.taskPermissions !== undefined
      ? { grants: config.taskPermissions }
      : {}),
    ...(config.sharedMemory ? { sharedSpillDir: config.spillDir } : {}),
  });
}

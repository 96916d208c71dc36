/**
 * `spillway worker`: a nanny that runs and watches a worker process, or
 * with `--no-nanny` the worker itself, until SIGINT or SIGTERM.
 *
 * @module
 */
import { checkSpillPath, holdsAll } from "../cluster/permissions.ts";
import { Nanny } from "../cluster/nanny.ts";
import { remoteWarning } from "../cluster/remote.ts";
import { logging, parseFlags, paths, UsageError } from "./args.ts";
import { stopRequested } from "./lifecycle.ts";
import {
  bareTaskGrants,
  WORKER_FLAGS,
  WORKER_USAGE,
  workerSettings,
} from "./worker_flags.ts";
import { findDenoDir, missingGrants } from "../worker/task_permissions.ts";
import { hasWorkerOptionsFlag } from "../worker/worker_options_flag.ts";
import { runWorker } from "./worker_process.ts";

/**
 * `spillway worker`: the nanny, or with `--no-nanny` the worker itself.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function workerCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    bareTaskGrants(args),
    {
      ...WORKER_FLAGS,
      modules: { type: "string" },
      "v8-flags": { type: "string" },
      "no-nanny": { type: "boolean" },
      sandbox: { type: "boolean" },
      "die-with-parent": { type: "boolean" },
    },
    WORKER_USAGE,
    { positionals: 1 },
  );
  if (parsed === null) return 0;
  const settings = {
    ...workerSettings(parsed, WORKER_USAGE),
    // The nanny's lines are the nanny's; its worker process gets the flags.
    ...logging(
      parsed.values,
      WORKER_USAGE,
      parsed.values["no-nanny"] ? "worker" : "nanny",
    ),
  };
  if (settings.insecureAllowRemote) {
    console.error(remoteWarning("worker", settings.hostname));
  }
  const v = parsed.values;
  const watchStdin = v["die-with-parent"] === true;
  if (v["no-nanny"]) {
    for (const name of ["v8-flags"]) {
      if (v[name] !== undefined) {
        throw new UsageError(
          `--${name} is for the nanny's worker process; with --no-nanny, give the process its permissions and V8 flags directly`,
          WORKER_USAGE,
        );
      }
    }
  }
  // Tasks get no more than this process holds (Deno refuses a worker
  // more than its parent), and the nanny hands its child no more either.
  const missing = missingGrants(settings.taskPermissions);
  if (missing.length > 0) {
    console.error(
      `spillway: the worker cannot grant its tasks what this process does not hold: run it with ${
        missing.join(" ")
      } (or narrow --task-allow-*)`,
    );
    return 1;
  }
  if (settings.denoDir === undefined) {
    const denoDir = await findDenoDir();
    if (denoDir !== null) settings.denoDir = denoDir;
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
    return await runWorker(
      { ...settings, spillDir },
      watchStdin,
      true,
      {},
      v.sandbox === true || hasWorkerOptionsFlag(),
    );
  }
  const nanny = new Nanny({
    ...settings,
    modules: paths(v.modules as string | undefined),
    v8Flags: v["v8-flags"] as string | undefined,
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => nanny.stop(signal));
  }
  if (watchStdin) stopRequested(true).then(() => nanny.stop("SIGTERM"));
  return await nanny.run();
}

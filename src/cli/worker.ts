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
import { WORKER_FLAGS, WORKER_USAGE, workerSettings } from "./worker_flags.ts";
import { runWorker } from "./worker_process.ts";

/**
 * `spillway worker`: the nanny, or with `--no-nanny` the worker itself.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function workerCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      ...WORKER_FLAGS,
      modules: { type: "string" },
      "v8-flags": { type: "string" },
      "no-nanny": { type: "boolean" },
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

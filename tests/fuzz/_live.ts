/**
 * A live scheduler and worker started from the CLI (`cli.ts scheduler`,
 * `cli.ts worker --no-nanny`) on loopback, for the hostile-input tests:
 * their pids (to read `/proc/<pid>/status`), addresses and log lines.
 */
import { CLI, CliProcess, FIXTURES, SRC } from "../cluster/_support.ts";

const fixtures = FIXTURES.pathname.replace(/\/$/, "");

/** The two processes under attack. */
export interface LiveCluster extends AsyncDisposable {
  /** `tcp://127.0.0.1:<port>` of the scheduler. */
  scheduler: string;
  /** `tcp://127.0.0.1:<port>` of the worker's listener. */
  worker: string;
  schedulerProcess: CliProcess;
  workerProcess: CliProcess;
  /** The spill root the worker's spill directory is made in. */
  spillRoot: string;
  /** The auth token both hold (through `SPILLWAY_AUTH_TOKEN`), null where the CLI has none. */
  authToken: string | null;
}

/**
 * Starts `cli.ts scheduler` and one unsupervised `cli.ts worker` (so that
 * the worker's pid is the process's), each with `extra` flags.
 */
export async function startLive(
  extra: { scheduler?: string[]; worker?: string[] } = {},
): Promise<LiveCluster> {
  const spillRoot = await Deno.makeTempDir({ prefix: "spillway-fuzz-" });
  const authToken = (await cliHelp("scheduler")).includes("--auth-token")
    ? crypto.randomUUID()
    : null;
  const env: Record<string, string> = authToken === null
    ? {}
    : { SPILLWAY_AUTH_TOKEN: authToken };
  const schedulerProcess = new CliProcess([
    "--allow-net=127.0.0.1",
    "--allow-env",
  ], [
    "scheduler",
    "--port",
    "0",
    "--no-dashboard",
    ...(extra.scheduler ?? []),
  ], env);
  const [, scheduler] = await schedulerProcess.line(
    /^scheduler listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
  );
  const workerProcess = new CliProcess([
    "--allow-net=127.0.0.1",
    `--allow-read=${spillRoot},${fixtures},${SRC}`,
    `--allow-write=${spillRoot}`,
    "--allow-sys=hostname",
    "--allow-env",
  ], [
    "worker",
    scheduler,
    "--no-nanny",
    "--spill-dir",
    spillRoot,
    ...(extra.worker ?? []),
  ], env);
  const [, worker] = await workerProcess.line(
    /^worker listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
  );
  return {
    scheduler,
    worker,
    schedulerProcess,
    workerProcess,
    spillRoot,
    authToken,
    async [Symbol.asyncDispose]() {
      await workerProcess[Symbol.asyncDispose]();
      await schedulerProcess[Symbol.asyncDispose]();
      await Deno.remove(spillRoot, { recursive: true }).catch(() => {});
    },
  };
}

/** The `--help` text of a `cli.ts` command. */
export async function cliHelp(command: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, command, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return decode(output.stdout) + decode(output.stderr);
}

/** Resident memory of process `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`). */
export function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** Whether `pid` runs (not gone, not a zombie). */
export function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(
      Deno.readTextFileSync(`/proc/${pid}/status`),
    );
  } catch {
    return false;
  }
}

/** `host:port` of a `tcp://host:port` address, as `Deno.connect` takes it. */
export function hostPort(address: string): { hostname: string; port: number } {
  const url = new URL(address.replace(/^tcp:/, "http:"));
  return { hostname: url.hostname, port: Number(url.port) };
}

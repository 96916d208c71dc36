/**
 * How one spillway process starts another: `deno run <flags> cli.ts <role>`
 * from source, or `<binary> <role>` when running as a `deno compile`d
 * `spillway` binary (whose permissions are baked in at compile time).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { WorkerConfig } from "../worker/config.ts";
import { taskGrantArgs } from "../worker/task_permissions.ts";

/** The `spillway` command line module (`cli.ts`). */
export const CLI_URL: URL = new URL("../../cli.ts", import.meta.url);

/**
 * Whether this process is a `deno compile`d binary: `Deno.execPath()` is
 * then the binary itself, which takes a role as its first argument and
 * ignores Deno flags.
 */
export function isCompiled(): boolean {
  return Deno.build.standalone === true;
}

/**
 * Directories of spillway's own code that a worker process must be able to
 * read: `new Worker(url)` checks read permission on the executor's entry
 * module and its imports (unlike the main module's static imports). Empty
 * when the code is not on the local file system (compiled, or imported from
 * `https:`).
 */
export function ownReadPaths(): string[] {
  if (isCompiled()) return [];
  // The executors' entry imports from src/worker, src/store (mappings) and
  // src/serialize: a Web Worker's imports need read access, unlike the
  // process's own main module graph.
  const src = new URL("../", import.meta.url);
  return src.protocol === "file:"
    ? [fileURLToPath(src).replace(/\/$/, "")]
    : [];
}

/** A program and its arguments, ready for `Deno.Command`. */
export interface RoleCommand {
  /** The executable: `Deno.execPath()`. */
  command: string;
  /** Its arguments. */
  args: string[];
}

/**
 * The command line that runs a spillway `role` (`scheduler`, `worker`,
 * `worker-process`, ...) as a new process.
 *
 * @param role The subcommand.
 * @param roleArgs Its arguments.
 * @param denoFlags Deno flags (permissions, `--v8-flags`); ignored when
 *   compiled, since a compiled binary's flags are fixed at compile time.
 * @param compiled Whether this is a compiled binary (default: detected).
 * @returns The executable and its arguments.
 *
 * @example
 * ```ts
 * import { roleCommand } from "./spawn.ts";
 * const { command, args } = roleCommand("scheduler", ["--port", "0"], [
 *   "--allow-net=127.0.0.1",
 * ]);
 * console.log(command, args.join(" "));
 * // deno run --no-prompt --allow-net=127.0.0.1 /…/cli.ts scheduler --port 0
 * ```
 */
export function roleCommand(
  role: string,
  roleArgs: readonly string[],
  denoFlags: readonly string[],
  compiled: boolean = isCompiled(),
): RoleCommand {
  if (compiled) {
    return { command: Deno.execPath(), args: [role, ...roleArgs] };
  }
  const main = CLI_URL.protocol === "file:"
    ? fileURLToPath(CLI_URL)
    : CLI_URL.href;
  return {
    command: Deno.execPath(),
    args: ["run", "--no-prompt", ...denoFlags, main, role, ...roleArgs],
  };
}

/**
 * A worker's configuration as the command line of `spillway worker` (and
 * of the nanny's `worker-process`), which read it back: the scheduler's
 * address, then its flags.
 *
 * @param config The worker.
 * @returns The arguments after the role.
 *
 * @example
 * ```ts
 * import { workerArgs } from "./spawn.ts";
 * console.log(workerArgs({
 *   scheduler: "tcp://127.0.0.1:8786", hostname: "127.0.0.1", port: 0,
 *   nthreads: 2, memoryLimit: 2 ** 30, spillDir: "/tmp/spill",
 *   sharedMemory: false,
 * }).join(" "));
 * // tcp://127.0.0.1:8786 --nthreads 2 --memory-limit 1073741824B --spill-dir /tmp/spill --host 127.0.0.1 --port 0
 * ```
 */
export function workerArgs(config: WorkerConfig): string[] {
  return [
    config.scheduler,
    "--nthreads",
    String(config.nthreads),
    "--memory-limit",
    config.memoryLimit === null ? "0" : `${config.memoryLimit}B`,
    "--spill-dir",
    config.spillDir,
    "--host",
    config.hostname,
    "--port",
    String(config.port),
    ...(config.sharedMemory ? ["--shared-memory"] : []),
    ...(config.target !== undefined ? ["--target", String(config.target)] : []),
    ...(config.codecs !== undefined && config.codecs.length > 0
      ? ["--codecs", config.codecs.join(",")]
      : []),
    ...(config.reconnectTimeout !== undefined
      ? ["--reconnect-timeout", `${config.reconnectTimeout}ms`]
      : []),
    ...(config.spillExhaustedTimeout !== undefined
      ? ["--spill-exhausted-timeout", `${config.spillExhaustedTimeout}ms`]
      : []),
    ...(config.insecureAllowRemote ? ["--insecure-allow-remote"] : []),
    ...(config.taskModules !== undefined && config.taskModules.length > 0
      ? [`--modules=${config.taskModules.join(",")}`]
      : []),
    ...(config.denoDir !== undefined ? ["--deno-dir", config.denoDir] : []),
    ...taskGrantArgs(config.taskPermissions),
    ...Object.entries(config.tlsFiles ?? {}).flatMap(([part, path]) =>
      path === undefined ? [] : [`--tls-${part}`, path]
    ),
    ...(config.maxMessageSize !== undefined
      ? ["--max-message-size", `${config.maxMessageSize}B`]
      : []),
    ...(config.logLevel !== undefined ? ["--log-level", config.logLevel] : []),
    ...(config.logFormat !== undefined
      ? ["--log-format", config.logFormat]
      : []),
  ];
}

/**
 * The environment variable that carries the cluster's auth token to the
 * processes spillway starts (never their command line, which other users
 * of the host can read), and from which `scheduler`, `worker`, `local` and
 * `demo` read it when no flag gives one.
 */
export const AUTH_TOKEN_ENV = "SPILLWAY_AUTH_TOKEN";

/**
 * The environment that hands `token` to a child process: the token, or an
 * empty value for none (so that a child never inherits a token its parent
 * was not told to use).
 *
 * @param token The cluster's auth token, or null.
 * @returns The child's extra environment.
 *
 * @example
 * ```ts
 * import { authTokenEnv } from "./spawn.ts";
 * console.log(authTokenEnv(null)); // { SPILLWAY_AUTH_TOKEN: "" }
 * ```
 */
export function authTokenEnv(token: string | null): Record<string, string> {
  return { [AUTH_TOKEN_ENV]: token ?? "" };
}

/**
 * Environment for worker processes. glibc's malloc raises its mmap
 * threshold (up to 32 MiB) after large blocks are freed, and then serves
 * large buffers from heaps it does not give back to the system: a worker
 * that spilled everything stayed at its peak RSS, above its pause
 * threshold, for good. A fixed threshold keeps large buffers in their own
 * mappings, returned on free.
 */
export const WORKER_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(1 << 20),
};

/**
 * V8 flags for a worker process: `--expose-gc` (the worker collects
 * garbage when its memory is high, see `src/worker/collector.ts`) and the
 * caller's.
 *
 * @param extra The caller's V8 flags (comma-separated), if any.
 * @returns The value for `--v8-flags=`.
 */
export function workerV8Flags(extra?: string): string {
  const flags = (extra ?? "").split(",").filter((f) => f !== "");
  return [...new Set(["--expose-gc", ...flags])].join(",");
}

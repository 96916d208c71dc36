/**
 * The command line of a worker, shared by `spillway worker` and the hidden
 * `spillway worker-process` (whose command line the nanny writes with
 * `workerArgs`): its usage, and the flags that read into a
 * {@linkcode WorkerSettings}.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL as toFileUrl } from "node:url";
import type { WorkerConfig } from "../worker/config.ts";
import {
  TASK_PERMISSION_NAMES,
  type TaskPermissions,
} from "../worker/task_permissions.ts";
import {
  type FlagSpec,
  host,
  integer,
  LOG_FLAGS,
  logUsage,
  memoryLimit,
  type ParsedFlags,
  parseDuration,
  reconnectTimeout,
  remoteAllowed,
  schedulerAddress,
  sharedMemory,
  target,
  TLS_FLAGS,
  tlsFiles,
  tlsUsage,
  UsageError,
} from "./args.ts";
import {
  AUTH_FLAGS,
  authToken,
  authUsage,
  maxMessageSize,
  MESSAGE_SIZE_FLAGS,
} from "./auth_flags.ts";

/** Usage of `spillway worker` (and of `spillway worker-process`). */
export const WORKER_USAGE: string =
  `usage: spillway worker <scheduler-address> [options]

Runs a worker that joins the scheduler at <scheduler-address> (tcp://host:port).
By default a small supervisor, the nanny, runs the worker as a child process,
kills it when its memory passes 95% of --memory-limit, and starts a fresh one
when it dies (each with a new spill directory). Prints "worker listening at
tcp://host:port" (again after each restart) and runs until SIGINT or SIGTERM.

options:
  --nthreads <n>           tasks run at once (executor threads; default 1)
  --memory-limit <limit>   4GiB, 2e9, a fraction of system memory (0.5), or 0
                           for none (default 0); at least 112 MiB
  --spill-dir <dir>        where each worker process's spill directory is made
                           (default: the temp directory); not under /dev
  --host <host>            interface to listen on (default 127.0.0.1); one
                           other hosts can reach needs an auth token (or
                           mutual TLS), or --insecure-allow-remote
  --insecure-allow-remote  allow a non-loopback --host without a token:
                           anyone who can reach the port can then run code
                           on every worker
  --port <port>            port to listen on (default 0: a free one)
  --reconnect-timeout <t>  how long a worker that lost its scheduler tries to
                           register again (60s, 500ms, 2m, or 0; default 60s);
                           it comes back empty (its keys are dropped)
  --spill-exhausted-timeout <t>
                           how long a worker paused with its spill space
                           exhausted waits for memory to free before the
                           tasks waiting on it fail (default 60s)
  --modules <paths>        comma-separated directories or files task modules
                           are read from; tasks may read only these (default:
                           the working directory), and the worker process
                           only these (default: whatever the nanny may read)
  --task-allow-read[=<paths>]
  --task-allow-write[=<paths>]
  --task-allow-net[=<hosts>]
  --task-allow-env[=<names>]
  --task-allow-run[=<programs>]
                           grant tasks what Deno's --allow-* flag of that name
                           grants (a comma-separated list, or bare for all).
                           Tasks run in a sandbox: they read only their
                           modules, spillway's code and Deno's cache, and
                           write, connect, read the environment or run
                           programs only as granted here. The worker process
                           must hold what it grants
  --deno-dir <dir>         Deno's directory, whose npm: and remote caches tasks
                           may read (default: DENO_DIR, or what deno info says)
  --codecs <modules>       comma-separated paths or URLs of modules that
                           register codecs (registerCodec), imported at start
                           on the worker and in each executor
  --v8-flags <flags>       V8 flags for the worker process, e.g. --expose-gc
  --shared-memory          shared-memory mode: --spill-dir must be a tmpfs
                           shared by this host's workers; spilled data is
                           mapped, and same-host peers get hard links
                           (needs --allow-ffi; see \`spillway shm-setup\`)
  --target <fraction>      memory the store keeps before spilling, as a
                           fraction of --memory-limit (default 0.6; 0 spills
                           every result at once, for shared-memory mode)
  --no-nanny               run the worker in this process, unsupervised
  --sandbox                with --no-nanny: this process runs with Deno's
                           --unstable-worker-options, so tasks run in the
                           sandbox (seen without --sandbox only under -A; a
                           nanny's worker process always has both)
${tlsUsage(27)}
${authUsage(27, true)}
${logUsage(27)}
  -h, --help               this text

exit status: 0 when stopped, 3 when the worker lost its scheduler (and could
not reach it again within --reconnect-timeout), 78 when
--spill-dir cannot hold the shared-memory mode (said once, not restarted),
1 when the nanny gave up after five quick failures.

permissions: --allow-net (the cluster's hosts), --allow-read and --allow-write
on the spill dir, --allow-read on the task modules and spillway's src/,
--allow-sys=hostname (and systemMemoryInfo for a fractional limit); with the
nanny also --allow-run=<deno>,cat (cat reads /proc/<pid>/status: Deno lets
only -A read /proc). The worker process gets no more than the nanny holds,
and --unstable-worker-options (the tasks' sandbox); with --no-nanny, run
with that flag yourself, or tasks run with the process's own permissions.
`;

/** The store flags `worker` and `local` share. */
export const STORE_FLAGS: FlagSpec = {
  "shared-memory": { type: "boolean" },
  target: { type: "string" },
};

/** `--spill-exhausted-timeout`: a duration (`60s`, `500ms`, `2m`) in ms. */
function spillExhaustedTimeout(text: string, usage: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(
      `--spill-exhausted-timeout: ${(error as Error).message}`,
      usage,
    );
  }
}

/** The flags of a worker's configuration. */
export const WORKER_FLAGS: FlagSpec = {
  nthreads: { type: "string" },
  "memory-limit": { type: "string" },
  "spill-dir": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "reconnect-timeout": { type: "string" },
  "spill-exhausted-timeout": { type: "string" },
  codecs: { type: "string" },
  "insecure-allow-remote": { type: "boolean" },
  modules: { type: "string" },
  "deno-dir": { type: "string" },
  ...Object.fromEntries(
    TASK_PERMISSION_NAMES.map((name) => [
      `task-allow-${name}`,
      { type: "string" } as const,
    ]),
  ),
  ...TLS_FLAGS,
  ...AUTH_FLAGS,
  ...MESSAGE_SIZE_FLAGS,
  ...STORE_FLAGS,
  ...LOG_FLAGS,
};

/**
 * A worker's configuration as its command line gives it: `spillDir`
 * (absolute) is undefined without `--spill-dir`.
 */
export type WorkerSettings =
  & Omit<WorkerConfig, "spillDir">
  & Partial<Pick<WorkerConfig, "spillDir">>
  & {
    /**
     * The auth token (`--auth-token`, `--auth-token-file` or
     * `SPILLWAY_AUTH_TOKEN`), or null: not part of `WorkerConfig`, which
     * becomes a command line.
     */
    authToken?: string | null;
  };

/**
 * Reads a worker's configuration from its parsed command line
 * ({@linkcode WORKER_FLAGS} and `<scheduler-address>`).
 *
 * @param parsed The parsed command line.
 * @param usage The command's usage.
 * @returns The configuration.
 * @throws {UsageError} For a bad flag value or address.
 */
export function workerSettings(
  parsed: ParsedFlags,
  usage: string,
): WorkerSettings {
  const v = parsed.values;
  const hostname = host((v.host as string) ?? "127.0.0.1", usage);
  const reconnect = reconnectTimeout(
    v["reconnect-timeout"] as string | undefined,
    usage,
  );
  const exhausted = v["spill-exhausted-timeout"] === undefined
    ? undefined
    : spillExhaustedTimeout(v["spill-exhausted-timeout"] as string, usage);
  const tls = tlsFiles(v, usage);
  const token = authToken(v, usage);
  const messageSize = maxMessageSize(v, usage);
  return {
    ...(token !== null ? { authToken: token } : {}),
    ...(messageSize !== undefined ? { maxMessageSize: messageSize } : {}),
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
    hostname,
    insecureAllowRemote: remoteAllowed(v, hostname, usage, {
      authToken: token !== null,
      // Mutual TLS: a certificate, its key, and the CA clients must be signed by.
      mutualTls: tls.cert !== undefined && tls.ca !== undefined,
    }),
    port: integer("port", (v.port as string) ?? "0", 0, 65535, usage),
    sharedMemory: sharedMemory(v, usage),
    target: target(v, usage),
    ...(reconnect !== undefined ? { reconnectTimeout: reconnect } : {}),
    ...(exhausted !== undefined ? { spillExhaustedTimeout: exhausted } : {}),
    ...(Object.keys(tls).length > 0 ? { tlsFiles: tls } : {}),
    ...(v.codecs !== undefined
      ? { codecs: codecModules(v.codecs as string) }
      : {}),
    ...(v.modules !== undefined
      ? {
        taskModules: (v.modules as string).split(",").filter((p) => p !== "")
          .map((p) => resolve(p)),
      }
      : {}),
    ...(v["deno-dir"] !== undefined
      ? { denoDir: resolve(v["deno-dir"] as string) }
      : {}),
    ...taskGrants(v, usage),
  };
}

/** A bare `--task-allow-<name>` (all of it), as {@linkcode bareTaskGrants} writes it. */
const ALL = "\0all";

/**
 * The arguments with each bare `--task-allow-<name>` (no `=`: grant all of
 * it, as Deno's bare `--allow-<name>`) written so that the flag parser,
 * which wants a value, takes it.
 *
 * @param args A worker's command line.
 * @returns The same arguments, bare grants given a value meaning "all".
 *
 * @example
 * ```ts
 * import { bareTaskGrants } from "./worker_flags.ts";
 * bareTaskGrants(["tcp://127.0.0.1:8786", "--task-allow-net"]).length; // 2
 * ```
 */
export function bareTaskGrants(args: readonly string[]): string[] {
  const bare = new Set(TASK_PERMISSION_NAMES.map((n) => `--task-allow-${n}`));
  const end = args.indexOf("--");
  return args.map((arg, i) =>
    bare.has(arg) && (end === -1 || i < end) ? `${arg}=${ALL}` : arg
  );
}

/** The grants of `--task-allow-*`, as `taskPermissions`. */
function taskGrants(
  v: ParsedFlags["values"],
  usage: string,
): { taskPermissions?: TaskPermissions } {
  const grants: TaskPermissions = {};
  for (const name of TASK_PERMISSION_NAMES) {
    const text = v[`task-allow-${name}`];
    if (typeof text !== "string") continue;
    if (text === ALL) {
      grants[name] = true;
      continue;
    }
    const list = text.split(",").filter((e) => e !== "");
    if (list.length === 0) {
      throw new UsageError(
        `--task-allow-${name}: expected a comma-separated list, or no value for all`,
        usage,
      );
    }
    grants[name] = name === "read" || name === "write"
      ? list.map((p) => resolve(p))
      : list;
  }
  return Object.keys(grants).length > 0 ? { taskPermissions: grants } : {};
}

/**
 * The modules of `--codecs` as URLs: each comma-separated entry is a URL
 * (`file:`, `https:`, `http:`) or a path, made absolute.
 *
 * @param text The flag's value.
 * @returns Their URLs.
 *
 * @example
 * ```ts
 * import { codecModules } from "./worker_flags.ts";
 * codecModules("./codecs.ts,https://example.com/geo.ts");
 * // ["file:///…/codecs.ts", "https://example.com/geo.ts"]
 * ```
 */
export function codecModules(text: string): string[] {
  return text.split(",").filter((p) => p !== "").map((p) =>
    /^(?:file|https?):/i.test(p) ? new URL(p).href : toFileUrl(resolve(p)).href
  );
}

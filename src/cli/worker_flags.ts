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
  type FlagSpec,
  host,
  integer,
  LOG_FLAGS,
  logUsage,
  memoryLimit,
  type ParsedFlags,
  reconnectTimeout,
  remoteAllowed,
  schedulerAddress,
  sharedMemory,
  target,
} from "./args.ts";

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
                           for none (default 0); at least 96 MiB
  --spill-dir <dir>        where each worker process's spill directory is made
                           (default: the temp directory); not under /dev
  --host <host>            interface to listen on (default 127.0.0.1); one
                           other hosts can reach needs --insecure-allow-remote
  --insecure-allow-remote  allow a non-loopback --host: there is no
                           authentication yet, so anyone who can reach the
                           port can run code on every worker
  --port <port>            port to listen on (default 0: a free one)
  --reconnect-timeout <t>  how long a worker that lost its scheduler tries to
                           register again (60s, 500ms, 2m, or 0; default 60s);
                           it comes back empty (its keys are dropped)
  --modules <paths>        comma-separated directories or files task modules
                           are read from; the worker process may read only
                           these (default: whatever the nanny may read)
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
only -A read /proc). The worker process gets no more than the nanny holds.
`;

/** The store flags `worker` and `local` share. */
export const STORE_FLAGS: FlagSpec = {
  "shared-memory": { type: "boolean" },
  target: { type: "string" },
};

/** The flags of a worker's configuration. */
export const WORKER_FLAGS: FlagSpec = {
  nthreads: { type: "string" },
  "memory-limit": { type: "string" },
  "spill-dir": { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "reconnect-timeout": { type: "string" },
  codecs: { type: "string" },
  "insecure-allow-remote": { type: "boolean" },
  ...STORE_FLAGS,
  ...LOG_FLAGS,
};

/**
 * A worker's configuration as its command line gives it: `spillDir`
 * (absolute) is undefined without `--spill-dir`.
 */
export type WorkerSettings =
  & Omit<WorkerConfig, "spillDir">
  & Partial<Pick<WorkerConfig, "spillDir">>;

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
    hostname,
    insecureAllowRemote: remoteAllowed(v, hostname, usage),
    port: integer("port", (v.port as string) ?? "0", 0, 65535, usage),
    sharedMemory: sharedMemory(v, usage),
    target: target(v, usage),
    ...(reconnect !== undefined ? { reconnectTimeout: reconnect } : {}),
    ...(v.codecs !== undefined
      ? { codecs: codecModules(v.codecs as string) }
      : {}),
  };
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

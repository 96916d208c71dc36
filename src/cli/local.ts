/**
 * `spillway local`: a scheduler and workers on this machine, each a
 * separate process, until SIGINT or SIGTERM.
 *
 * @module
 */
import { formatBytes } from "../memory/bytes.ts";
import type { LocalCluster } from "../cluster/local_cluster.ts";
import { SpillPathError } from "../cluster/permissions.ts";
import {
  host,
  integer,
  LOG_FLAGS,
  logging,
  logUsage,
  memoryLimit,
  mutualTls,
  parseFlags,
  paths,
  remoteAllowed,
  sharedMemory,
  target,
  TLS_FLAGS,
  tlsFiles,
  tlsUsage,
} from "./args.ts";
import { stopRequested } from "./lifecycle.ts";
import { STORE_FLAGS } from "./worker_flags.ts";
import { AUTH_FLAGS, authToken, authUsage } from "./auth_flags.ts";

/** Usage of `spillway local`. */
export const LOCAL_USAGE: string = `usage: spillway local [options]

Runs a scheduler and workers on this machine, each a separate process with
least-privilege permissions. Prints the scheduler's address and runs until
SIGINT or SIGTERM, then stops them all and removes their spill directories.

options:
  --workers <n>            how many workers (default 2)
  --nthreads <n>           tasks each worker runs at once (default 1)
  --memory-limit <limit>   per worker: 1GiB, 2e9, a fraction of system memory
                           (0.5), or 0 for none (default 1GiB); at least 112 MiB
  --spill-dir <dir>        where the spill directories go (default: the temp
                           directory); not under /dev
  --modules <paths>        comma-separated directories or files task modules
                           are read from (default: the current directory)
  --host <host>            interface to listen on (default 127.0.0.1); one
                           other hosts can reach needs an auth token, or
                           --insecure-allow-remote
  --insecure-allow-remote  allow a non-loopback --host without a token:
                           anyone who can reach the ports can then run code
                           on every worker
${authUsage(27, false)}
${tlsUsage(27)}
  --v8-flags <flags>       V8 flags for every process, e.g. --expose-gc
  --shared-memory          shared-memory mode: --spill-dir must be a tmpfs;
                           spilled data is mapped, and workers take each
                           other's data by hard link (see \`spillway shm-setup\`)
  --target <fraction>      memory each store keeps before spilling, as a
                           fraction of --memory-limit (default 0.6; 0 spills
                           every result at once, for shared-memory mode)
  --no-nanny               run workers unsupervised
  --allowed-failures <n>   how many workers may die running one task before
                           it fails with KilledWorker (default 3)
  --dashboard-port <port>  the scheduler's dashboard and /metrics over HTTP;
                           0 for a free one (default 8787; a free one when
                           it is taken)
  --no-dashboard           no HTTP server
${logUsage(27)}
  -h, --help               this text

permissions: --allow-run, --allow-read and --allow-write on the spill
directory's parent (and /tmp by default), --allow-sys=systemMemoryInfo for a
fractional limit; or -A. In shared-memory mode the workers get --allow-ffi.
`;

/**
 * `spillway local`.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function localCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      workers: { type: "string" },
      nthreads: { type: "string" },
      "memory-limit": { type: "string" },
      "spill-dir": { type: "string" },
      modules: { type: "string" },
      host: { type: "string" },
      "insecure-allow-remote": { type: "boolean" },
      "v8-flags": { type: "string" },
      ...STORE_FLAGS,
      "no-nanny": { type: "boolean" },
      "allowed-failures": { type: "string" },
      "dashboard-port": { type: "string" },
      "no-dashboard": { type: "boolean" },
      ...AUTH_FLAGS,
      ...TLS_FLAGS,
      ...LOG_FLAGS,
    },
    LOCAL_USAGE,
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  // This process's own lines are the cluster's; its processes get the flags.
  const logs = logging(v, LOCAL_USAGE, "cluster");
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
  const token = authToken(v, LOCAL_USAGE);
  const tls = tlsFiles(v, LOCAL_USAGE);
  const remote = remoteAllowed(v, hostname, LOCAL_USAGE, {
    authToken: token !== null,
    mutualTls: mutualTls(tls),
  });
  const shared = sharedMemory(v, LOCAL_USAGE);
  const storeTarget = target(v, LOCAL_USAGE);
  const dashboardPort = integer(
    "dashboard-port",
    (v["dashboard-port"] as string) ?? "8787",
    0,
    65535,
    LOCAL_USAGE,
  );
  const allowedFailures = integer(
    "allowed-failures",
    (v["allowed-failures"] as string) ?? "3",
    1,
    1_000_000,
    LOCAL_USAGE,
  );
  const stop = stopRequested(false);
  let cluster: LocalCluster;
  try {
    const { LocalCluster } = await import("../cluster/local_cluster.ts");
    cluster = await LocalCluster.start({
      workers,
      threadsPerWorker: nthreads,
      memoryLimit: limit,
      spillDir: v["spill-dir"] as string | undefined,
      modules: paths(v.modules as string | undefined) ?? undefined,
      host: hostname,
      insecureAllowRemote: remote,
      ...(token !== null ? { authToken: token } : {}),
      ...(Object.keys(tls).length > 0 ? { tlsFiles: tls } : {}),
      v8Flags: v["v8-flags"] as string | undefined,
      nanny: v["no-nanny"] !== true,
      allowedFailures,
      dashboard: v["no-dashboard"] !== true,
      dashboardPort,
      sharedMemory: shared,
      ...(storeTarget !== undefined ? { target: storeTarget } : {}),
      ...logs,
    });
  } catch (error) {
    const prefix = error instanceof SpillPathError ? "" : "could not start: ";
    console.error(`spillway: ${prefix}${(error as Error).message}`);
    return 1;
  }
  if (cluster.dashboardUrl !== null) {
    console.log(`dashboard at ${cluster.dashboardUrl}`);
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

/**
 * `spillway scheduler`: runs a scheduler until SIGINT or SIGTERM.
 *
 * @module
 */
import type { SchedulerServer } from "../scheduler/server.ts";
import {
  host,
  integer,
  LOG_FLAGS,
  logging,
  logUsage,
  parseDuration,
  parseFlags,
  remoteAllowed,
  TLS_FLAGS,
  tlsFiles,
  tlsUsage,
  UsageError,
} from "./args.ts";
import { readTlsFiles, type TlsOptions } from "../comm/tls.ts";
import { remoteWarning } from "../cluster/remote.ts";
import {
  AUTH_FLAGS,
  authToken,
  authUsage,
  maxMessageSize,
  MESSAGE_SIZE_FLAGS,
} from "./auth_flags.ts";
import { stopRequested } from "./lifecycle.ts";

/** Usage of `spillway scheduler`. */
export const SCHEDULER_USAGE: string = `usage: spillway scheduler [options]

Runs the scheduler. Prints "dashboard at http://host:port/" (unless
--no-dashboard), then "scheduler listening at tcp://host:port", and runs until
SIGINT or SIGTERM.

options:
  --host <host>                interface to listen on (default 127.0.0.1); one
                               other hosts can reach (0.0.0.0, a LAN address)
                               needs an auth token (or mutual TLS), or
                               --insecure-allow-remote
  --insecure-allow-remote      allow a non-loopback --host without a token:
                               anyone who can reach the port can then run
                               code on every worker
  --port <port>                port to listen on, 0 for a free one (default 8786)
  --heartbeat-timeout <time>   remove a worker silent this long: 30s, 500ms, 2m
                               (default 30s)
  --allowed-failures <n>       how many workers may die running one task
                               before it fails with KilledWorker (default 3)
  --task-stream-capacity <n>   how many task records the task stream keeps
                               (default 100000)
  --die-with-parent            stop when stdin closes (the parent died)
  --remove-when-orphaned <dir> with --die-with-parent: when the parent died,
                               remove <dir> once the workers have left (at
                               most 10 s later); a LocalCluster's root
  --dashboard-port <port>      the dashboard and /metrics, over HTTP on --host;
                               0 for a free one (default 8787; a free one when
                               it is taken)
  --no-dashboard               no HTTP server
${tlsUsage(31)}
                               (the dashboard serves HTTPS with --tls-cert)
${authUsage(31, true)}
${logUsage(31)}
  -h, --help                   this text

permissions: --allow-net=<host>; for the dashboard, --allow-read on
spillway's src/dashboard/static and --allow-sys=systemMemoryInfo (the host's
memory); --allow-env=SPILLWAY_AUTH_TOKEN to read the token from there
`;

/**
 * `spillway scheduler`.
 *
 * @param args The arguments after the command name.
 * @returns The exit status.
 */
export async function schedulerCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      host: { type: "string" },
      port: { type: "string" },
      "heartbeat-timeout": { type: "string" },
      "allowed-failures": { type: "string" },
      "task-stream-capacity": { type: "string" },
      "insecure-allow-remote": { type: "boolean" },
      "die-with-parent": { type: "boolean" },
      "remove-when-orphaned": { type: "string" },
      "dashboard-port": { type: "string" },
      "no-dashboard": { type: "boolean" },
      ...TLS_FLAGS,
      ...AUTH_FLAGS,
      ...MESSAGE_SIZE_FLAGS,
      ...LOG_FLAGS,
    },
    SCHEDULER_USAGE,
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  logging(v, SCHEDULER_USAGE, "scheduler");
  const hostname = host((v.host as string) ?? "127.0.0.1", SCHEDULER_USAGE);
  const token = authToken(v, SCHEDULER_USAGE);
  const messageSize = maxMessageSize(v, SCHEDULER_USAGE);
  const remote = remoteAllowed(v, hostname, SCHEDULER_USAGE, {
    authToken: token !== null,
    // Mutual TLS: a certificate and the CA clients must be signed by.
    mutualTls: v["tls-cert"] !== undefined && v["tls-ca"] !== undefined,
  });
  const port = integer(
    "port",
    (v.port as string) ?? "8786",
    0,
    65535,
    SCHEDULER_USAGE,
  );
  const dashboardPort = v["no-dashboard"] === true ? null : integer(
    "dashboard-port",
    (v["dashboard-port"] as string) ?? "8787",
    0,
    65535,
    SCHEDULER_USAGE,
  );
  const allowedFailures = integer(
    "allowed-failures",
    (v["allowed-failures"] as string) ?? "3",
    1,
    1_000_000,
    SCHEDULER_USAGE,
  );
  const taskStreamCapacity = v["task-stream-capacity"] === undefined
    ? undefined
    : integer(
      "task-stream-capacity",
      v["task-stream-capacity"] as string,
      1,
      100_000_000,
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
  const tlsPaths = tlsFiles(v, SCHEDULER_USAGE);
  let tls: TlsOptions | undefined;
  if (Object.keys(tlsPaths).length > 0) {
    try {
      tls = await readTlsFiles(tlsPaths);
    } catch (error) {
      console.error(`spillway: ${(error as Error).message}`);
      return 1;
    }
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
      allowedFailures,
      ...(taskStreamCapacity !== undefined ? { taskStreamCapacity } : {}),
      ...(tls !== undefined ? { tls } : {}),
      authToken: token,
      ...(messageSize !== undefined ? { maxMessageSize: messageSize } : {}),
    });
  } catch (error) {
    console.error(
      `spillway: could not start the scheduler on ${hostname}:${port}: ${
        (error as Error).message
      }`,
    );
    return 1;
  }
  if (remote) console.error(remoteWarning("scheduler", hostname));
  let dashboard: { url: string; close(): Promise<void> } | null = null;
  if (dashboardPort !== null) {
    try {
      const { DashboardServer } = await import("../dashboard/server.ts");
      dashboard = await DashboardServer.start({
        view: scheduler.view(),
        hostname,
        port: dashboardPort,
        authToken: token,
        ...(tls?.cert !== undefined && tls.key !== undefined
          ? { tls: { cert: tls.cert, key: tls.key } }
          : {}),
      });
    } catch (error) {
      console.error(
        `spillway: could not start the dashboard on ${hostname}:${dashboardPort}: ${
          (error as Error).message
        }`,
      );
      await scheduler.close();
      return 1;
    }
    // Before the address: whoever waits for the address knows both then.
    console.log(`dashboard at ${dashboard.url}`);
  }
  console.log(`scheduler listening at ${scheduler.address}`);
  const why = await stop;
  const orphaned = v["remove-when-orphaned"] as string | undefined;
  if (why === "stdin" && orphaned !== undefined) {
    // The parent died without stopping the cluster: its workers stop too
    // (their stdin closed as well); once they left, nothing writes there.
    const deadline = Date.now() + 10_000;
    while (scheduler.view().workers().length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await dashboard?.close();
  await scheduler.close();
  if (why === "stdin" && orphaned !== undefined) {
    await removeOrphaned(orphaned);
  }
  return 0;
}

/**
 * Removes `dir` and what is in it, again while it reappears or a nanny
 * removing its own directory in it races the removal (a few tries).
 */
async function removeOrphaned(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await Deno.remove(dir, { recursive: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

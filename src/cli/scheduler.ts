/**
 * `spillway scheduler`: runs a scheduler until SIGINT or SIGTERM.
 *
 * @module
 */
import type { SchedulerServer } from "../scheduler/server.ts";
import {
  host,
  integer,
  parseDuration,
  parseFlags,
  remoteAllowed,
  UsageError,
} from "./args.ts";
import { remoteWarning } from "../cluster/remote.ts";
import { stopRequested } from "./lifecycle.ts";

/** Usage of `spillway scheduler`. */
export const SCHEDULER_USAGE: string = `usage: spillway scheduler [options]

Runs the scheduler. Prints "scheduler listening at tcp://host:port" and runs
until SIGINT or SIGTERM.

options:
  --host <host>                interface to listen on (default 127.0.0.1); one
                               other hosts can reach (0.0.0.0, a LAN address)
                               needs --insecure-allow-remote
  --insecure-allow-remote      allow a non-loopback --host: there is no
                               authentication yet, so anyone who can reach
                               the port can run code on every worker
  --port <port>                port to listen on, 0 for a free one (default 8786)
  --heartbeat-timeout <time>   remove a worker silent this long: 30s, 500ms, 2m
                               (default 30s)
  -h, --help                   this text

permissions: --allow-net=<host>
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
      "insecure-allow-remote": { type: "boolean" },
      "die-with-parent": { type: "boolean" },
    },
    SCHEDULER_USAGE,
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  const hostname = host((v.host as string) ?? "127.0.0.1", SCHEDULER_USAGE);
  const remote = remoteAllowed(v, hostname, SCHEDULER_USAGE);
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
  if (remote) console.error(remoteWarning("scheduler", hostname));
  console.log(`scheduler listening at ${scheduler.address}`);
  await stop;
  await scheduler.close();
  return 0;
}

/**
 * The `spillway` command: the cluster's roles (`scheduler`, `worker`,
 * `local`), the cluster demo (`deno task start`) and the store demo.
 * `spillway <command> --help` describes each.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 cli.ts scheduler
 * deno run -A cli.ts worker tcp://127.0.0.1:8786 --memory-limit 4GiB
 * deno task start --chunks 32 --memory-limit 1GiB
 * deno run --allow-read --allow-write cli.ts store-demo --data 1GiB --memory 256MiB
 * ```
 *
 * @module
 */
import { UsageError } from "./src/cli/args.ts";
import { demoCommand } from "./src/cli/demo.ts";
import { localCommand } from "./src/cli/local.ts";
import { schedulerCommand } from "./src/cli/scheduler.ts";
import { shmSetupCommand } from "./src/cli/shm_setup.ts";
import { storeDemoCommand } from "./src/cli/store_demo.ts";
import { USAGE } from "./src/cli/usage.ts";
import { workerCommand } from "./src/cli/worker.ts";
import { workerProcessCommand } from "./src/cli/worker_process.ts";
import { flushLogs } from "./src/comm/log.ts";

/** Each command: its arguments in, its exit status out. */
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  scheduler: schedulerCommand,
  worker: workerCommand,
  local: localCommand,
  "worker-process": workerProcessCommand,
  "shm-setup": shmSetupCommand,
  demo: demoCommand,
  "store-demo": storeDemoCommand,
};

/** Prints a one-line error and the usage, then exits with status 2. */
function usageError(message: string, usage: string): never {
  console.error(`spillway: ${message}\n`);
  console.error(usage);
  Deno.exit(2);
}

/** Runs the command line `args`. */
export async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (
    command === undefined || command === "--help" || command === "-h" ||
    command === "help"
  ) {
    console.log(USAGE);
    return;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run === undefined) usageError(`unknown command "${command}"`, USAGE);
  let code: number;
  try {
    code = await run(rest);
  } catch (error) {
    if (error instanceof UsageError) usageError(error.message, error.usage);
    throw error;
  }
  // The "… N similar lines suppressed" still owed.
  flushLogs();
  // Signal listeners and sockets would keep the process alive.
  Deno.exit(code);
}

if (import.meta.main) await main(Deno.args);

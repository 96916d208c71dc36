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
import { parseArgs } from "node:util";
import { parseBytes } from "./src/memory/bytes.ts";
import {
  CLUSTER_COMMANDS,
  localCommand,
  schedulerCommand,
  shmSetupCommand,
  UsageError,
  workerCommand,
  workerProcessCommand,
} from "./src/cluster/commands.ts";

const USAGE = `usage: spillway <command> [options]

commands:
${CLUSTER_COMMANDS}
  demo       all pairs on a local cluster: a dot product for every pair of N chunks, with a
             memory limit that makes the workers spill; prints progress and a table
             --chunks <n>           chunks (default 16)
             --chunk <size>         bytes per chunk (default 64MiB)
             --workers <n>          worker processes (default 2)
             --memory-limit <size>  per worker (default 1GiB)
             --spill-dir <path>     root of the spill directories (default: a new temp dir)
             --shared-memory        shared-memory mode (--spill-dir on a tmpfs; target 0)
             --target <fraction>    of the limit kept in memory before spilling (default 0.6)
  store-demo store a data set larger than the memory target, read it back, print the store's metrics
             --data <size>      bytes of data in all (default 1GiB)
             --chunk <size>     bytes per chunk (default 32MiB)
             --memory <size>    the store's memory target (default 256MiB)
             --dir <path>       where the spill directory goes (default: a new temp dir)

sizes: 4GiB, 512MiB, 2e9, 1.5GB
"spillway <command> --help" describes a command's options.
`;

/** Prints a one-line error and the usage, then exits with status 2. */
function usageError(message: string, usage = USAGE): never {
  console.error(`spillway: ${message}\n`);
  console.error(usage);
  Deno.exit(2);
}

const CLUSTER: Record<string, (args: string[]) => Promise<number>> = {
  scheduler: schedulerCommand,
  worker: workerCommand,
  local: localCommand,
  "worker-process": workerProcessCommand,
  "shm-setup": shmSetupCommand,
};

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
  const run = Object.hasOwn(CLUSTER, command) ? CLUSTER[command] : undefined;
  if (run !== undefined) {
    let code: number;
    try {
      code = await run(rest);
    } catch (error) {
      if (error instanceof UsageError) usageError(error.message, error.usage);
      throw error;
    }
    // Signal listeners and sockets would keep the process alive.
    Deno.exit(code);
  }
  if (command === "demo") {
    Deno.exit(await clusterDemo(rest));
  }
  if (command !== "store-demo") usageError(`unknown command "${command}"`);
  const values = demoFlags(rest, {
    data: { type: "string", default: "1GiB" },
    chunk: { type: "string", default: "32MiB" },
    memory: { type: "string", default: "256MiB" },
    dir: { type: "string" },
  });
  if (values === null) return;
  const size = (name: "data" | "chunk" | "memory") => {
    try {
      return parseBytes(values[name]);
    } catch (error) {
      usageError(`--${name}: ${(error as Error).message}`);
    }
  };
  const { runStoreDemo } = await import("./src/demo/store_demo.ts");
  const result = await runStoreDemo({
    dataBytes: size("data"),
    chunkBytes: size("chunk"),
    target: size("memory"),
    directory: values.dir,
  });
  const chunks = Math.max(1, Math.floor(size("data") / size("chunk")));
  if (result.verified !== chunks) {
    console.error(
      `spillway: ${chunks - result.verified} chunks read back wrong`,
    );
    Deno.exit(1);
  }
}

/**
 * Parses a demo's flags (plus `--help`, which prints the usage and gives
 * null); a bad flag is a one-line error and the usage, exit 2.
 */
function demoFlags<
  T extends Record<
    string,
    { type: "string"; default?: string } | { type: "boolean" }
  >,
>(
  args: string[],
  options: T,
): DemoValues<T> | null {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if ((values as { help?: boolean }).help) {
    console.log(USAGE);
    return null;
  }
  return values as unknown as DemoValues<T>;
}

/** The values `demoFlags` gives for options `T`. */
type DemoValues<T> = {
  [K in keyof T]: T[K] extends { type: "boolean" } ? boolean | undefined
    : T[K] extends { default: string } ? string
    : string | undefined;
};

/** `spillway demo`: the all-pairs workload on a local cluster. */
async function clusterDemo(args: string[]): Promise<number> {
  const values = demoFlags(args, {
    chunks: { type: "string", default: "16" },
    chunk: { type: "string", default: "64MiB" },
    workers: { type: "string", default: "2" },
    "memory-limit": { type: "string", default: "1GiB" },
    "spill-dir": { type: "string" },
    "shared-memory": { type: "boolean" },
    target: { type: "string" },
  });
  if (values === null) return 0;
  const shared = values["shared-memory"] === true;
  if (shared && values["spill-dir"] === undefined) {
    usageError("--shared-memory needs --spill-dir <a directory on a tmpfs>");
  }
  let target: number | undefined = shared ? 0 : undefined;
  if (values.target !== undefined) {
    target = Number(values.target);
    if (!(target >= 0 && target <= 1)) {
      usageError(
        `--target: expected a fraction from 0 to 1, got "${values.target}"`,
      );
    }
  }
  const count = (name: "chunks" | "workers") => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) {
      usageError(
        `--${name}: expected a whole number ≥ 1, got "${values[name]}"`,
      );
    }
    return n;
  };
  let chunkBytes: number;
  try {
    chunkBytes = parseBytes(values.chunk);
  } catch (error) {
    usageError(`--chunk: ${(error as Error).message}`);
  }
  const { runAllPairs } = await import("./src/demo/allpairs.ts");
  try {
    const result = await runAllPairs({
      chunks: count("chunks"),
      chunkBytes,
      workers: count("workers"),
      memoryLimit: values["memory-limit"],
      spillDir: values["spill-dir"],
      sharedMemory: shared,
      target,
    });
    return result.correct ? 0 : 1;
  } catch (error) {
    // A failed run (a task that failed, workers killed again and again)
    // is the demo's answer, not a crash: say what failed, once.
    console.error(`the demo failed: ${(error as Error).message ?? error}`);
    return 1;
  }
}

if (import.meta.main) await main(Deno.args);

/**
 * `spillway demo` (`deno task start`): the all-pairs workload on a local
 * cluster, with progress and a table of what each worker did.
 *
 * @module
 */
import {
  LOG_FLAGS,
  logging,
  memoryLimit,
  parseFlags,
  sharedMemory,
  size,
  target as targetFlag,
  TLS_FLAGS,
  tlsFiles,
  UsageError,
} from "./args.ts";
import { USAGE } from "./usage.ts";
import { AUTH_FLAGS, authToken } from "./auth_flags.ts";

/**
 * `spillway demo`: the all-pairs workload on a local cluster.
 *
 * @param args The arguments after the command name.
 * @returns The exit status: 0 when the total is right, 1 when it is wrong
 *   or the run failed.
 */
export async function demoCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      chunks: { type: "string" },
      chunk: { type: "string" },
      workers: { type: "string" },
      "memory-limit": { type: "string" },
      "spill-dir": { type: "string" },
      "shared-memory": { type: "boolean" },
      target: { type: "string" },
      ...AUTH_FLAGS,
      ...TLS_FLAGS,
      ...LOG_FLAGS,
    },
    USAGE,
    { wholeMessage: true },
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  // This process is the demo's client; the cluster's processes get the flags.
  const logs = logging(v, USAGE, "client");
  const token = authToken(v, USAGE);
  const tls = tlsFiles(v, USAGE);
  const shared = sharedMemory(v, USAGE, "<a directory on a tmpfs>");
  const target = targetFlag(v, USAGE) ?? (shared ? 0 : undefined);
  const chunkBytes = size("chunk", (v.chunk as string) ?? "64MiB", USAGE);
  const chunks = count("chunks", (v.chunks as string) ?? "16");
  const workers = count("workers", (v.workers as string) ?? "2");
  const limit = (v["memory-limit"] as string) ?? "1GiB";
  memoryLimit(limit, USAGE); // a limit no worker can run with is refused here
  const { runAllPairs } = await import("../demo/allpairs.ts");
  try {
    const result = await runAllPairs({
      chunks,
      chunkBytes,
      workers,
      memoryLimit: limit,
      spillDir: v["spill-dir"] as string | undefined,
      sharedMemory: shared,
      target,
      ...(token !== null ? { authToken: token } : {}),
      ...(Object.keys(tls).length > 0 ? { tlsFiles: tls } : {}),
      ...logs,
    });
    return result.correct ? 0 : 1;
  } catch (error) {
    // A failed run (a task that failed, workers killed again and again)
    // is the demo's answer, not a crash: say what failed, once.
    console.error(`the demo failed: ${(error as Error).message ?? error}`);
    return 1;
  }
}

/** A count of at least 1 (`--chunks`, `--workers`). */
function count(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(
      `--${name}: expected a whole number ≥ 1, got "${text}"`,
      USAGE,
    );
  }
  return n;
}

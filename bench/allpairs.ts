/**
 * All pairs at scale: 2 GiB as 32 chunks of 64 MiB of Float64Array, one dot
 * product per pair i ≤ j, per-row sums and a total, on 2 workers × 1 GiB
 * memory limit (separate processes). Prints wall time, peak memory per
 * worker, bytes spilled, bytes transferred between workers, and
 * deserializations avoided; checks the total against its closed form.
 *
 * ```sh
 * deno run -A bench/allpairs.ts [--chunks 32] [--chunk 64MiB] [--workers 2] [--memory-limit 1GiB]
 * ```
 *
 * @module
 */
import { runAllPairs } from "../src/demo/allpairs.ts";
import { countFlag, parseFlags, sizeFlag } from "./_common.ts";

const USAGE = `usage: deno run -A bench/allpairs.ts [options]

  --chunks <n>           chunks (default 32)
  --chunk <size>         bytes per chunk (default 64MiB)
  --workers <n>          worker processes (default 2)
  --memory-limit <size>  per worker (default 1GiB)
  --dir <path>           root of the spill directories (default: a temp dir)`;

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    chunks: { type: "string", default: "32" },
    chunk: { type: "string", default: "64MiB" },
    workers: { type: "string", default: "2" },
    "memory-limit": { type: "string", default: "1GiB" },
  }, args);
  console.log("\n# all pairs at scale");
  const result = await runAllPairs({
    chunks: countFlag(flags.chunks, "chunks"),
    chunkBytes: sizeFlag(flags.chunk, "chunk"),
    workers: countFlag(flags.workers, "workers"),
    memoryLimit: flags["memory-limit"],
    spillDir: flags.dir,
  });
  console.log(
    `\nallpairs: ${
      result.correct ? "correct" : "WRONG RESULT"
    }; exit status 0 (benchmarks do not gate)`,
  );
  if (!result.correct) Deno.exit(1);
}

if (import.meta.main) await run();

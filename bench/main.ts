/**
 * Runs every benchmark in sequence, each in its own process (so that one's
 * heap, freed memory and dirty pages do not weigh on the next more than the
 * OS makes them), then prints a one-line verdict per benchmark.
 *
 * ```sh
 * deno task bench                                  # default sizes, a few minutes
 * deno run -A bench/main.ts --quick                # 256 MiB each, seconds
 * deno run -A bench/main.ts --total 1GiB --only lag,forwarding --dir /dev/shm
 * deno run -A bench/main.ts --v8-flags=--trace-gc  # GC trace, to explain stalls
 * ```
 *
 * Exits 0 when every benchmark ran, whatever their verdicts (benchmarks
 * report, they do not gate); 1 when one failed to run.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseFlags } from "./_common.ts";

/** Flags every benchmark gets from this runner's `--total` and `--dir`. */
interface Shared {
  total?: string;
  dir?: string;
}

const storeFlags = ({ total, dir }: Shared) => [
  ...(total !== undefined ? ["--total", total] : []),
  ...(dir !== undefined ? ["--dir", dir] : []),
];

const BENCHMARKS: {
  name: string;
  file: string;
  flags: (shared: Shared) => string[];
}[] = [
  { name: "throughput", file: "spill_throughput.ts", flags: storeFlags },
  { name: "lag", file: "event_loop_lag.ts", flags: storeFlags },
  { name: "forwarding", file: "forwarding.ts", flags: storeFlags },
  {
    name: "write-amplification",
    file: "write_amplification.ts",
    flags: storeFlags,
  },
  // A local cluster; its sizes are task counts, not bytes.
  { name: "scheduler", file: "scheduler_overhead.ts", flags: () => [] },
  {
    name: "peer",
    file: "peer_transfer.ts",
    flags: ({ total }) => total !== undefined ? ["--size", total] : [],
  },
  // Shared-memory mode: their own tmpfs (root), else /dev/shm.
  { name: "unspill-mmap", file: "unspill_mmap.ts", flags: () => [] },
  { name: "shared-transfer", file: "shared_transfer.ts", flags: () => [] },
  { name: "shared-allpairs", file: "shared_allpairs.ts", flags: () => [] },
  // Loopback TCP, no directory; its data size is --size.
  {
    name: "comm",
    file: "comm_throughput.ts",
    flags: ({ total }) => total !== undefined ? ["--size", total] : [],
  },
];

const USAGE = `usage: deno run -A bench/main.ts [options]

  --quick             small sizes (256MiB of data for each benchmark)
  --total <size>      data size for every benchmark (--total; comm: --size)
  --only <names>      comma-separated subset of: ${
  BENCHMARKS.map((b) => b.name).join(", ")
}
  --v8-flags <flags>  passed to each benchmark's deno (e.g. --trace-gc)
  --dir <path>        parent of the scratch directories (default /tmp; comm uses none)

Each benchmark also runs on its own: deno run -A bench/<file>.ts --help`;

const flags = parseFlags(USAGE, {
  quick: { type: "boolean" },
  total: { type: "string" },
  only: { type: "string" },
  "v8-flags": { type: "string" },
});

const only = flags.only?.split(",").map((s) => s.trim()).filter(Boolean);
for (const name of only ?? []) {
  if (!BENCHMARKS.some((b) => b.name === name)) {
    console.error(`unknown benchmark "${name}"\n\n${USAGE}`);
    Deno.exit(2);
  }
}
const shared: Shared = {
  total: flags.total ?? (flags.quick ? "256MiB" : undefined),
  dir: flags.dir,
};
const denoFlags = ["run", "-A"];
if (flags["v8-flags"] !== undefined) {
  denoFlags.push(`--v8-flags=${flags["v8-flags"]}`);
}

const summary: string[] = [];
let failedToRun = 0;
const started = performance.now();
for (const bench of BENCHMARKS) {
  if (only !== undefined && !only.includes(bench.name)) continue;
  const file = fileURLToPath(new URL(bench.file, import.meta.url));
  const benchStart = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...denoFlags, file, ...bench.flags(shared)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Tee the child's output, keeping the lines that carry verdicts.
  const missed: string[] = [];
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("!!! MISSED TARGET")) {
        missed.push(line.slice(4));
      }
    }
  }
  const status = await child.status;
  const seconds = ((performance.now() - benchStart) / 1000).toFixed(0);
  if (!status.success) {
    failedToRun++;
    summary.push(
      `${bench.file}: FAILED TO RUN (exit ${status.code}) after ${seconds} s`,
    );
  } else if (missed.length > 0) {
    summary.push(`${bench.file}: ${missed.join("; ")} (${seconds} s)`);
  } else {
    summary.push(`${bench.file}: targets met (${seconds} s)`);
  }
}

console.log(
  `\n== summary (${((performance.now() - started) / 1000).toFixed(0)} s) ==\n`,
);
for (const line of summary) console.log(`  ${line}`);
console.log(
  failedToRun > 0
    ? `\n${failedToRun} benchmark(s) failed to run; exit status 1`
    : "\nexit status 0 (benchmarks report, they do not gate)",
);
Deno.exit(failedToRun > 0 ? 1 : 0);

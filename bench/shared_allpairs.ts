/**
 * The demo's all-pairs workload on 4 worker processes, private mode beside
 * shared-memory mode in the same run: peak host memory in use
 * (MemTotal − MemAvailable, sampled every 100 ms, minus the figure at rest
 * with the cluster up and idle, and minus the figure before the cluster
 * starts; tmpfs pages count once), wall time, bytes
 * written to spill files and bytes sent over sockets. Target: shared mode
 * needs ≤ 1/3 of private mode's peak, in no more wall time.
 *
 * Private mode spills to the OS temp directory; shared mode to a tmpfs of
 * its own (mounted as root, else a directory in /dev/shm with `-A`), with
 * `target: 0`, as the README recommends for large arrays.
 *
 * ```sh
 * deno run -A bench/shared_allpairs.ts [--chunks 16] [--chunk 64MiB] [--workers 4] [--memory-limit 2GiB]
 * ```
 *
 * @module
 */
import { type AllPairsResult, runAllPairs } from "../src/demo/allpairs.ts";
import { countFlag, formatBytes, parseFlags, sizeFlag } from "./_common.ts";
import {
  benchTmpfs,
  type HostMemory,
  hostMemoryAtRest,
  sampleHostMemory,
} from "./_cluster.ts";
import { finish, formatRatio, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/shared_allpairs.ts [options]

  --chunks <n>           chunks (default 16)
  --chunk <size>         bytes per chunk (default 64MiB)
  --workers <n>          worker processes (default 4)
  --memory-limit <size>  per worker (default 2GiB)`;

/** What one mode's run measured. */
interface ModeFigures {
  /** Peak host memory in use during the run. */
  peak: HostMemory;
  /** Host memory in use at rest before the cluster started. */
  rest: HostMemory;
  /** Host memory in use at rest with the cluster up, before its first task. */
  idle: HostMemory;
  result: AllPairsResult;
}

const above = (a: HostMemory, b: HostMemory): HostMemory => ({
  used: a.used - b.used,
  anonShmem: a.anonShmem - b.anonShmem,
});

const total = (
  r: AllPairsResult,
  f: (w: AllPairsResult["workers"][0]) => number,
) => r.workers.reduce((n, w) => n + f(w), 0);

async function runMode(
  shared: boolean,
  options: {
    chunks: number;
    chunkBytes: number;
    workers: number;
    memoryLimit: string;
    spillDir?: string;
    allowAll: boolean;
  },
): Promise<ModeFigures> {
  const rest = await hostMemoryAtRest();
  const sampler = sampleHostMemory(100);
  let idle: HostMemory | undefined;
  try {
    const result = await runAllPairs({
      ...options,
      sharedMemory: shared,
      target: shared ? 0 : undefined,
      allowAll: shared && options.allowAll,
      print: () => {},
      log: () => {},
      ready: async () => {
        idle = await hostMemoryAtRest(60_000);
      },
    });
    return { peak: await sampler.stop(), rest, idle: idle!, result };
  } catch (error) {
    await sampler.stop();
    throw error;
  }
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    chunks: { type: "string", default: "16" },
    chunk: { type: "string", default: "64MiB" },
    workers: { type: "string", default: "4" },
    "memory-limit": { type: "string", default: "2GiB" },
  }, args);
  const options = {
    chunks: countFlag(flags.chunks, "chunks"),
    chunkBytes: sizeFlag(flags.chunk, "chunk"),
    workers: countFlag(flags.workers, "workers"),
    memoryLimit: flags["memory-limit"],
  };
  const data = options.chunks * Math.floor(options.chunkBytes / 8) * 8;
  console.log(
    `\n# all pairs on ${options.workers} workers, private vs shared memory: ` +
      `${options.chunks} × ${formatBytes(options.chunkBytes)} (${
        formatBytes(data)
      }), ${options.memoryLimit} per worker`,
  );
  const fs = await benchTmpfs(2 * data + 2 ** 29);
  let privateMode: ModeFigures;
  let sharedMode: ModeFigures;
  try {
    privateMode = await runMode(false, { ...options, allowAll: false });
    sharedMode = await runMode(true, {
      ...options,
      spillDir: fs.path,
      allowAll: !fs.mounted,
    });
  } finally {
    await fs.done();
  }
  const p = privateMode.result;
  const s = sharedMode.result;
  // Above the idle cluster: what the workload's data takes. Above the idle
  // host: that plus the cluster's own processes (the same in both modes).
  const overIdle = (m: ModeFigures) => above(m.peak, m.idle);
  const overRest = (m: ModeFigures) => above(m.peak, m.rest);
  /** A memory row: shared beside private, `over` what, in `kind`; targeted or not. */
  const memoryRow = (
    figure: string,
    over: (m: ModeFigures) => HostMemory,
    kind: keyof HostMemory,
    targeted: boolean,
  ): Row => {
    const shared = over(sharedMode)[kind];
    const baseline = over(privateMode)[kind];
    const ratio = baseline / shared;
    return {
      figure,
      value: formatBytes(shared),
      baseline: formatBytes(baseline),
      ratio: formatRatio(ratio),
      ...(targeted
        ? { target: "≤ 1/3 of private (≥ 3×)", met: ratio >= 3 }
        : {}),
    };
  };
  const timeRatio = p.wallSeconds / s.wallSeconds;
  const gcs = (r: AllPairsResult) =>
    `${total(r, (w) => w.collections.count)} taking ${
      (total(r, (w) => w.collections.seconds) * 1000).toFixed(0)
    } ms`;
  const written = (r: AllPairsResult) => total(r, (w) => w.spilledBytes);
  const sent = (r: AllPairsResult) => total(r, (w) => w.servedBytes);
  const rows: Row[] = [
    memoryRow(
      "peak host memory above the idle cluster",
      overIdle,
      "used",
      true,
    ),
    memoryRow("peak host memory above the idle host", overRest, "used", true),
    memoryRow(
      "peak AnonPages + Shmem above the idle cluster",
      overIdle,
      "anonShmem",
      false,
    ),
    {
      figure: "wall time, s",
      value: s.wallSeconds.toFixed(1),
      baseline: p.wallSeconds.toFixed(1),
      ratio: formatRatio(timeRatio),
      target: "no worse than private",
      met: timeRatio >= 1,
    },
    {
      figure: "bytes written to spill files",
      value: formatBytes(written(s)),
      baseline: formatBytes(written(p)),
    },
    {
      figure: "bytes sent over sockets",
      value: formatBytes(sent(s)),
      baseline: formatBytes(sent(p)),
    },
  ];
  const result = printTable("shared all-pairs", rows, [
    "value = shared-memory mode (tmpfs, target 0), baseline = private mode",
    "host memory = MemTotal − MemAvailable, sampled every 100 ms, minus the figure at rest (waited for until it stops falling: freed pages come back slowly on these VMs)",
    "idle cluster = at rest with the cluster up, before its first task; idle host = at rest before the cluster started",
    `idle host / idle cluster, private run: ${
      formatBytes(privateMode.rest.used)
    } / ${formatBytes(privateMode.idle.used)}; shared run: ${
      formatBytes(sharedMode.rest.used)
    } / ${formatBytes(sharedMode.idle.used)}`,
    `shared mode: ${
      formatBytes(total(s, (w) => w.linkedBytes))
    } taken by hard link; results ${
      p.correct && s.correct ? "correct in both modes" : "WRONG"
    }`,
    `collections run by hand on the workers' control threads (private / shared): ${
      gcs(p)
    } / ${gcs(s)}`,
    `tmpfs: ${fs.mounted ? "mounted for this run" : "a directory in /dev/shm"}`,
  ]);
  finish("shared_allpairs", result);
  if (!p.correct || !s.correct) Deno.exit(1);
}

if (import.meta.main) await run();

/**
 * The all-pairs workload, run on a local cluster: N chunks of doubles, a dot
 * product for every pair i ≤ j (each needs two chunks, so chunks move
 * between workers and spill when memory is short), a sum per row, and a
 * total that is checked against its closed form. `deno task start` runs it
 * as the demo; `bench/allpairs.ts` runs it at scale.
 *
 * @module
 */
import type { TaskStreamRecord, WorkerDescription } from "../protocol/mod.ts";
import { Client } from "../client/client.ts";
import type { Future } from "../client/future.ts";
import {
  LocalCluster,
  type LocalClusterOptions,
} from "../cluster/local_cluster.ts";
import { formatBytes } from "../memory/bytes.ts";
import { expectedTotal } from "./allpairs_ops.ts";
import { timeTable } from "./time_table.ts";

/**
 * Options of {@linkcode runAllPairs}: the local cluster's (as
 * {@linkcode LocalCluster.start} takes them, with `workers` and
 * `memoryLimit` required) and the run's.
 */
export interface AllPairsOptions extends
  Pick<
    LocalClusterOptions,
    | "threadsPerWorker"
    | "spillDir"
    | "sharedMemory"
    | "target"
    | "allowAll"
    | "logLevel"
    | "logFormat"
    | "authToken"
    | "tlsFiles"
  > {
  /** Number of chunks. */
  chunks: number;
  /** Bytes per chunk (a Float64Array). */
  chunkBytes: number;
  /** Worker processes. */
  workers: number;
  /** Memory limit per worker ("1GiB", bytes). */
  memoryLimit: string | number;
  /**
   * Where progress and the final table go, line by line; default stdout,
   * where progress is a bar redrawn in place on a terminal
   * (`client.progress`), plain lines otherwise.
   */
  print?: (line: string) => void;
  /** Where the cluster's log lines go; default `console.error`. */
  log?: (line: string) => void;
  /**
   * Awaited once the cluster is up and the client connected, before the
   * first task is submitted (a benchmark measures the idle cluster here).
   */
  ready?: () => Promise<void> | void;
}

/** One worker's figures at the end of a run. */
export interface AllPairsWorkerFigures {
  /** The worker's address. */
  address: string;
  /** Highest process memory seen (sampled every 250 ms). */
  peakMemory: number;
  /** Bytes written to spill files. */
  spilledBytes: number;
  /** Bytes fetched from peers. */
  fetchedBytes: number;
  /** Bytes served to peers and the client over sockets. */
  servedBytes: number;
  /** Bytes taken from same-host peers by hard link (shared mode). */
  linkedBytes: number;
  /** Frames served to peers (or read back) without a deserialization. */
  framesServedWithoutDeserialize: number;
  /** Deserializations the worker did. */
  deserializations: number;
  /** Garbage collections its control thread ran by hand, and their seconds. */
  collections: { count: number; seconds: number };
  /** Large buffers taken from the worker's pool of reused memory, and fresh ones. */
  buffers: { reused: number; fresh: number; dropped: number };
}

/** What {@linkcode runAllPairs} measured. */
export interface AllPairsResult {
  /** Seconds from submission to the total. */
  wallSeconds: number;
  /** The total computed by the cluster. */
  total: number;
  /** The closed-form total. */
  expected: number;
  /** Whether they agree (relative error below 1e-9). */
  correct: boolean;
  /** Per-worker figures. */
  workers: AllPairsWorkerFigures[];
  /** The run's tasks and the time of each of their phases. */
  taskStream: TaskStreamRecord[];
}

const OPS = new URL("./allpairs_ops.ts", import.meta.url);

/**
 * Starts a local cluster, runs the all-pairs graph, prints progress and a
 * table, and returns the figures.
 *
 * @example
 * ```ts
 * import { runAllPairs } from "./allpairs.ts";
 * const r = await runAllPairs({ chunks: 8, chunkBytes: 16 << 20, workers: 2, memoryLimit: "128MiB" });
 * console.log(r.correct);
 * ```
 */
export async function runAllPairs(
  options: AllPairsOptions,
): Promise<AllPairsResult> {
  const print = options.print ?? console.log;
  const n = options.chunks;
  const length = Math.floor(options.chunkBytes / 8);
  print(
    `All pairs: ${n} chunks of ${formatBytes(length * 8)} (${
      formatBytes(n * length * 8)
    }), ` +
      `${
        (n * (n + 1)) / 2
      } dot products, on ${options.workers} workers with a ` +
      `${
        typeof options.memoryLimit === "number"
          ? formatBytes(options.memoryLimit)
          : options.memoryLimit
      } memory limit each.`,
  );
  await using cluster = await LocalCluster.start({
    workers: options.workers,
    threadsPerWorker: options.threadsPerWorker ?? 1,
    memoryLimit: options.memoryLimit,
    spillDir: options.spillDir,
    sharedMemory: options.sharedMemory,
    target: options.target,
    allowAll: options.allowAll,
    log: options.log,
    ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
    ...(options.logFormat !== undefined
      ? { logFormat: options.logFormat }
      : {}),
    ...(options.authToken !== undefined
      ? { authToken: options.authToken }
      : {}),
    ...(options.tlsFiles !== undefined ? { tlsFiles: options.tlsFiles } : {}),
    modules: [new URL(".", OPS)],
  });
  if (cluster.dashboardUrl !== null) {
    print(`Dashboard: ${cluster.dashboardUrl} (open it while the run goes)`);
  }
  await using client = await Client.connect(cluster, {
    log: options.log,
  });
  const ops = client.module<typeof import("./allpairs_ops.ts")>(OPS);

  const peaks = new Map<string, number>();
  let latest: WorkerDescription[] = [];
  const sample = async () => {
    latest = await client.workers();
    for (const w of latest) {
      if (w.memory) {
        peaks.set(
          w.address,
          Math.max(peaks.get(w.address) ?? 0, w.memory.process),
        );
      }
    }
  };
  await options.ready?.();
  const sampler = setInterval(() => sample().catch(() => {}), 250);

  const started = performance.now();
  const since = Date.now();
  const chunks = Array.from({ length: n }, (_, i) => ops.chunk(i, length));
  const rows: Future<number>[] = [];
  const dots: Future<number>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Future<number>[] = [];
    for (let j = i; j < n; j++) row.push(ops.dot(chunks[i], chunks[j]));
    dots.push(...row);
    rows.push(ops.sum(...row));
  }
  const total = ops.sum(...rows);
  // The client holds only what it reads: the cluster frees each chunk once
  // its last dot product is done.
  for (const c of chunks) c.release();
  // A bar per function on a terminal; plain lines through `print`.
  const progress = client.progress(
    [...dots, ...rows, total],
    options.print === undefined ? {} : {
      write: (text) => print(text.replace(/\n$/, "")),
      interval: 2000,
    },
  );
  let value: number;
  try {
    value = await total.result();
  } finally {
    await progress;
  }
  const wallSeconds = (performance.now() - started) / 1000;
  // One more heartbeat so the figures include the end of the run.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  clearInterval(sampler);
  await sample();
  const taskStream = await client.taskStream({ since });
  const expected = expectedTotal(n, length);
  const correct = Math.abs(value - expected) <= 1e-9 * Math.abs(expected);
  const workers = latest.map((w): AllPairsWorkerFigures => ({
    address: w.address,
    peakMemory: peaks.get(w.address) ?? 0,
    spilledBytes: w.store?.spills.bytes ?? 0,
    fetchedBytes: w.transfers?.fetchedBytes ?? 0,
    servedBytes: w.transfers?.servedBytes ?? 0,
    linkedBytes: w.transfers?.linkedBytes ?? 0,
    framesServedWithoutDeserialize: w.store?.framesServedWithoutDeserialize ??
      0,
    deserializations: w.store?.deserializations.count ?? 0,
    collections: {
      count: w.memory?.collections ?? 0,
      seconds: w.memory?.collectionSeconds ?? 0,
    },
    buffers: {
      reused: w.memory?.buffers?.reused ?? 0,
      fresh: w.memory?.buffers?.fresh ?? 0,
      dropped: w.memory?.buffers?.dropped ?? 0,
    },
  }));
  print("");
  print(resultTable(wallSeconds, workers));
  print("");
  print(timeTable(taskStream, wallSeconds, options.threadsPerWorker ?? 1));
  print(
    `\ntotal ${value} (expected ${expected}): ${correct ? "correct" : "WRONG"}`,
  );
  return {
    wallSeconds,
    total: value,
    expected,
    correct,
    workers,
    taskStream,
  };
}

function resultTable(
  wallSeconds: number,
  workers: AllPairsWorkerFigures[],
): string {
  const rows = [
    [
      "worker",
      "peak memory",
      "spilled",
      "fetched from peers",
      "linked from peers",
      "served w/o deserializing",
      "buffers reused/fresh/dropped",
    ],
    ...workers.map((w) => [
      w.address,
      formatBytes(w.peakMemory),
      formatBytes(w.spilledBytes),
      formatBytes(w.fetchedBytes),
      formatBytes(w.linkedBytes),
      String(w.framesServedWithoutDeserialize),
      `${w.buffers.reused}/${w.buffers.fresh}/${w.buffers.dropped}`,
    ]),
    [
      "all",
      formatBytes(workers.reduce((s, w) => s + w.peakMemory, 0)),
      formatBytes(workers.reduce((s, w) => s + w.spilledBytes, 0)),
      formatBytes(workers.reduce((s, w) => s + w.fetchedBytes, 0)),
      formatBytes(workers.reduce((s, w) => s + w.linkedBytes, 0)),
      String(workers.reduce((s, w) => s + w.framesServedWithoutDeserialize, 0)),
      (["reused", "fresh", "dropped"] as const).map((k) =>
        workers.reduce((s, w) => s + w.buffers[k], 0)
      ).join("/"),
    ],
  ];
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  const line = (r: string[]) =>
    r.map((cell, c) => cell.padEnd(widths[c])).join("  ");
  return [
    `wall time ${wallSeconds.toFixed(1)} s`,
    line(rows[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
  ].join("\n");
}

/**
 * Spillway beside Dask, in one run: each workload on both, one after the
 * other (never at once: two runs on 2 cores measure nothing), each in its
 * own process tree under `/usr/bin/time` (wall, user and system CPU of the
 * whole tree, minor page faults, bytes written) and a time limit.
 *
 * - `pairs`: the all-pairs workload (32 × 64 MiB of Float64Array, a dot
 *   product per pair i ≤ j, row sums, a total) on 2 workers × 1 thread ×
 *   1 GiB, private mode beside Dask spilling to /tmp;
 * - `shared`: the same in shared-memory mode (target 0) on a tmpfs the
 *   bench mounts (root; else /dev/shm with -A), beside Dask spilling to
 *   /dev/shm (the setting of Dask's PR #7449);
 * - `pairs4`: 2 GiB on 4 workers × 512 MiB, private, on both;
 * - `overhead`: 10,000 independent no-op tasks and a chain of 1,000 on 2
 *   workers × 1 thread.
 *
 * Each figure is the median of `--runs` runs (3 by default). Dask comes
 * from Debian (`apt-get install -y python3-distributed python3-numpy`);
 * where it is missing the bench says so and runs Spillway alone. A Dask
 * run that fails or passes its time limit is a result, printed as such.
 *
 * ```sh
 * deno run -A bench/vs_dask.ts [--runs 3] [--only pairs,shared,pairs4,overhead]
 *   [--chunks 32] [--chunk 64MiB] [--timeout 900]
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { runAllPairs } from "../src/demo/allpairs.ts";
import { timeTable } from "../src/demo/time_table.ts";
import { Client } from "../src/client/client.ts";
import { LocalCluster } from "../src/cluster/local_cluster.ts";
import { benchTmpfs } from "./_cluster.ts";
import {
  countFlag,
  formatBytes,
  median,
  parseFlags,
  sizeFlag,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/vs_dask.ts [options]

  --runs <n>        runs of each workload on each side; medians are printed (default 3)
  --only <names>    comma-separated subset of: pairs, shared, pairs4, overhead
  --chunks <n>      chunks of the pairs workloads (default 32)
  --chunk <size>    bytes per chunk (default 64MiB)
  --timeout <s>     time limit of one run, seconds (default 900)
  --python <path>   the Python that has Dask (default /usr/bin/python3, Debian's)
  --child <json>    (internal) run one Spillway workload and print its figures`;

const TIME = "/usr/bin/time";
const SCRIPT = fileURLToPath(new URL("./vs_dask.py", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const OPS = new URL("../tests/cluster/fixtures/ops.ts", import.meta.url);

/** One Spillway workload, as the parent asks a child process to run it. */
interface ChildSpec {
  workload: "pairs" | "overhead";
  chunks: number;
  chunkBytes: number;
  workers: number;
  memoryLimit: string;
  sharedMemory?: boolean;
  spillDir?: string;
  target?: number;
  tasks?: number;
  chain?: number;
}

/** What a run measured; `error` when it failed. */
interface Measured {
  wall: number;
  user: number;
  sys: number;
  minorFaults: number;
  writtenBytes: number;
  correct: boolean;
  /** Workload figures (tasks/s for overhead). */
  figures: Record<string, number>;
  /** Spillway's task stream summed per phase (pairs only). */
  phases?: string;
  /** Why it failed, short (the table shows it). */
  error?: string;
  /** The failure's last line of output (the notes show it). */
  detail?: string;
}

async function child(spec: ChildSpec): Promise<void> {
  if (spec.workload === "pairs") {
    const result = await runAllPairs({
      chunks: spec.chunks,
      chunkBytes: spec.chunkBytes,
      workers: spec.workers,
      memoryLimit: spec.memoryLimit,
      sharedMemory: spec.sharedMemory,
      spillDir: spec.spillDir,
      target: spec.target,
      allowAll: spec.spillDir?.startsWith("/dev/") ?? false,
      print: () => {},
      log: () => {},
    });
    console.log(JSON.stringify({
      wall: result.wallSeconds,
      correct: result.correct,
      phases: timeTable(result.taskStream, result.wallSeconds, 1),
    }));
    return;
  }
  await using cluster = await LocalCluster.start({
    workers: spec.workers,
    memoryLimit: null,
    modules: [new URL(".", OPS)],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const m = client.module<typeof import("../tests/cluster/fixtures/ops.ts")>(
    OPS,
  );
  await m.noop().result(); // warm up: workers connected, module imported
  const tasks = spec.tasks ?? 10_000;
  const chain = spec.chain ?? 1000;
  let start = performance.now();
  const futures = Array.from({ length: tasks }, (_, i) => m.inc(i));
  const results = await client.gather(futures);
  const independent = (performance.now() - start) / 1000;
  for (const f of futures) f.release();
  start = performance.now();
  let last = m.inc(0);
  for (let i = 1; i < chain; i++) last = m.inc(last as unknown as number);
  const end = await last.result();
  const chained = (performance.now() - start) / 1000;
  console.log(JSON.stringify({
    wall: independent + chained,
    correct: results[tasks - 1] === tasks && end === chain,
    independentPerSecond: tasks / independent,
    chainPerSecond: chain / chained,
  }));
}

/**
 * Runs `command` under /usr/bin/time (when there is one) and a time
 * limit; parses the JSON line its output ends with.
 */
async function measure(
  command: string[],
  timeoutSeconds: number,
  haveTime: boolean,
): Promise<Measured> {
  const stats = await Deno.makeTempFile({ prefix: "spillway-vs-dask-" });
  // A session of its own, so that a time limit kills the whole tree
  // (Dask's nannies and workers, Spillway's processes).
  const argv = [
    "setsid",
    ...(haveTime ? [TIME, "-o", stats, "-f", "%e %U %S %R %O"] : []),
    ...command,
  ];
  const started = performance.now();
  const process = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      Deno.kill(-process.pid, "SIGKILL");
    } catch {
      process.kill("SIGKILL");
    }
  }, timeoutSeconds * 1000);
  const output = await process.output().finally(() => clearTimeout(timer));
  const elapsed = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const [wall, user, sys, faults, blocks] = haveTime
    ? (await Deno.readTextFile(stats)).trim().split("\n").at(-1)!.split(" ")
      .map(Number)
    : [elapsed, NaN, NaN, NaN, NaN];
  await Deno.remove(stats);
  const base = {
    wall,
    user,
    sys,
    minorFaults: faults,
    writtenBytes: blocks * 512,
    figures: {},
  };
  if (timedOut) {
    return {
      ...base,
      correct: false,
      error: `over the time limit (${timeoutSeconds} s)`,
    };
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(last);
  } catch {
    // The exception's class says it (KilledWorker, MemoryError, ...); its
    // last line goes to the notes.
    const lines = stderr.trim().split("\n").filter((l) =>
      /Error|Killed|error/.test(l)
    );
    const kind = /\b(\w*(?:Error|Worker|Exception))\b/.exec(
      lines.at(-1) ?? "",
    )?.[1];
    return {
      ...base,
      correct: false,
      error: `failed (exit ${output.code}${kind ? `, ${kind}` : ""})`,
      detail: (lines.at(-1) ?? "").slice(0, 300),
    };
  }
  const figures: Record<string, number> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v === "number") figures[k] = v;
  }
  return {
    ...base,
    // The workload's own timing: process start-up is not the workload.
    wall: typeof parsed.wall === "number" ? parsed.wall : wall,
    figures,
    correct: parsed.correct === true,
    phases: typeof parsed.phases === "string" ? parsed.phases : undefined,
  };
}

function medianOf(runs: Measured[], pick: (m: Measured) => number): number {
  const ok = runs.filter((r) => r.error === undefined).map(pick);
  return ok.length === 0 ? NaN : median(ok);
}

function describe(runs: Measured[], pick: (m: Measured) => number): string {
  const failed = runs.filter((r) => r.error !== undefined);
  if (failed.length === runs.length) return `FAILED: ${failed[0].error}`;
  const value = medianOf(runs, pick);
  return failed.length === 0
    ? value.toFixed(1)
    : `${value.toFixed(1)} (${failed.length} failed)`;
}

/** A ratio, or "-" where there is none (no Dask, a zero baseline). */
function finite(ratio: number): number | string {
  return Number.isFinite(ratio) ? ratio : "-";
}

/** Runs the bench with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    runs: { type: "string", default: "3" },
    only: { type: "string", default: "pairs,shared,pairs4,overhead" },
    chunks: { type: "string", default: "32" },
    chunk: { type: "string", default: "64MiB" },
    timeout: { type: "string", default: "900" },
    python: { type: "string", default: "/usr/bin/python3" },
    child: { type: "string" },
  }, args);
  if (flags.child !== undefined) {
    await child(JSON.parse(flags.child) as ChildSpec);
    return;
  }
  const runs = countFlag(flags.runs, "runs");
  const chunks = countFlag(flags.chunks, "chunks");
  const chunkBytes = sizeFlag(flags.chunk, "chunk");
  const timeout = countFlag(flags.timeout, "timeout");
  const only = new Set(flags.only.split(","));
  for (const name of only) {
    if (!["pairs", "shared", "pairs4", "overhead"].includes(name)) {
      throw new Error(`unknown workload ${name}\n${USAGE}`);
    }
  }
  const python = flags.python;
  // Spawning a missing interpreter throws at once, not in the promise.
  const haveDask = await (async () => {
    try {
      return (await new Deno.Command(python, {
        args: ["-c", "import distributed, numpy"],
        stdout: "null",
        stderr: "null",
      }).output()).success;
    } catch {
      return false;
    }
  })();
  const haveTime = (await Deno.stat(TIME).catch(() => null)) !== null;
  const total = chunks * Math.floor(chunkBytes / 8) * 8;
  console.log(
    `\n# Spillway beside Dask: median of ${runs} run(s) each, on ${Deno.hostname()} (${navigator.hardwareConcurrency} cores), ${
      new Date().toISOString()
    }`,
  );
  if (!haveDask) {
    console.log(
      `Dask is not installed for ${python}: Spillway runs alone. Install the peer with\n` +
        `  apt-get install -y python3-distributed python3-numpy   (as root)`,
    );
  }
  if (!haveTime) {
    console.log(
      "No /usr/bin/time: CPU, page faults and bytes written are not measured " +
        "(apt-get install -y time).",
    );
  }

  const spillway = (spec: ChildSpec) =>
    measure(
      [Deno.execPath(), "run", "-A", SELF, "--child", JSON.stringify(spec)],
      timeout,
      haveTime,
    );
  const dask = (workload: string, extra: string[]) =>
    measure([python, SCRIPT, workload, ...extra], timeout, haveTime);

  const rows: Row[] = [];
  const notes: string[] = [];
  const pairsArgs = (workers: number, limit: string, dir: string) => [
    "--chunks",
    String(chunks),
    "--chunk-bytes",
    String(Math.floor(chunkBytes / 8) * 8),
    "--workers",
    String(workers),
    "--memory-limit",
    limit,
    "--spill-dir",
    dir,
  ];

  const compare = async (
    label: string,
    spec: ChildSpec,
    daskArgs: string[] | null,
    target: { ratio: number; text: string } | null,
  ) => {
    const ours: Measured[] = [];
    const theirs: Measured[] = [];
    for (let i = 0; i < runs; i++) {
      ours.push(await spillway(spec));
      console.log(
        `  ${label} run ${i + 1}: Spillway ${
          ours.at(-1)!.error ?? `${ours.at(-1)!.wall.toFixed(1)} s`
        }`,
      );
      if (haveDask && daskArgs !== null) {
        theirs.push(await dask(spec.workload, daskArgs));
        console.log(
          `  ${label} run ${i + 1}: Dask ${
            theirs.at(-1)!.error ?? `${theirs.at(-1)!.wall.toFixed(1)} s`
          }`,
        );
      }
    }
    const wall = medianOf(ours, (m) => m.wall);
    const daskWall = medianOf(theirs, (m) => m.wall);
    const ratio = wall / daskWall;
    rows.push({
      figure: `${label}: wall (s)`,
      value: describe(ours, (m) => m.wall),
      baseline: theirs.length === 0 ? "-" : describe(theirs, (m) => m.wall),
      ratio: finite(ratio),
      target: target?.text ?? "-",
      met: target === null || !Number.isFinite(ratio)
        ? undefined
        : ratio <= target.ratio,
    });
    if (haveTime) {
      // CPU, faults and bytes written: every run, failed ones too (they
      // are measured all the same).
      const all = (ms: Measured[], pick: (m: Measured) => number) =>
        ms.length === 0 ? NaN : median(ms.map(pick));
      const cpu = (ms: Measured[]) =>
        ms.length === 0
          ? "-"
          : `${all(ms, (m) => m.user).toFixed(1)} user + ${
            all(ms, (m) => m.sys).toFixed(1)
          } sys`;
      const gated = target !== null && spec.workload === "pairs";
      rows.push({
        figure: `${label}: CPU (s)`,
        value: cpu(ours),
        baseline: cpu(theirs),
        ratio: finite(
          all(ours, (m) => m.user + m.sys) /
            all(theirs, (m) => m.user + m.sys),
        ),
        target: gated ? "sys ≤ user / 2" : "-",
        met: gated ? all(ours, (m) => m.sys / m.user) <= 0.5 : undefined,
      });
      rows.push({
        figure: `${label}: minor page faults (M)`,
        value: (all(ours, (m) => m.minorFaults) / 1e6).toFixed(2),
        baseline: theirs.length === 0
          ? "-"
          : (all(theirs, (m) => m.minorFaults) / 1e6).toFixed(2),
        ratio: finite(
          all(ours, (m) => m.minorFaults) / all(theirs, (m) => m.minorFaults),
        ),
      });
      rows.push({
        figure: `${label}: written to disk (block I/O)`,
        value: formatBytes(all(ours, (m) => m.writtenBytes)),
        baseline: theirs.length === 0
          ? "-"
          : formatBytes(all(theirs, (m) => m.writtenBytes)),
        ratio: finite(
          all(ours, (m) => m.writtenBytes) /
            all(theirs, (m) => m.writtenBytes),
        ),
      });
    }
    for (const m of [...ours, ...theirs]) {
      if (m.error === undefined && !m.correct) {
        notes.push(`${label}: a run gave a WRONG result`);
      }
      if (m.detail !== undefined) notes.push(`${label}: ${m.detail}`);
    }
    notes.push(
      `${label} runs (s): Spillway ${
        ours.map((m) => m.error ?? m.wall.toFixed(1)).join(", ")
      }; Dask ${
        theirs.length === 0
          ? "not run"
          : theirs.map((m) => m.error ?? m.wall.toFixed(1)).join(", ")
      }`,
    );
    const phases = ours.find((m) => m.phases !== undefined)?.phases;
    if (phases !== undefined) {
      console.log(`\n${label}, Spillway's first run:\n${phases}\n`);
    }
    return { ours, theirs };
  };

  const size = formatBytes(total);
  const pairs = (
    workers: number,
    memoryLimit: string,
    extra: Partial<ChildSpec> = {},
  ): ChildSpec => ({
    workload: "pairs",
    chunks,
    chunkBytes,
    workers,
    memoryLimit,
    ...extra,
  });
  if (only.has("pairs")) {
    await compare(
      `pairs ${size}, 2 × 1 GiB, private`,
      pairs(2, "1GiB"),
      pairsArgs(2, "1GiB", "/tmp"),
      { ratio: 0.7, text: "≤ 0.70× Dask" },
    );
  }
  if (only.has("shared")) {
    await using tmpfs = {
      fs: await benchTmpfs(4 * total),
      async [Symbol.asyncDispose]() {
        await this.fs.done();
      },
    };
    await compare(
      `pairs ${size}, 2 × 1 GiB, shared (Dask on /dev/shm)`,
      pairs(2, "1GiB", {
        sharedMemory: true,
        target: 0,
        spillDir: tmpfs.fs.path,
      }),
      pairsArgs(2, "1GiB", "/dev/shm"),
      { ratio: 0.35, text: "≤ 0.35× Dask" },
    );
  }
  if (only.has("pairs4")) {
    await compare(
      `pairs ${size}, 4 × 512 MiB, private`,
      pairs(4, "512MiB"),
      pairsArgs(4, "512MiB", "/tmp"),
      null,
    );
  }
  if (only.has("overhead")) {
    const { ours, theirs } = await compare(
      "overhead, 2 workers",
      {
        workload: "overhead",
        chunks,
        chunkBytes,
        workers: 2,
        memoryLimit: "0",
        tasks: 10_000,
        chain: 1000,
      },
      ["--tasks", "10000", "--chain", "1000", "--workers", "2"],
      null,
    );
    for (
      const [figure, key] of [
        ["independent no-op tasks/s", "independentPerSecond"],
        ["chained tasks/s", "chainPerSecond"],
      ] as const
    ) {
      const value = medianOf(ours, (m) => m.figures[key]);
      const base = medianOf(theirs, (m) => m.figures[key]);
      rows.push({
        figure: `overhead: ${figure}`,
        value: Number.isFinite(value) ? value.toFixed(0) : "FAILED",
        baseline: theirs.length === 0
          ? "-"
          : Number.isFinite(base)
          ? base.toFixed(0)
          : "FAILED",
        ratio: finite(value / base),
      });
    }
  }
  const result = printTable("Spillway beside Dask", rows, [
    ...notes,
    "ratio: Spillway / Dask (below 1: Spillway takes less); tasks/s: above 1 is faster",
    "CPU, faults and bytes written: the whole process tree, from /usr/bin/time",
  ]);
  finish("vs_dask", result);
}

if (import.meta.main) await run();

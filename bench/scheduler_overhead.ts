/**
 * Scheduler overhead: 10,000 independent no-op tasks and a chain of 1,000
 * dependent ones on a local cluster (separate scheduler and worker
 * processes), in tasks per second, beside the same calls made in-process.
 *
 * Targets on this 2-core machine with 2 workers: ≥ 5,000 independent
 * tasks/s and ≥ 1,000 chained tasks/s. The in-process figure is the floor
 * of the work itself, printed for scale (the ratio is what the cluster
 * costs per task).
 *
 * ```sh
 * deno run -A bench/scheduler_overhead.ts [--tasks 10000] [--chain 1000] [--workers 2]
 * ```
 *
 * @module
 */
import { Client } from "../src/client/client.ts";
import { LocalCluster } from "../src/cluster/local_cluster.ts";
import * as ops from "../tests/cluster/fixtures/ops.ts";
import { countFlag, median, parseFlags } from "./_common.ts";
import { finish, formatRatio, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/scheduler_overhead.ts [options]

  --tasks <n>     independent no-op tasks (default 10000)
  --chain <n>     length of the dependent chain (default 1000)
  --workers <n>   worker processes (default 2)
  --rounds <n>    rounds; the median is reported (default 3)`;

const OPS = new URL("../tests/cluster/fixtures/ops.ts", import.meta.url);

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    tasks: { type: "string", default: "10000" },
    chain: { type: "string", default: "1000" },
    workers: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
  }, args);
  const tasks = countFlag(flags.tasks, "tasks");
  const chain = countFlag(flags.chain, "chain");
  const workers = countFlag(flags.workers, "workers");
  const rounds = countFlag(flags.rounds, "rounds");
  console.log(
    `\n# scheduler overhead: ${tasks} independent tasks, a chain of ${chain}, ` +
      `${workers} worker processes, median of ${rounds} rounds`,
  );

  // In-process baseline: the same calls, no cluster.
  const inProcess = (n: number, f: () => void) => {
    const start = performance.now();
    for (let i = 0; i < n; i++) f();
    return n / ((performance.now() - start) / 1000);
  };
  const baseIndependent = inProcess(tasks, () => ops.inc(1));
  let x = 0;
  const baseChain = inProcess(chain, () => x = ops.inc(x));

  await using cluster = await LocalCluster.start({
    workers,
    memoryLimit: null,
    modules: [new URL(".", OPS)],
  });
  await using client = await Client.connect(cluster.address);
  const m = client.module<typeof ops>(OPS);
  await client.gather(Array.from({ length: workers * 4 }, (_, i) => m.inc(i))); // warm-up: imports

  const independent: number[] = [];
  const chained: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let start = performance.now();
    const futures = Array.from({ length: tasks }, (_, i) => m.inc(i));
    const results = await client.gather(futures);
    independent.push(tasks / ((performance.now() - start) / 1000));
    if (results[tasks - 1] !== tasks) throw new Error("wrong result");
    for (const f of futures) f.release();

    start = performance.now();
    let last = m.inc(0);
    const links = [last];
    for (let i = 1; i < chain; i++) {
      last = m.inc(last as unknown as number);
      links.push(last);
    }
    const end = await last.result();
    chained.push(chain / ((performance.now() - start) / 1000));
    if (end !== chain) throw new Error(`chain gave ${end}, expected ${chain}`);
    for (const f of links) f.release();
  }

  const rows: Row[] = [
    {
      figure: "independent tasks/s",
      value: median(independent).toFixed(0),
      baseline: `${baseIndependent.toExponential(2)} in-process`,
      ratio: formatRatio(median(independent) / baseIndependent),
      target: "≥ 5000 tasks/s",
      met: median(independent) >= 5000,
    },
    {
      figure: "chained tasks/s",
      value: median(chained).toFixed(0),
      baseline: `${baseChain.toExponential(2)} in-process`,
      ratio: formatRatio(median(chained) / baseChain),
      target: "≥ 1000 tasks/s",
      met: median(chained) >= 1000,
    },
  ];
  const result = printTable("scheduler overhead", rows, [
    `rounds: independent ${independent.map((v) => v.toFixed(0)).join(", ")}; ` +
    `chained ${chained.map((v) => v.toFixed(0)).join(", ")} tasks/s`,
    "timed from the first submission to the last result in the client (results fetched too)",
  ]);
  finish("scheduler_overhead", result);
}

if (import.meta.main) await run();

/**
 * Event-loop lag while the store spills and reads back `--total` bytes,
 * against the same work done with synchronous file calls.
 *
 * A 1 ms `setInterval` records the gaps between its ticks. Store: every
 * value is `set` with `await store.drain(maxPressure)` between sets
 * (backpressure, as a worker applies it), then `await store.idle()`, then
 * every key is read back with `get`. Baseline: each value written with
 * `Deno.writeFileSync`, then read back with `Deno.readFileSync`, yielding to
 * the event loop between files. The values are prepared (allocated and
 * touched) before the timer starts, so the benchmark's own allocation is not
 * measured. Two references without the store explain the read phase: the
 * same files read with async `FsFile` calls into one reused buffer, and into
 * a new buffer per value (as `get` must). `--explain` splits the longest
 * gaps into time the JS thread ran, waited for a CPU, or was blocked.
 *
 * ```sh
 * deno run -A bench/event_loop_lag.ts [--total 4GiB] [--target 512MiB] [--dir /tmp]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { SpillBuffer } from "../src/store/spill_buffer.ts";
import {
  benchDirectory,
  countFlag,
  fmt,
  type GapStats,
  isPreparedValue,
  LoopMonitor,
  MiB,
  ms,
  parseFlags,
  preparedValues,
  printHeading,
  readInto,
  sizeFlag,
  sleep,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/event_loop_lag.ts [options]

  --total <size>         bytes spilled and read back (default 4GiB)
  --value <size>         bytes per value (default 64MiB)
  --target <size>        the store's memory target (default 512MiB, capped at total/4)
  --max-pressure <size>  drain(maxPressure) between sets (default: the target)
  --distinct <n>         preallocated values reused under different keys (default 4)
  --idle <ms>            length of the idle-loop reference measurement (default 1000)
  --explain              read the JS thread's /proc schedstat at each tick and say,
                         for the longest gaps, how much of each it ran, waited for
                         a CPU, or was blocked (adds a small read per tick)
  --dir <path>           parent of the scratch directory (default /tmp)`;

const TARGET_MAX_GAP_MS = 10;

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    total: { type: "string", default: "4GiB" },
    value: { type: "string", default: "64MiB" },
    target: { type: "string" },
    "max-pressure": { type: "string" },
    distinct: { type: "string", default: "4" },
    idle: { type: "string", default: "1000" },
    explain: { type: "boolean" },
  }, args);
  const total = sizeFlag(flags.total, "total");
  const valueBytes = sizeFlag(flags.value, "value");
  const target = flags.target !== undefined
    ? sizeFlag(flags.target, "target")
    : Math.min(512 * 2 ** 20, Math.floor(total / 4));
  const maxPressure = flags["max-pressure"] !== undefined
    ? sizeFlag(flags["max-pressure"], "max-pressure")
    : target;
  const distinct = countFlag(flags.distinct, "distinct");
  const idleMs = countFlag(flags.idle, "idle");
  const count = Math.max(1, Math.floor(total / valueBytes));
  const length = Math.floor(valueBytes / 8);

  await using dir = await benchDirectory(flags.dir, "lag");
  printHeading("event_loop_lag: loop gaps while spilling", dir, [
    `${count} values × ${fmt(length * 8)} = ${fmt(count * length * 8)}, ` +
    `store target ${fmt(target)}, drain(${fmt(maxPressure)}) between sets`,
    `timer: setInterval 1 ms; gap = time between two ticks (performance.now() ms)`,
  ]);

  const values = preparedValues(Math.min(distinct, count), length * 8);

  // Reference: the loop with nothing to do.
  const idle = new LoopMonitor({ schedstat: flags.explain });
  idle.start("idle");
  await sleep(idleMs);
  idle.stop();

  // The store.
  const store = new LoopMonitor({ schedstat: flags.explain });
  let storeSetMax = 0;
  let storeWriteMs = 0;
  let storeReadMs = 0;
  {
    await using spill = new SpillBuffer({
      directory: join(dir.path, "store"),
      target,
    });
    await sleep(50);
    console.log(
      `  store phase starts at performance.now() = ${
        performance.now().toFixed(0)
      } ms`,
    );
    store.start("store write");
    let start = performance.now();
    for (let i = 0; i < count; i++) {
      const before = performance.now();
      spill.set(`value-${i}`, values[i % values.length]);
      storeSetMax = Math.max(storeSetMax, performance.now() - before);
      await spill.drain(maxPressure);
    }
    await spill.idle();
    storeWriteMs = performance.now() - start;
    store.phase("store read");
    start = performance.now();
    for (let i = 0; i < count; i++) {
      const value = await spill.get(`value-${i}`);
      if (!isPreparedValue(value, i % values.length, length)) {
        throw new Error(`value-${i} read back wrong`);
      }
    }
    await spill.idle();
    storeReadMs = performance.now() - start;
    store.stop();
    const m = spill.metrics();
    console.log(
      `  store: ${m.spills.count} spills (${fmt(m.spills.bytes)}) in ${
        (storeWriteMs / 1000).toFixed(1)
      } s, ${m.unspills.count} unspills (${fmt(m.unspills.bytes)}) in ${
        (storeReadMs / 1000).toFixed(1)
      } s; longest set() ${ms(storeSetMax)}`,
    );
  }

  await sleep(200);

  // The baseline: the same bytes with synchronous calls.
  const base = new LoopMonitor({ schedstat: flags.explain });
  const baseDir = join(dir.path, "sync");
  await Deno.mkdir(baseDir);
  const bytesOf = values.map((v) =>
    new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
  );
  base.start("sync write");
  let start = performance.now();
  for (let i = 0; i < count; i++) {
    Deno.writeFileSync(join(baseDir, `${i}`), bytesOf[i % bytesOf.length]);
    await yieldToLoop();
  }
  const baseWriteMs = performance.now() - start;
  base.phase("sync read");
  start = performance.now();
  for (let i = 0; i < count; i++) {
    const bytes = Deno.readFileSync(join(baseDir, `${i}`));
    if (bytes.length !== length * 8) throw new Error(`file ${i} is short`);
    await yieldToLoop();
  }
  const baseReadMs = performance.now() - start;
  base.stop();

  // References for the read phase, no store: the same files read with async
  // FsFile calls in 1 MiB pieces, as the disk tier reads, into a new buffer
  // per value (what get() does) and into one reused, pre-touched buffer.
  await sleep(500);
  const reference = new LoopMonitor({ schedstat: flags.explain });
  const reused = new Uint8Array(length * 8).fill(1);
  // Reused first: the new buffers' release would spill into what follows.
  reference.start("FsFile, reused buffer");
  for (let i = 0; i < count; i++) {
    await readInto(join(baseDir, `${i}`), reused, MiB);
  }
  reference.phase("FsFile, new buffer each");
  for (let i = 0; i < count; i++) {
    await readInto(join(baseDir, `${i}`), new Uint8Array(length * 8), MiB);
  }
  reference.stop();
  console.log(
    `  sync baseline: wrote in ${(baseWriteMs / 1000).toFixed(1)} s, read in ${
      (baseReadMs / 1000).toFixed(1)
    } s`,
  );

  const idleStats = idle.stats();
  const s = store.stats();
  const sw = store.stats(["store write"]);
  const sr = store.stats(["store read"]);
  const b = base.stats();
  const bw = base.stats(["sync write"]);
  const br = base.stats(["sync read"]);
  const rf = reference.stats(["FsFile, new buffer each"]);
  const rr = reference.stats(["FsFile, reused buffer"]);
  const rows: Row[] = [
    {
      figure: "max gap, spill + read back",
      value: ms(s.max),
      baseline: `${ms(b.max)} (sync)`,
      ratio: s.max / b.max,
      target: `≤ ${TARGET_MAX_GAP_MS} ms`,
      met: s.max <= TARGET_MAX_GAP_MS,
    },
    {
      figure: "p99 gap, spill + read back",
      value: ms(s.p99),
      baseline: `${ms(b.p99)} (sync)`,
      ratio: s.p99 / b.p99,
    },
    {
      figure: "  max gap, write phase",
      value: ms(sw.max),
      baseline: `${ms(bw.max)} (writeFileSync)`,
      ratio: sw.max / bw.max,
    },
    {
      figure: "  max gap, read phase",
      value: ms(sr.max),
      baseline: `${ms(br.max)} (readFileSync)`,
      ratio: sr.max / br.max,
    },
    {
      figure: "  max gap, read phase, vs async FsFile",
      value: ms(sr.max),
      baseline: `${ms(rf.max)} (new buffer each)`,
      ratio: sr.max / rf.max,
    },
    {
      figure: "  same, vs async FsFile into one buffer",
      value: ms(sr.max),
      baseline: `${ms(rr.max)} (reused buffer)`,
      ratio: sr.max / rr.max,
    },
    {
      figure: "  p99 gap, write / read phase",
      value: `${ms(sw.p99)} / ${ms(sr.p99)}`,
      baseline: `${ms(bw.p99)} / ${ms(br.p99)}`,
    },
    {
      figure: "ticks (1 ms timer)",
      value: String(s.ticks),
      baseline: String(b.ticks),
    },
    {
      figure: "wall time, write + read",
      value: `${((storeWriteMs + storeReadMs) / 1000).toFixed(1)} s`,
      baseline: `${((baseWriteMs + baseReadMs) / 1000).toFixed(1)} s`,
      ratio: (storeWriteMs + storeReadMs) / (baseWriteMs + baseReadMs),
    },
    {
      figure: "idle loop: max / p99 gap (reference)",
      value: `${ms(idleStats.max)} / ${ms(idleStats.p99)}`,
    },
  ];
  const result = printTable("event-loop lag", rows, [
    `ratio = store / sync baseline (lower is better)`,
    `the baseline yields to the loop (setTimeout 0) after each file, so each ` +
    `gap is one synchronous call`,
    `longest store gaps: ${describeTop(s)}`,
    `longest baseline gaps: ${describeTop(b)}`,
    `read references without the store (async FsFile, 1 MiB calls): new ` +
    `buffer per value p99 ${ms(rf.p99)}, longest ${describeTop(rf)}; reused ` +
    `buffer p99 ${ms(rr.p99)}, longest ${describeTop(rr)}`,
    `gap times are performance.now() ms; run with --v8-flags=--trace-gc to ` +
    `match them with GC pauses (V8 prints ms since isolate start)`,
  ]);
  finish("event_loop_lag", result);
  await Deno.remove(baseDir, { recursive: true });
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function describeTop(stats: GapStats): string {
  return stats.top.map((g) => {
    const where = `${ms(g.ms)} at ${g.at.toFixed(0)} (${g.phase}`;
    if (g.cpu === undefined || g.waited === undefined) return `${where})`;
    const other = Math.max(0, g.ms - g.cpu - g.waited);
    return `${where}: ran ${g.cpu.toFixed(1)}, waited for CPU ${
      g.waited.toFixed(1)
    }, blocked/asleep ${other.toFixed(1)})`;
  }).join(", ");
}

if (import.meta.main) await run();

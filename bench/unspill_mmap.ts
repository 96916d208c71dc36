/**
 * Unspilling one large value: mapping its file (shared-memory mode,
 * `SharedTier`) against reading it (`DiskTier`), on the same tmpfs, in the
 * same run.
 *
 * One Float64Array of `--total` bytes (default 256 MiB) is set in two
 * stores whose target is far below it, so both spill it. Each round then
 * times, per store, `await store.get(key)` (the unspill) and the same plus
 * a read of one element per 4 KiB page (what a task pays before it has
 * touched its input), with the key pinned as a worker pins a task's input;
 * then unpins and evicts it again. Rounds alternate which store goes first.
 * Figures are medians over `--rounds`.
 *
 * By default the benchmark mounts its own tmpfs (root only; elsewhere it
 * uses /dev/shm) and unmounts it at the end; `--dir` puts it under a
 * directory of your choice instead (a tmpfs, for the comparison to mean
 * anything).
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/unspill_mmap.ts [--total 256MiB] [--rounds 5] [--dir /mnt/spillway]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { SpillBuffer } from "../src/store/spill_buffer.ts";
import { SharedTier } from "../src/store/shared_tier.ts";
import { mountTmpfs, type TmpfsMount } from "../tests/_support/mount.ts";
import {
  benchDirectory,
  countFlag,
  fmt,
  isPreparedValue,
  median,
  mibPerSecond,
  ms,
  parseFlags,
  preparedValues,
  printHeading,
  sizeFlag,
  sleep,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/unspill_mmap.ts [options]

  --total <size>     bytes of the one Float64Array value (default 256MiB)
  --rounds <n>       unspills per store (default 5)
  --dir <path>       parent of the scratch directory, ideally on a tmpfs
                     (default: a tmpfs mounted for the run when root, else /dev/shm)`;

/** mmap+touch must beat read+touch by this factor (docs/platform.md#mapped-files: 39 ms vs 141–285 ms). */
const TARGET_SPEEDUP = 2;

interface Timing {
  get: number[];
  touched: number[];
  managedAfterGet: number;
}

/** The sum of one element per 4 KiB page: faults every page in. */
function touchPages(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i += 512) sum += values[i];
  return sum;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    total: { type: "string", default: "256MiB" },
    rounds: { type: "string", default: "5" },
  }, args);
  const bytes = sizeFlag(flags.total, "total");
  const rounds = countFlag(flags.rounds, "rounds");
  const length = Math.floor(bytes / 8);

  // Two files of the value (one per store), plus slack.
  let mount: TmpfsMount | undefined;
  if (flags.dir === undefined && Deno.uid() === 0) {
    mount = await mountTmpfs(2 * length * 8 + (64 << 20));
  }
  try {
    await using dir = await benchDirectory(
      flags.dir ?? mount?.path ?? "/dev/shm",
      "unspill-mmap",
    );
    printHeading("unspill_mmap: mapping a spilled value vs reading it", dir, [
      `one Float64Array of ${fmt(length * 8)}; ${rounds} unspills per store; ` +
      `target 1 MiB, so each get maps or reads the whole file`,
      mount !== undefined
        ? `tmpfs mounted for this run at ${mount.path}`
        : `scratch directory given by --dir or /dev/shm`,
      gc === undefined
        ? "no --v8-flags=--expose-gc: buffers of earlier rounds are left to V8"
        : "gc() between rounds",
    ]);

    const [value] = preparedValues(1, length * 8);
    const target = 1 << 20;
    await using mapped = new SpillBuffer({
      spillTier: new SharedTier({ directory: join(dir.path, "mapped") }),
      target,
    });
    await using read = new SpillBuffer({
      directory: join(dir.path, "read"),
      target,
    });
    mapped.set("v", value);
    read.set("v", value);
    await Promise.all([mapped.idle(), read.idle()]);
    for (const store of [mapped, read]) {
      if (store.state("v") !== "spilled") {
        throw new Error(`the value was not spilled (${store.state("v")})`);
      }
    }

    const subjects = [
      { name: "mmap", store: mapped },
      { name: "read", store: read },
    ];
    const timings = new Map<string, Timing>(
      subjects.map((
        s,
      ) => [s.name, { get: [], touched: [], managedAfterGet: 0 }]),
    );
    let checksum = 0;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < subjects.length; i++) {
        const { name, store } = subjects[(round + i) % subjects.length];
        const timing = timings.get(name)!;
        // Untimed: let the previous round's buffer be freed and its mapping
        // unmapped (finalizers, V8's array-buffer sweeper), or that work
        // lands in this round's timing.
        gc?.();
        await sleep(50);
        store.pin("v"); // a task's input: kept in memory while it runs
        const start = performance.now();
        let back: unknown = await store.get("v");
        const got = performance.now();
        if (!isPreparedValue(back, 0, length)) {
          throw new Error(`${name}: the value read back is wrong`);
        }
        checksum += touchPages(back as Float64Array);
        const touched = performance.now();
        timing.get.push(got - start);
        timing.touched.push(touched - start);
        timing.managedAfterGet = store.managedBytes;
        back = undefined;
        store.unpin("v");
        await store.evict(store.managedBytes);
        if (store.state("v") !== "spilled") {
          throw new Error(`${name}: evicting did not drop the value`);
        }
      }
    }
    if (checksum !== rounds * subjects.length * Math.ceil(length / 512)) {
      throw new Error("checksum mismatch");
    }

    const m = timings.get("mmap")!;
    const r = timings.get("read")!;
    const touchedSpeedup = median(r.touched) / median(m.touched);
    const rows: Row[] = [
      {
        figure: "unspill: get (ms)",
        value: ms(median(m.get)),
        baseline: ms(median(r.get)),
        ratio: median(r.get) / median(m.get),
      },
      {
        figure: "unspill + touch every page (ms)",
        value: ms(median(m.touched)),
        baseline: ms(median(r.touched)),
        ratio: touchedSpeedup,
        target: `ratio ≥ ${TARGET_SPEEDUP.toFixed(1)}×`,
        met: touchedSpeedup >= TARGET_SPEEDUP,
      },
      {
        figure: "unspill + touch (MiB/s)",
        value: mibPerSecond(length * 8, median(m.touched)).toFixed(0),
        baseline: mibPerSecond(length * 8, median(r.touched)).toFixed(0),
        ratio: touchedSpeedup,
      },
      {
        figure: "managed bytes, key pinned after get",
        value: fmt(m.managedAfterGet),
        baseline: fmt(r.managedAfterGet),
      },
      {
        figure: "spill writes (mmap / read store)",
        value: `${mapped.metrics().spills.count}`,
        baseline: `${read.metrics().spills.count}`,
      },
    ];
    const result = printTable("unspill: mmap vs read", rows, [
      `value = SharedTier (mmap, MAP_PRIVATE); baseline = DiskTier (FsFile.read ` +
      `in 1 MiB calls into a fresh buffer), same tmpfs, same run; ratio = ` +
      `baseline / value (higher is better)`,
      `medians of ${rounds} rounds, store order alternated each round; a fresh ` +
      `${
        fmt(length * 8)
      } buffer is slow to touch on these VMs (docs/platform.md#first-touch-of-memory), which ` +
      `is part of what reading costs`,
      `no MAP_POPULATE: on a private writable mapping it copies every page ` +
      `(see src/store/mapping.ts)`,
    ]);
    finish("unspill_mmap", result);
  } finally {
    await mount?.[Symbol.asyncDispose]();
  }
}

if (import.meta.main) await run();

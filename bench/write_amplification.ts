/**
 * Write amplification: bytes the store writes to disk for a working set
 * larger than its target that is read over and over.
 *
 * `--total` bytes of values (default 64 × 16 MiB) go into a store whose
 * target is a quarter of that; then every key is read round-robin
 * `--passes` times with `get`, each read followed by `await store.drain()`
 * (a worker letting the store settle). Round-robin over more keys than fit
 * makes every read an unspill. The figure is `metrics().spills.bytes`
 * divided by the data's size on disk (each key's file once).
 *
 * Baseline, computed from the same run: a store that deletes a key's file
 * when it reads the key back (Dask's zict `Buffer`/`File`) writes each key
 * when first evicted and again each time a key it read back is evicted:
 * first writes + unspills − keys read back still in memory at the end.
 *
 * ```sh
 * deno run -A bench/write_amplification.ts [--total 1GiB] [--value 16MiB] [--dir /tmp]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { SpillBuffer } from "../src/store/spill_buffer.ts";
import { framesByteLength } from "../src/serialize/frames.ts";
import { serialize } from "../src/serialize/serialize.ts";
import {
  benchDirectory,
  countFlag,
  fmt,
  isPreparedValue,
  parseFlags,
  preparedValues,
  printHeading,
  sizeFlag,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/write_amplification.ts [options]

  --total <size>     bytes in the working set (default 1GiB: 64 keys × 16MiB)
  --value <size>     bytes per value (default 16MiB)
  --target <size>    the store's memory target (default total/4)
  --passes <n>       round-robin passes of get over every key (default 3)
  --distinct <n>     preallocated values reused under different keys (default 4)
  --dir <path>       parent of the scratch directory (default /tmp)`;

const TARGET_AMPLIFICATION = 1.0;

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    total: { type: "string", default: "1GiB" },
    value: { type: "string", default: "16MiB" },
    target: { type: "string" },
    passes: { type: "string", default: "3" },
    distinct: { type: "string", default: "4" },
  }, args);
  const total = sizeFlag(flags.total, "total");
  const valueBytes = sizeFlag(flags.value, "value");
  const count = Math.max(1, Math.floor(total / valueBytes));
  const length = Math.floor(valueBytes / 8);
  const target = flags.target !== undefined
    ? sizeFlag(flags.target, "target")
    : Math.floor(count * length * 8 / 4);
  const passes = countFlag(flags.passes, "passes");
  const distinct = countFlag(flags.distinct, "distinct");
  const keys = Array.from({ length: count }, (_, i) => `value-${i}`);

  await using dir = await benchDirectory(flags.dir, "write-amp");
  printHeading("write_amplification: re-reading a working set", dir, [
    `${count} keys × ${fmt(length * 8)} = ${fmt(count * length * 8)}, ` +
    `store target ${fmt(target)} (${
      (count * length * 8 / Math.max(1, target)).toFixed(1)
    }× smaller), ${passes} round-robin passes of get + drain()`,
  ]);

  const values = preparedValues(Math.min(distinct, count), length * 8);
  // The data's size on disk: each key's file once (the frame layout adds a
  // small prelude to each value).
  const dataBytes = count * framesByteLength(serialize(values[0]));

  await using store = new SpillBuffer({
    directory: join(dir.path, "store"),
    target,
  });
  for (let i = 0; i < count; i++) {
    store.set(keys[i], values[i % values.length]);
    await store.drain();
  }
  await store.idle();
  const afterSet = store.metrics();
  const start = performance.now();
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < count; i++) {
      const value = await store.get(keys[i]);
      if (!isPreparedValue(value, i % values.length, length)) {
        throw new Error(`${keys[i]} read back wrong`);
      }
      await store.drain();
    }
  }
  await store.idle();
  const seconds = (performance.now() - start) / 1000;
  const m = store.metrics();

  // Keys in memory now were read back during the last pass and not evicted
  // since: a delete-on-unspill store would not have rewritten them yet.
  let inMemory = 0;
  for (const key of keys) {
    const state = store.state(key);
    if (state === "live" || state === "serialized") inMemory++;
  }
  const fileBytes = dataBytes / count;
  const daskWrites = m.spills.count + m.unspills.count -
    Math.min(inMemory, m.unspills.count);
  const daskBytes = daskWrites * fileBytes;
  const amplification = m.spills.bytes / dataBytes;
  const daskAmplification = daskBytes / dataBytes;
  const reads = passes * count;

  const rows: Row[] = [
    {
      figure: "bytes written / data",
      value: `${amplification.toFixed(3)}`,
      baseline: `${daskAmplification.toFixed(3)} (delete on unspill)`,
      ratio: amplification / daskAmplification,
      target: `≤ ${TARGET_AMPLIFICATION.toFixed(1)}`,
      met: amplification <= TARGET_AMPLIFICATION + 1e-9,
    },
    {
      figure: "bytes written",
      value: `${fmt(m.spills.bytes)} in ${m.spills.count} files`,
      baseline: `${fmt(daskBytes)} in ${daskWrites} files`,
      ratio: m.spills.bytes / daskBytes,
    },
    {
      figure: "  of which while setting",
      value: `${fmt(afterSet.spills.bytes)} in ${afterSet.spills.count}`,
    },
    {
      figure: "reads that unspilled",
      value: `${m.unspills.count} of ${reads} (${fmt(m.unspills.bytes)})`,
    },
    {
      figure: "data (each key's file once)",
      value: fmt(dataBytes),
    },
    {
      figure: "keys in memory at the end",
      value: `${inMemory} (${fmt(m.managed)})`,
    },
    {
      figure: "read passes, wall time",
      value: `${seconds.toFixed(1)} s`,
    },
  ];
  const result = printTable("write amplification", rows, [
    `ratio = store / baseline (lower is better)`,
    `baseline = what a store that deletes the file on unspill (Dask) writes in ` +
    `this same run: every first eviction (${m.spills.count}) + every unspill ` +
    `(${m.unspills.count}), less the ${
      Math.min(inMemory, m.unspills.count)
    } keys read back and still in memory at the end; the simple ` +
    `(1 + unspills/keys) × data gives ${
      (1 + m.unspills.count / count).toFixed(3)
    }`,
    `each get is followed by await store.drain() (pressure 0), as a worker ` +
    `settles the store after a task`,
  ]);
  finish("write_amplification", result);
}

if (import.meta.main) await run();

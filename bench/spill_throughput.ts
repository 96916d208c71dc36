/**
 * Spill write and read throughput of `SpillBuffer` against `Deno.FsFile`
 * writing and reading the same bytes in the same directory.
 *
 * Store write: every value is set into a store whose target is below one
 * value, so each goes to disk; timed from the first `set` to
 * `await store.idle()`, bytes = `metrics().spills.bytes`. Store read: `get`
 * of every key (read back and deserialized). Baseline: the same encoded bytes
 * written one file at a time with `FsFile.write` in `--chunk` pieces, then
 * read into one preallocated, pre-touched buffer. A reference pass, for
 * explanation only, writes like the store (2 files in flight) and reads
 * like `get` (a new buffer per value). Each of `--rounds` rounds runs the
 * three passes, in rotated order; the table shows medians, and ratios are
 * the median of the per-round ratios.
 *
 * ```sh
 * deno run -A bench/spill_throughput.ts [--total 2GiB] [--value 64MiB] [--dir /tmp]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { SpillBuffer } from "../src/store/spill_buffer.ts";
import { encodeFrames, framesByteLength } from "../src/serialize/frames.ts";
import { serialize } from "../src/serialize/serialize.ts";
import {
  benchDirectory,
  countFlag,
  fmt,
  isPreparedValue,
  median,
  MiB,
  mibPerSecond,
  parseFlags,
  preparedValues,
  printHeading,
  readInto,
  sizeFlag,
  sleep,
  writeAll,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/spill_throughput.ts [options]

  --total <size>     bytes written and read per pass (default 2GiB)
  --value <size>     bytes per value (default 64MiB)
  --distinct <n>     preallocated values reused under different keys (default 4)
  --rounds <n>       rounds of store, FsFile and reference passes; medians are reported (default 5)
  --target <size>    the store's memory target, below one value (default 0)
  --chunk <size>     the baseline's FsFile write/read size (default 1MiB, as the store)
  --warmup <n>       untimed FsFile passes first, to warm the page cache (default 1)
  --dir <path>       parent of the scratch directory (default /tmp)`;

const TARGET_RATIO = 0.8;
/** SpillBuffer's default maxConcurrentWrites. */
const STORE_WRITES = 2;

interface Pass {
  bytes: number;
  ms: number;
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    total: { type: "string", default: "2GiB" },
    value: { type: "string", default: "64MiB" },
    distinct: { type: "string", default: "4" },
    rounds: { type: "string", default: "5" },
    target: { type: "string", default: "0" },
    chunk: { type: "string", default: "1MiB" },
    warmup: { type: "string", default: "1" },
  }, args);
  const total = sizeFlag(flags.total, "total");
  const valueBytes = sizeFlag(flags.value, "value");
  const distinct = countFlag(flags.distinct, "distinct");
  const rounds = countFlag(flags.rounds, "rounds");
  const target = sizeFlag(flags.target, "target");
  const chunk = sizeFlag(flags.chunk, "chunk");
  const warmup = countFlag(flags.warmup, "warmup", 0);
  const count = Math.max(1, Math.floor(total / valueBytes));
  const length = Math.floor(valueBytes / 8);

  await using dir = await benchDirectory(flags.dir, "throughput");
  printHeading("spill_throughput: spill write and read vs FsFile", dir, [
    `${count} values × ${fmt(length * 8)} = ${
      fmt(count * length * 8)
    } per pass, ` +
    `${distinct} distinct pre-touched Float64Arrays reused under ${count} keys`,
    `store target ${fmt(target)}, ${rounds} rounds, baseline I/O in ${
      fmt(chunk)
    } pieces`,
  ]);

  // Everything allocated and touched before any timer
  // (docs/platform.md#first-touch-of-memory).
  const values = preparedValues(Math.min(distinct, count), length * 8);
  const encoded = values.map((v) => encodeFrames(serialize(v)));
  const fileBytes = framesByteLength(serialize(values[0]));
  const readBuffer = new Uint8Array(fileBytes).fill(1);

  const storeWrite: Pass[] = [];
  const storeRead: Pass[] = [];
  const baseWrite: Pass[] = [];
  const baseRead: Pass[] = [];
  const freshRead: Pass[] = [];
  const pairWrite: Pass[] = [];

  const storePass = async (round: number) => {
    const store = new SpillBuffer({
      directory: join(dir.path, `store-${round}`),
      target,
    });
    try {
      let start = performance.now();
      for (let i = 0; i < count; i++) {
        store.set(`value-${i}`, values[i % values.length]);
      }
      await store.idle();
      storeWrite.push({
        bytes: store.metrics().spills.bytes,
        ms: performance.now() - start,
      });
      const m = store.metrics();
      if (m.spilled.count !== count) {
        throw new Error(
          `only ${m.spilled.count} of ${count} values were spilled`,
        );
      }
      start = performance.now();
      for (let i = 0; i < count; i++) {
        const value = await store.get(`value-${i}`);
        if (!isPreparedValue(value, i % values.length, length)) {
          throw new Error(`value-${i} read back wrong`);
        }
      }
      storeRead.push({
        bytes: store.metrics().unspills.bytes,
        ms: performance.now() - start,
      });
      await store.idle();
    } finally {
      await store.close();
    }
  };

  const writeFiles = async (paths: string[], inFlight: number) => {
    let next = 0;
    let bytes = 0;
    const start = performance.now();
    const writer = async () => {
      for (let i = next++; i < count; i = next++) {
        using file = await Deno.open(paths[i], {
          write: true,
          createNew: true,
        });
        for (const piece of encoded[i % encoded.length]) {
          // Not `bytes += await ...`: that reads `bytes` before the await,
          // and the other writers' additions in between would be lost.
          const written = await writeAll(file, piece, chunk);
          bytes += written;
        }
      }
    };
    await Promise.all(Array.from({ length: inFlight }, writer));
    return { bytes, ms: performance.now() - start };
  };
  const readFiles = async (paths: string[], into: () => Uint8Array) => {
    let bytes = 0;
    const start = performance.now();
    for (const path of paths) {
      const read = await readInto(path, into(), chunk);
      bytes += read;
    }
    return { bytes, ms: performance.now() - start };
  };
  /** An FsFile pass shaped like the store's: write every file, read every file, remove them. */
  const fsFilePass = async (
    name: string,
    inFlight: number,
    into: () => Uint8Array,
  ): Promise<[Pass, Pass]> => {
    const base = join(dir.path, name);
    await Deno.mkdir(base);
    const paths = Array.from({ length: count }, (_, i) => join(base, `${i}`));
    try {
      return [await writeFiles(paths, inFlight), await readFiles(paths, into)];
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  };
  // The baseline: one file at a time, read into one reused, pre-touched buffer.
  const baselinePass = async (round: number) => {
    const [w, r] = await fsFilePass(`fsfile-${round}`, 1, () => readBuffer);
    baseWrite.push(w);
    baseRead.push(r);
  };
  // Not a target, an explanation: FsFile as the store uses it, with
  // STORE_WRITES files in flight and a new buffer per read (what get() pays
  // for: first touch of fresh memory, docs/platform.md#first-touch-of-memory).
  const referencePass = async (round: number) => {
    const [w, r] = await fsFilePass(
      `reference-${round}`,
      STORE_WRITES,
      () => new Uint8Array(fileBytes),
    );
    pairWrite.push(w);
    freshRead.push(r);
  };

  // Warm-up, untimed: the kernel's page cache takes fresh pages too, and the
  // first pass of a process wrote at a fraction of later passes' speed here
  // (about 300 MiB/s instead of 3 GiB/s after the first ~512 MiB), whichever
  // went first. One FsFile pass makes the first timed round like the others.
  for (let i = 0; i < warmup; i++) {
    await fsFilePass(`warmup-${i}`, 1, () => readBuffer);
  }

  const passes = [
    { name: "store", run: storePass },
    { name: "FsFile", run: baselinePass },
    { name: "reference", run: referencePass },
  ];
  for (let round = 0; round < rounds; round++) {
    // Rotate the order, so that no pass always inherits another's dirty
    // pages (writeback), freed page cache or freed memory.
    const order = passes.map((_, k) => passes[(k + round) % passes.length]);
    for (const pass of order) {
      await pass.run(round);
      await sleep(100);
    }
    const last = (p: Pass[]) =>
      mibPerSecond(p[p.length - 1].bytes, p[p.length - 1].ms);
    const f = (x: number) => x.toFixed(0);
    console.log(
      `  round ${round + 1} (${order.map((p) => p.name).join(", ")}): ` +
        `store write ${f(last(storeWrite))} MiB/s, read ${
          f(last(storeRead))
        } | FsFile write ${f(last(baseWrite))}, read ${
          f(last(baseRead))
        } | reference write ${f(last(pairWrite))}, read ${
          f(last(freshRead))
        } | ratios write ${
          (last(storeWrite) / last(baseWrite)).toFixed(2)
        }, read ${(last(storeRead) / last(baseRead)).toFixed(2)}`,
    );
  }

  const speeds = (p: Pass[]) => p.map((x) => mibPerSecond(x.bytes, x.ms));
  const rate = (p: Pass[]) => median(speeds(p));
  // Paired: conditions (page cache, writeback) drift between rounds more
  // than between the two halves of one round.
  const pairedRatio = (a: Pass[], b: Pass[]) => {
    const sb = speeds(b);
    return median(speeds(a).map((x, i) => x / sb[i]));
  };
  const writeRatio = pairedRatio(storeWrite, baseWrite);
  const readRatio = pairedRatio(storeRead, baseRead);
  const sw = rate(storeWrite), sr = rate(storeRead);
  const bw = rate(baseWrite), br = rate(baseRead);
  const fr = rate(freshRead);
  const pw = rate(pairWrite);
  const rows: Row[] = [
    {
      figure: "spill write (set → idle), MiB/s",
      value: sw.toFixed(0),
      baseline: `${bw.toFixed(0)} (FsFile write)`,
      ratio: writeRatio,
      target: `ratio ≥ ${TARGET_RATIO}`,
      met: writeRatio >= TARGET_RATIO,
    },
    {
      figure: `  same, vs FsFile with ${STORE_WRITES} files in flight`,
      value: sw.toFixed(0),
      baseline: `${pw.toFixed(0)} (reference)`,
      ratio: pairedRatio(storeWrite, pairWrite),
    },
    {
      figure: "unspill read (get), MiB/s",
      value: sr.toFixed(0),
      baseline: `${br.toFixed(0)} (FsFile read)`,
      ratio: readRatio,
      target: `ratio ≥ ${TARGET_RATIO}`,
      met: readRatio >= TARGET_RATIO,
    },
    {
      figure: "  same, vs FsFile into a new buffer each",
      value: sr.toFixed(0),
      baseline: `${fr.toFixed(0)} (reference)`,
      ratio: pairedRatio(storeRead, freshRead),
    },
    {
      figure: "bytes written per pass",
      value: fmt(storeWrite[0].bytes),
      baseline: fmt(baseWrite[0].bytes),
      ratio: storeWrite[0].bytes / baseWrite[0].bytes,
    },
  ];
  const result = printTable("spill throughput (median of rounds)", rows, [
    `after ${warmup} untimed FsFile warm-up pass(es), each round runs a ` +
    `store, an FsFile and a reference pass, in rotated order; figures are ` +
    `medians of ${rounds} rounds, ratios the median of the per-round ratios ` +
    `(a pass varies up to 3× from round to round here)`,
    `store: ${count} set() then await idle(); ${fmt(MiB)} per FsFile write, ` +
    `${STORE_WRITES} files in flight (maxConcurrentWrites default), a ` +
    `rename per file. The FsFile baseline writes one file at a time; the ` +
    `reference writes ${STORE_WRITES} at a time, like the store`,
    `store read: get() reads each value into a new buffer (the value keeps ` +
    `it) and deserializes in place; the FsFile baseline reads into one ` +
    `reused, pre-touched buffer, the reference into a new buffer per value ` +
    `like get(). The gap between the two is first touch of fresh memory ` +
    `(docs/platform.md#first-touch-of-memory), which get() cannot avoid as it stands`,
    `reads may be served from the page cache, equally for both: files were ` +
    `just written and the cache is not dropped`,
    `absolute MiB/s vary 2–7× between runs on these VMs; the ratio is the figure`,
  ]);
  finish("spill_throughput", result);
}

if (import.meta.main) await run();

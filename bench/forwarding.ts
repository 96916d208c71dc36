/**
 * Forwarding spilled keys to a peer with `getFrames`: no deserialization,
 * and the frames are views of the one buffer read from disk.
 *
 * `--total` bytes of values are set and then evicted to disk. Each key is
 * then read with `getFrames`, as a worker forwarding it to a peer: the
 * figures are the store's deserializations (must be 0),
 * `framesServedWithoutDeserialize`, the bytes read from disk, and the bytes
 * copied beyond that read (a returned buffer that is not a view of the same
 * ArrayBuffer as the header counts as copied). Baseline: the same keys, all
 * evicted again, read with `get`, which deserializes each.
 *
 * ```sh
 * deno run -A bench/forwarding.ts [--total 1GiB] [--value 64MiB] [--dir /tmp]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { SpillBuffer } from "../src/store/spill_buffer.ts";
import type { StoreMetrics } from "../src/protocol/store_metrics.ts";
import type { Frames } from "../src/serialize/frames.ts";
import {
  benchDirectory,
  countFlag,
  fmt,
  isPreparedValue,
  mibPerSecond,
  parseFlags,
  preparedValues,
  printHeading,
  sizeFlag,
} from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/forwarding.ts [options]

  --total <size>     bytes of spilled keys forwarded (default 1GiB)
  --value <size>     bytes per value (default 64MiB)
  --target <size>    the store's memory target (default 256MiB, capped at total/4)
  --distinct <n>     preallocated values reused under different keys (default 4)
  --dir <path>       parent of the scratch directory (default /tmp)`;

interface Phase {
  ms: number;
  before: StoreMetrics;
  after: StoreMetrics;
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    total: { type: "string", default: "1GiB" },
    value: { type: "string", default: "64MiB" },
    target: { type: "string" },
    distinct: { type: "string", default: "4" },
  }, args);
  const total = sizeFlag(flags.total, "total");
  const valueBytes = sizeFlag(flags.value, "value");
  const target = flags.target !== undefined
    ? sizeFlag(flags.target, "target")
    : Math.min(256 * 2 ** 20, Math.floor(total / 4));
  const distinct = countFlag(flags.distinct, "distinct");
  const count = Math.max(1, Math.floor(total / valueBytes));
  const length = Math.floor(valueBytes / 8);
  const keys = Array.from({ length: count }, (_, i) => `value-${i}`);

  await using dir = await benchDirectory(flags.dir, "forwarding");
  printHeading("forwarding: getFrames of spilled keys", dir, [
    `${count} keys × ${fmt(length * 8)} = ${fmt(count * length * 8)}, ` +
    `store target ${fmt(target)}; every key evicted to disk before each phase`,
  ]);

  const values = preparedValues(Math.min(distinct, count), length * 8);
  await using store = new SpillBuffer({
    directory: join(dir.path, "store"),
    target,
  });
  for (let i = 0; i < count; i++) {
    store.set(keys[i], values[i % values.length]);
    await store.drain(target);
  }
  await evictAll(store, count);

  // Forwarding: the frames as a peer would be sent them.
  let copiedBytes = 0;
  let copiedBuffers = 0;
  let buffersSeen = 0;
  let framesBytes = 0;
  let readBuffersBytes = 0;
  let wrongContents = 0;
  const forward = await phase(store, async () => {
    for (let i = 0; i < count; i++) {
      const frames = await store.getFrames(keys[i]);
      const home = frames.header.buffer;
      readBuffersBytes += home.byteLength;
      for (const buffer of frames.buffers) {
        buffersSeen++;
        framesBytes += buffer.byteLength;
        if (buffer.buffer !== home) {
          copiedBuffers++;
          copiedBytes += buffer.byteLength;
        }
      }
      if (!framesHoldValue(frames, i % values.length, length)) wrongContents++;
    }
  });
  if (wrongContents > 0) {
    throw new Error(`${wrongContents} forwarded keys had wrong contents`);
  }

  // Baseline: the same keys, back on disk only, read for compute.
  await evictAll(store, count);
  const compute = await phase(store, async () => {
    for (let i = 0; i < count; i++) {
      const value = await store.get(keys[i]);
      if (!isPreparedValue(value, i % values.length, length)) {
        throw new Error(`${keys[i]} read back wrong`);
      }
    }
  });

  const f = delta(forward), c = delta(compute);
  const rows: Row[] = [
    {
      figure: "deserializations",
      value: String(f.deserializations),
      baseline: `${c.deserializations} (get)`,
      ratio: `${c.deserializations - f.deserializations} avoided`,
      target: "= 0",
      met: f.deserializations === 0,
    },
    {
      figure: "framesServedWithoutDeserialize",
      value: String(f.served),
      baseline: `${c.served} (get)`,
      target: `= ${count} (every key)`,
      met: f.served === count,
    },
    {
      figure: "bytes read from disk (unspills)",
      value: `${fmt(f.unspillBytes)} in ${f.unspills}`,
      baseline: `${fmt(c.unspillBytes)} in ${c.unspills}`,
      ratio: f.unspillBytes / c.unspillBytes,
    },
    {
      figure: "bytes copied beyond the read",
      value: `${fmt(copiedBytes)} (${copiedBuffers} of ${buffersSeen} buffers)`,
      target: "= 0",
      met: copiedBytes === 0,
    },
    {
      figure: "read buffers / frame bytes",
      value: `${fmt(readBuffersBytes)} / ${fmt(framesBytes)}`,
    },
    {
      figure: "serializations during the phase",
      value: String(f.serializations),
      baseline: `${c.serializations} (get)`,
    },
    {
      figure: "deserialize time",
      value: `${(f.deserializeSeconds * 1000).toFixed(1)} ms`,
      baseline: `${(c.deserializeSeconds * 1000).toFixed(1)} ms (get)`,
    },
    {
      figure: "throughput, MiB/s",
      value: mibPerSecond(f.unspillBytes, forward.ms).toFixed(0),
      baseline: `${mibPerSecond(c.unspillBytes, compute.ms).toFixed(0)} (get)`,
      ratio: mibPerSecond(f.unspillBytes, forward.ms) /
        mibPerSecond(c.unspillBytes, compute.ms),
    },
  ];
  const result = printTable("forwarding spilled keys", rows, [
    `forwarding = getFrames of each spilled key; baseline = get of the same ` +
    `keys after evicting them again (metrics deltas of each phase)`,
    `a frame buffer counts as copied when frames.buffers[i].buffer is not ` +
    `frames.header.buffer, i.e. not a view of the one buffer read from disk`,
    `Float64Array values have a one-entry header; deserializing them is a ` +
    `view, so get's deserialize time is small here: the figure is the count`,
  ]);
  finish("forwarding", result);
}

/** Evicts every managed byte, then checks each key is on disk only. */
async function evictAll(store: SpillBuffer, count: number): Promise<void> {
  await store.evict(store.managedBytes);
  await store.idle();
  const m = store.metrics();
  if (m.managed !== 0 || m.spilled.count !== count) {
    throw new Error(
      `expected ${count} keys on disk only, got ${m.spilled.count} on disk and ${
        fmt(m.managed)
      } in memory`,
    );
  }
}

async function phase(
  store: SpillBuffer,
  work: () => Promise<void>,
): Promise<Phase> {
  const before = store.metrics();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  await store.idle();
  return { ms, before, after: store.metrics() };
}

function delta({ before, after }: Phase) {
  return {
    deserializations: after.deserializations.count -
      before.deserializations.count,
    deserializeSeconds: after.deserializations.seconds -
      before.deserializations.seconds,
    serializations: after.serializations.count - before.serializations.count,
    served: after.framesServedWithoutDeserialize -
      before.framesServedWithoutDeserialize,
    unspills: after.unspills.count - before.unspills.count,
    unspillBytes: after.unspills.bytes - before.unspills.bytes,
  };
}

/** Whether the single buffer of `frames` holds prepared value `index`, without deserializing. */
function framesHoldValue(
  frames: Frames,
  index: number,
  length: number,
): boolean {
  if (frames.buffers.length !== 1) return false;
  const b = frames.buffers[0];
  if (b.byteLength !== length * 8 || b.byteOffset % 8 !== 0) return false;
  return isPreparedValue(
    new Float64Array(b.buffer, b.byteOffset, length),
    index,
    length,
  );
}

if (import.meta.main) await run();

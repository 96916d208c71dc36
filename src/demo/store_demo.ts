/**
 * The store demo behind `deno task start`: it writes a data set larger than
 * the store's memory budget, reads every chunk back, checks each one, and
 * prints the store's tiers and metrics, with the event loop's longest stall
 * measured meanwhile (spilling never blocks it).
 *
 * @module
 */
import { join } from "node:path";
import { formatBytes } from "../memory/bytes.ts";
import { SpillBuffer } from "../store/spill_buffer.ts";
import type { StoreMetrics } from "../protocol/store_metrics.ts";

/** Options of {@linkcode runStoreDemo}. */
export interface StoreDemoOptions {
  /** Bytes of data to store in all. */
  dataBytes: number;
  /** Bytes of each chunk (a Float64Array). */
  chunkBytes: number;
  /** The store's memory target in bytes. */
  target: number;
  /** Parent directory for the spill directory; default the system temp dir. */
  directory?: string;
  /** Where lines go; default `console.log`. */
  print?: (line: string) => void;
}

/** What the demo measured. */
export interface StoreDemoResult {
  /** The store's metrics after all chunks were read back. */
  metrics: StoreMetrics;
  /** The longest gap between 1 ms timer ticks while the demo ran, in ms. */
  maxLoopGapMs: number;
  /** Chunks that read back with the right contents. */
  verified: number;
}

/**
 * Runs the demo and returns what it measured.
 *
 * @example
 * ```ts
 * import { runStoreDemo } from "./store_demo.ts";
 * await runStoreDemo({ dataBytes: 512 << 20, chunkBytes: 16 << 20, target: 128 << 20 });
 * ```
 */
export async function runStoreDemo(
  options: StoreDemoOptions,
): Promise<StoreDemoResult> {
  const print = options.print ?? console.log;
  const chunks = Math.max(
    1,
    Math.floor(options.dataBytes / options.chunkBytes),
  );
  const length = Math.floor(options.chunkBytes / 8);
  const parent = options.directory ??
    await Deno.makeTempDir({ prefix: "spillway-demo-" });
  const ownsParent = options.directory === undefined;
  const lag = watchEventLoop();
  const started = performance.now();
  print(
    `Storing ${chunks} chunks of ${formatBytes(length * 8)} (${
      formatBytes(chunks * length * 8)
    }) ` +
      `in a store with a ${formatBytes(options.target)} memory target.`,
  );
  let verified = 0;
  let metrics: StoreMetrics;
  {
    await using store = new SpillBuffer({
      directory: join(parent, "spill"),
      target: options.target,
    });
    for (let i = 0; i < chunks; i++) {
      // Making the data is the demo's own work on the JS thread, not the
      // store's: it is left out of the stall measurement.
      const chunk = lag.excluding(() => new Float64Array(length).fill(i));
      store.set(`chunk-${i}`, chunk);
      // Backpressure, as a worker would apply it: wait while the disk lags.
      await store.drain(options.target);
    }
    await store.idle();
    print("\nAfter writing:");
    print(tierTable(store.metrics()));
    // Serve every chunk as a worker serves a peer: frames straight from the
    // spill files, never deserialized.
    let forwarded = 0;
    for (let i = 0; i < chunks; i++) {
      const frames = await store.getFrames(`chunk-${i}`);
      forwarded += frames.buffers.reduce((n, b) => n + b.byteLength, 0);
    }
    print(
      `\nServed ${formatBytes(forwarded)} to a peer with getFrames: ` +
        `${store.metrics().deserializations.count} deserializations.`,
    );
    for (let i = 0; i < chunks; i++) {
      const chunk = await store.get(`chunk-${i}`) as Float64Array;
      if (
        chunk.length === length && chunk[0] === i && chunk[length - 1] === i
      ) verified++;
    }
    await store.idle();
    metrics = store.metrics();
    print(
      "\nAfter reading every chunk back (each chunk was written to disk at most once):",
    );
    print(tierTable(metrics));
    print("");
    print(metricsTable(metrics));
  }
  const maxLoopGapMs = lag.stop();
  if (ownsParent) await Deno.remove(parent, { recursive: true });
  const seconds = (performance.now() - started) / 1000;
  print(
    `\n${verified}/${chunks} chunks read back intact in ${
      seconds.toFixed(1)
    } s; ` +
      `longest event-loop stall from the store ${
        maxLoopGapMs.toFixed(1)
      } ms; spill files removed.`,
  );
  return { metrics, maxLoopGapMs, verified };
}

function tierTable(m: StoreMetrics): string {
  const rows = [
    ["tier", "keys", "bytes"],
    ["live", String(m.live.count), formatBytes(m.live.bytes)],
    ["serialized", String(m.serialized.count), formatBytes(m.serialized.bytes)],
    [
      "spilled (on disk)",
      String(m.spilled.count),
      formatBytes(m.spilled.bytes),
    ],
  ];
  return table(rows);
}

function metricsTable(m: StoreMetrics): string {
  const rate = (bytes: number, seconds: number) =>
    seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : "-";
  const failures =
    Object.entries(m.failures).map(([k, v]) => `${k}: ${v}`).join(", ") ||
    "none";
  return table([
    ["metric", "value"],
    [
      "spills",
      `${m.spills.count} (${formatBytes(m.spills.bytes)}, ${
        rate(m.spills.bytes, m.spills.seconds)
      } per write)`,
    ],
    [
      "unspills",
      `${m.unspills.count} (${formatBytes(m.unspills.bytes)}, ${
        rate(m.unspills.bytes, m.unspills.seconds)
      } per read)`,
    ],
    [
      "serializations",
      `${m.serializations.count} (${
        (m.serializations.seconds * 1000).toFixed(1)
      } ms)`,
    ],
    [
      "deserializations",
      `${m.deserializations.count} (${
        (m.deserializations.seconds * 1000).toFixed(1)
      } ms)`,
    ],
    [
      "frames served without deserializing",
      String(m.framesServedWithoutDeserialize),
    ],
    ["failures", failures],
  ]);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r, i) => {
    const line = r.map((cell, c) => cell.padEnd(widths[c])).join("  ");
    return i === 0
      ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}`
      : line;
  }).join("\n");
}

/**
 * Measures the longest gap between ticks of a 1 ms interval until `stop()`,
 * leaving out gaps during which `excluding` ran work of the caller's own.
 */
function watchEventLoop(): { stop(): number; excluding<T>(work: () => T): T } {
  let last = performance.now();
  let max = 0;
  let excluded = false;
  const timer = setInterval(() => {
    const now = performance.now();
    if (!excluded) max = Math.max(max, now - last);
    excluded = false;
    last = now;
  }, 1);
  return {
    excluding<T>(work: () => T): T {
      excluded = true;
      return work();
    },
    stop() {
      clearInterval(timer);
      return max;
    },
  };
}

/**
 * What the benchmarks share: flags, the scratch directory and its
 * filesystem, pre-touched values, an event-loop gap recorder, statistics.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { resolve } from "node:path";
import { formatBytes, parseBytes } from "../src/memory/bytes.ts";

export { formatBytes, parseBytes };

export const MiB = 2 ** 20;

/** Flags every benchmark takes. */
const COMMON_OPTIONS = {
  dir: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsOptionsConfig;

/** The parsed values of `options`: strings (defaulted or not) and booleans. */
export type Flags<T extends ParseArgsOptionsConfig> = {
  [K in keyof T]: T[K] extends { type: "boolean" } ? boolean | undefined
    : T[K] extends { default: string } ? string
    : string | undefined;
};

/**
 * Parses `args` (default `Deno.args`) with `options` plus `--dir` and
 * `--help`. `--help` prints `usage` and exits 0; a bad flag prints the error
 * and the usage and exits 2.
 */
export function parseFlags<T extends ParseArgsOptionsConfig>(
  usage: string,
  options: T,
  args: string[] = Deno.args,
): Flags<T & typeof COMMON_OPTIONS> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args,
      options: { ...options, ...COMMON_OPTIONS },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(usage);
    Deno.exit(0);
  }
  return values as Flags<T & typeof COMMON_OPTIONS>;
}

/** A byte-size flag ("64MiB", "2e9", "0"); exits 2 with a message when malformed. */
export function sizeFlag(text: string, name: string): number {
  try {
    return parseBytes(text);
  } catch (error) {
    console.error(`--${name}: ${(error as Error).message}`);
    Deno.exit(2);
  }
}

/** A positive integer flag; exits 2 with a message when malformed. */
export function countFlag(text: string, name: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: expected an integer >= ${min}, got "${text}"`);
    Deno.exit(2);
  }
  return n;
}

/** The benchmark's scratch directory; removed when disposed. */
export interface BenchDirectory extends AsyncDisposable {
  /** Absolute path of a fresh directory the benchmark owns. */
  path: string;
  /** A line naming the directory and its filesystem. */
  description: string;
}

/**
 * A fresh directory for one benchmark: under `parent` (`--dir`, created if
 * missing) or, by default, under /tmp. Only the fresh directory is removed
 * at the end, never `parent`.
 */
export async function benchDirectory(
  parent: string | undefined,
  name: string,
): Promise<BenchDirectory> {
  const base = resolve(parent ?? "/tmp");
  await Deno.mkdir(base, { recursive: true });
  const path = await Deno.makeTempDir({
    dir: base,
    prefix: `spillway-bench-${name}-`,
  });
  const fs = describeFilesystem(path);
  return {
    path,
    description: `directory ${path} (${fs})`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** "ext4 /dev/vda mounted at /" for the mount holding `path`, from /proc/self/mounts. */
export function describeFilesystem(path: string): string {
  let real: string;
  let mounts: string;
  try {
    real = Deno.realPathSync(path);
    mounts = Deno.readTextFileSync("/proc/self/mounts");
  } catch {
    return "filesystem unknown";
  }
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  let best: { point: string; type: string; source: string } | undefined;
  for (const line of mounts.split("\n")) {
    const [source, point, type] = line.split(" ");
    if (point === undefined) continue;
    const p = unescape(point);
    const inside = p === "/" || real === p || real.startsWith(`${p}/`);
    // Later lines are mounted over earlier ones on the same point.
    if (inside && (best === undefined || p.length >= best.point.length)) {
      best = { point: p, type, source };
    }
  }
  if (best === undefined) return "filesystem unknown";
  const kind = best.type === "tmpfs" ? "tmpfs, memory" : "disk-backed";
  return `filesystem ${best.type} (${kind}) from ${best.source}, mounted at ${best.point}`;
}

/**
 * `count` Float64Arrays of `bytes` each, filled with `1, 2, ...` (every page
 * touched), so that no benchmark times first-touch of fresh memory
 * (docs/platform.md#first-touch-of-memory). Benchmarks store them under many keys.
 */
export function preparedValues(count: number, bytes: number): Float64Array[] {
  const length = Math.floor(bytes / 8);
  return Array.from({ length: count }, (_, i) => {
    const value = new Float64Array(length);
    value.fill(i + 1);
    return value;
  });
}

/** Whether `value` is the prepared value number `index` (checks its ends and middle). */
export function isPreparedValue(
  value: unknown,
  index: number,
  length: number,
): boolean {
  if (!(value instanceof Float64Array) || value.length !== length) return false;
  const seed = index + 1;
  return value[0] === seed && value[length >> 1] === seed &&
    value[length - 1] === seed;
}

/** Median of `xs` (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The value at quantile `q` of sorted `xs` (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** MiB/s for `bytes` moved in `ms` milliseconds. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One gap between two ticks of the 1 ms timer. */
export interface Gap {
  /** When the gap ended, `performance.now()` ms (compare with --trace-gc times). */
  at: number;
  /** Length of the gap, ms. */
  ms: number;
  /** The phase the benchmark was in when the gap ended. */
  phase: string;
  /** With `schedstat`: ms the JS thread ran on a CPU during the gap. */
  cpu?: number;
  /** With `schedstat`: ms the JS thread was runnable but waited for a CPU. */
  waited?: number;
}

/** Statistics of the gaps of one phase (or all). */
export interface GapStats {
  ticks: number;
  max: number;
  p99: number;
  p50: number;
  /** The longest gaps, longest first. */
  top: Gap[];
}

/** Options of a {@linkcode LoopMonitor}. */
export interface LoopMonitorOptions {
  /**
   * Also read the JS thread's /proc schedstat at each tick, to tell a gap
   * spent running (JS, GC, a copy on the JS thread) from one spent waiting
   * for a CPU (other threads busy on both cores) or blocked in the kernel.
   * Costs a small synchronous read per tick.
   */
  schedstat?: boolean;
}

/** [ns on CPU, ns waiting for a CPU] of the calling thread. */
function readSchedstat(): [number, number] | undefined {
  try {
    const [cpu, waited] = Deno.readTextFileSync("/proc/thread-self/schedstat")
      .split(" ");
    return [Number(cpu), Number(waited)];
  } catch {
    return undefined;
  }
}

/**
 * Records the gaps between ticks of a 1 ms `setInterval`: how long the JS
 * thread was kept from running timers. Each gap is tagged with the phase
 * set by {@linkcode LoopMonitor.phase}.
 */
export class LoopMonitor {
  readonly gaps: Gap[] = [];
  readonly #schedstat: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #lastSched: [number, number] | undefined;
  #phase = "";

  /** A monitor; nothing runs until `start`. */
  constructor(options: LoopMonitorOptions = {}) {
    this.#schedstat = options.schedstat ?? false;
  }

  /** Starts the timer in `phase`. */
  start(phase: string): void {
    this.#phase = phase;
    this.#last = performance.now();
    if (this.#schedstat) this.#lastSched = readSchedstat();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const gap: Gap = { at: now, ms: now - this.#last, phase: this.#phase };
      if (this.#lastSched !== undefined) {
        const sched = readSchedstat();
        if (sched !== undefined) {
          gap.cpu = (sched[0] - this.#lastSched[0]) / 1e6;
          gap.waited = (sched[1] - this.#lastSched[1]) / 1e6;
          this.#lastSched = sched;
        }
      }
      this.gaps.push(gap);
      // Measured after the schedstat read, so the read is not in the next gap.
      this.#last = performance.now();
    }, 1);
  }

  /** Tags the following gaps with `phase`. */
  phase(phase: string): void {
    this.#phase = phase;
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Statistics of the gaps tagged with one of `phases` (all when omitted). */
  stats(phases?: string[]): GapStats {
    const chosen = phases === undefined
      ? this.gaps
      : this.gaps.filter((g) => phases.includes(g.phase));
    const sorted = chosen.map((g) => g.ms).sort((a, b) => a - b);
    return {
      ticks: sorted.length,
      max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
      p99: quantile(sorted, 0.99),
      p50: quantile(sorted, 0.5),
      top: [...chosen].sort((a, b) => b.ms - a.ms).slice(0, 5),
    };
  }
}

/** Writes all of `bytes` to `file` in `chunk`-byte calls; returns the bytes written. */
export async function writeAll(
  file: Deno.FsFile,
  bytes: Uint8Array,
  chunk: number,
): Promise<number> {
  let offset = 0;
  while (offset < bytes.length) {
    const end = Math.min(bytes.length, offset + chunk);
    offset += await file.write(bytes.subarray(offset, end));
  }
  return bytes.length;
}

/** Reads `path` into `into` in `chunk`-byte calls, up to its end or `into`'s; returns the bytes read. */
export async function readInto(
  path: string,
  into: Uint8Array,
  chunk: number,
): Promise<number> {
  using file = await Deno.open(path, { read: true });
  let offset = 0;
  while (offset < into.length) {
    const end = Math.min(into.length, offset + chunk);
    const n = await file.read(into.subarray(offset, end));
    if (n === null) break;
    offset += n;
  }
  return offset;
}

/** "12.3 ms" */
export function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

/** Prints a heading naming the benchmark, its sizes and its directory. */
export function printHeading(
  title: string,
  dir: BenchDirectory,
  lines: string[],
): void {
  console.log(`\n# ${title}`);
  console.log(`  ${dir.description}`);
  // glibc knobs change how fast fresh buffers are (see spill_throughput).
  const malloc = Object.entries(Deno.env.toObject())
    .filter(([name]) => name.startsWith("MALLOC_"))
    .map(([name, value]) => `${name}=${value}`);
  console.log(
    `  deno ${Deno.version.deno}, glibc malloc env: ${
      malloc.join(" ") || "(defaults)"
    }`,
  );
  for (const line of lines) console.log(`  ${line}`);
}

/** Bytes to "2.00 GiB". */
export const fmt = formatBytes;

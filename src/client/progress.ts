/**
 * A progress bar for futures (Dask's `progress`): done and total per task
 * function, and what is on disk and moving between workers, redrawn in
 * place on a terminal, as plain lines otherwise.
 *
 * @module
 */
import type { WorkerDescription } from "../protocol/mod.ts";
import { Future, outcome, whenSettled } from "./future.ts";

/**
 * Options of `client.progress` ({@linkcode showProgress}).
 *
 * @example
 * ```ts
 * import type { ProgressOptions } from "@spillway/spillway";
 * const lines: string[] = [];
 * const options: ProgressOptions = { write: (text) => lines.push(text), interval: 500 };
 * ```
 */
export interface ProgressOptions {
  /**
   * Where the output goes, as it is written: whole lines ending in `\n`
   * when not on a terminal; on a terminal, redraws with `\r` and cursor
   * moves. Default: stdout.
   */
  write?: (text: string) => void;
  /**
   * Redraw in place (a terminal) rather than print lines. Default: whether
   * stdout is a terminal when `write` is not given, false when it is.
   */
  tty?: boolean;
  /**
   * Milliseconds between looks at the cluster (`client.workers()`) and
   * redraws. Not on a terminal, a line is printed each time another tenth
   * of the futures has settled, and at the end. Default 1000.
   */
  interval?: number;
  /** Width of each bar, in characters. Default 30. */
  width?: number;
}

/**
 * What {@linkcode showProgress} asks the cluster (a `Client` is one).
 *
 * @example
 * ```ts
 * import type { Client, ProgressSource } from "@spillway/spillway";
 * declare const client: Client;
 * const source: ProgressSource = client;
 * ```
 */
export interface ProgressSource {
  /** Per worker: its store and transfer figures. */
  workers(): Promise<WorkerDescription[]>;
}

/** Done, erred and total futures of one task function. */
interface Tally {
  total: number;
  done: number;
  erred: number;
}

/** Spill and transfer figures summed over the workers. */
interface Movement {
  /** Bytes in spill files now. */
  onDisk: number;
  /** Bytes written to spill files, cumulative. */
  spilled: number;
  /** Bytes fetched from peers plus bytes linked from same-host peers, cumulative. */
  moved: number;
}

function movementOf(workers: readonly WorkerDescription[]): Movement {
  let onDisk = 0;
  let spilled = 0;
  let moved = 0;
  for (const w of workers) {
    onDisk += w.store?.spilled.bytes ?? 0;
    spilled += w.store?.spills.bytes ?? 0;
    moved += (w.transfers?.fetchedBytes ?? 0) +
      (w.transfers?.linkedBytes ?? 0);
  }
  return { onDisk, spilled, moved };
}

/**
 * The task function a key names: a client's keys are
 * `<export>-<client>-<n>` (`scatter` for scattered data).
 *
 * @param key A future's key.
 * @returns The function's name, or the key itself when it is not a
 *   client's key.
 * @example
 * ```ts
 * import { functionOfKey } from "./progress.ts";
 * functionOfKey("dot-1a2b3c4d-17"); // "dot"
 * ```
 */
export function functionOfKey(key: string): string {
  const match = /^(.+)-[0-9a-f]{8}-\d+$/.exec(key);
  return match === null ? key : match[1];
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

function stdoutIsTerminal(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    return false;
  }
}

/**
 * Shows the progress of `futures` until every one has settled (finished,
 * failed or been cancelled): per task function a bar with done / total
 * (and how many failed), then the bytes on the workers' disks, spilled and
 * moved between workers since it began (from `source.workers()`). On a
 * terminal the block is redrawn in place; otherwise a plain line is
 * printed each time another tenth has settled. Never rejects: a failed
 * future counts as settled (its `result()` still rejects).
 *
 * @param source The client (its `workers()`).
 * @param futures The futures to follow.
 * @param options Where to write, terminal or not, how often.
 * @returns When every future has settled.
 * @example
 * ```ts
 * import { type Client, type Future, showProgress } from "@spillway/spillway";
 * declare const client: Client;
 * declare const futures: Future<number>[];
 * await showProgress(client, futures); // what client.progress(futures) does
 * ```
 */
export async function showProgress(
  source: ProgressSource,
  futures: Future | Iterable<Future>,
  options: ProgressOptions = {},
): Promise<void> {
  const all = [...new Set(futures instanceof Future ? [futures] : futures)];
  for (const f of all) {
    if (!(f instanceof Future)) {
      throw new TypeError(`progress takes futures, got ${String(f)}`);
    }
  }
  const write = options.write ?? writeStdout;
  const tty = options.tty ??
    (options.write === undefined && stdoutIsTerminal());
  const interval = options.interval ?? 1000;
  const width = options.width ?? 30;
  const started = performance.now();

  const tallies = new Map<string, Tally>();
  const tallyOf = (f: Future): Tally => {
    const name = functionOfKey(f.key);
    let tally = tallies.get(name);
    if (tally === undefined) {
      tally = { total: 0, done: 0, erred: 0 };
      tallies.set(name, tally);
    }
    return tally;
  };
  let settled = 0;
  const settle = (f: Future): void => {
    const tally = tallyOf(f);
    if (outcome(f) === "erred") tally.erred++;
    else tally.done++;
    settled++;
  };
  for (const f of all) tallyOf(f).total++;
  const watching = all.map((f) => whenSettled(f).then(() => settle(f)));

  let baseline: Movement | null = null;
  let latest: Movement | null = null;
  const look = async (): Promise<void> => {
    try {
      const now = movementOf(await source.workers());
      baseline ??= now;
      latest = now;
    } catch {
      // A closed client or a lost scheduler: the figures stay as they were.
    }
  };

  const seconds = () => ((performance.now() - started) / 1000).toFixed(0);
  const movementText = (): string => {
    if (latest === null || baseline === null) return "";
    const m: Movement = latest;
    const b: Movement = baseline;
    return `on disk ${formatBytes(m.onDisk)}, spilled ${
      formatBytes(Math.max(0, m.spilled - b.spilled))
    }, moved between workers ${formatBytes(Math.max(0, m.moved - b.moved))}`;
  };
  const counts = (t: Tally): string =>
    `${t.done + t.erred}/${t.total}${t.erred > 0 ? ` (${t.erred} erred)` : ""}`;

  // On a terminal: the block of lines drawn last, redrawn in place.
  let drawn = 0;
  const draw = (): void => {
    const names = [...tallies.keys()];
    const pad = Math.max(...names.map((n) => n.length));
    const lines = names.map((name) => {
      const t = tallies.get(name)!;
      const full = t.total === 0
        ? width
        : Math.floor(((t.done + t.erred) / t.total) * width);
      return `${name.padEnd(pad)} [${"#".repeat(full)}${
        ".".repeat(width - full)
      }] ${counts(t)}`;
    });
    const move = movementText();
    lines.push(`${move === "" ? "" : `${move} · `}${seconds()} s`);
    const up = drawn > 1 ? `\x1b[${drawn - 1}A` : "";
    write(`${up}\r${lines.map((l) => `\x1b[2K${l}`).join("\n")}`);
    drawn = lines.length;
  };

  // Not on a terminal: a line per tenth settled.
  let printedTenth = -1;
  const line = (force: boolean): void => {
    const tenth = all.length === 0
      ? 10
      : Math.floor((settled / all.length) * 10);
    if (!force && tenth === printedTenth) return;
    printedTenth = tenth;
    const percent = all.length === 0
      ? 100
      : Math.floor((settled / all.length) * 100);
    const parts = [...tallies].map(([name, t]) => `${name} ${counts(t)}`);
    const move = movementText();
    write(
      `progress ${percent}%: ${parts.join(", ")}${
        move === "" ? "" : `; ${move}`
      }; ${seconds()} s\n`,
    );
  };

  const render = tty ? draw : () => line(false);
  await look();
  render();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await look();
      render();
    } finally {
      busy = false;
    }
  }, interval);
  try {
    await Promise.all(watching);
  } finally {
    clearInterval(timer);
  }
  await look();
  if (tty) {
    draw();
    write("\n");
  } else if (printedTenth !== 10) line(true);
}

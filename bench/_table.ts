/**
 * The table every benchmark prints: one row per figure, with the baseline
 * measured in the same run, their ratio, the target and whether it was met.
 * Absolute figures vary 2–7× between runs on the VMs (docs/platform.md#first-touch-of-memory);
 * ratios to a same-run baseline hold, so those are what targets are set on.
 *
 * @module
 */

/** One figure of a benchmark. */
export interface Row {
  /** What is measured, e.g. "spill write (MiB/s)". */
  figure: string;
  /** The store's figure, formatted. */
  value: string;
  /** The same figure for the baseline, measured in the same run; "-" when none. */
  baseline?: string;
  /** value / baseline (or a ratio that reads better), already computed; "-" when none. */
  ratio?: number | string;
  /** The target, in words, e.g. "ratio ≥ 0.80"; "-" when the figure has none. */
  target?: string;
  /** Whether the target is met; undefined when the figure has no target. */
  met?: boolean;
}

/** What {@linkcode printTable} found. */
export interface TableResult {
  /** Rows whose target was missed. */
  missed: Row[];
}

const HEADINGS = [
  "figure",
  "value",
  "baseline (same run)",
  "ratio",
  "target",
  "verdict",
] as const;

/** Formats a ratio: two decimals, three significant digits below 0.1. */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return String(ratio);
  if (ratio !== 0 && Math.abs(ratio) < 0.1) return `${ratio.toPrecision(2)}×`;
  return `${ratio.toFixed(2)}×`;
}

/**
 * Prints `rows` as an aligned table under `title`, then any `notes`, then a
 * visible "MISSED TARGET" line per missed target. Returns the missed rows.
 */
export function printTable(
  title: string,
  rows: Row[],
  notes: string[] = [],
): TableResult {
  const cells = rows.map((row) => [
    row.figure,
    row.value,
    row.baseline ?? "-",
    typeof row.ratio === "number" ? formatRatio(row.ratio) : row.ratio ?? "-",
    row.target ?? "-",
    row.met === undefined ? "-" : row.met ? "ok" : "MISSED TARGET",
  ]);
  const widths = HEADINGS.map((heading, c) =>
    Math.max(heading.length, ...cells.map((r) => r[c].length))
  );
  // Text columns left-aligned, figures right-aligned.
  const align = (cell: string, c: number) =>
    c === 0 || c >= 4 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]);
  const line = (r: readonly string[]) =>
    r.map((cell, c) => align(cell, c)).join(" | ").trimEnd();
  const out: string[] = ["", `== ${title} ==`, ""];
  out.push(line(HEADINGS));
  out.push(widths.map((w) => "-".repeat(w)).join("-|-"));
  for (const r of cells) out.push(line(r));
  if (notes.length > 0) {
    out.push("");
    for (const note of notes) out.push(`  * ${note}`);
  }
  const missed = rows.filter((row) => row.met === false);
  out.push("");
  if (missed.length === 0) {
    out.push(
      rows.some((row) => row.met !== undefined)
        ? "All targets met."
        : "(no targets)",
    );
  } else {
    for (const row of missed) {
      out.push(
        `!!! MISSED TARGET: ${row.figure} = ${row.value} (target ${row.target})`,
      );
    }
  }
  console.log(out.join("\n"));
  return { missed };
}

/**
 * Ends a benchmark: says how it went and exits 0 whatever the verdict
 * (benchmarks report, they do not gate).
 */
export function finish(name: string, result: TableResult): void {
  const verdict = result.missed.length === 0
    ? "targets met"
    : `MISSED TARGET (${result.missed.length})`;
  console.log(`\n${name}: ${verdict}; exit status 0 (benchmarks do not gate)`);
}

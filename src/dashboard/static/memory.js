// The memory panel: per worker a stacked bar of its memory segments (live,
// serialized, mapped, unmanaged, then spilled to disk), the limit and the
// target / spill / pause / terminate thresholds marked; paused workers,
// workers whose spill space is exhausted and workers that left or were
// restarted in the last minute marked. Above HISTOGRAM_ABOVE workers, a
// histogram of memory use instead of bars.

import {
  formatBytes,
  hostOf,
  html,
  shortAddress,
  svg,
  titled,
} from "./format.js";

/** Above this many workers the panel draws a histogram instead of bars. */
const HISTOGRAM_ABOVE = 50;

/**
 * How long (ms) a departure or a restart stays marked.
 *
 * @example
 * ```ts
 * import { RECENT_MS } from "./memory.js";
 * const recent = (at: number) => Date.now() - at < RECENT_MS;
 * ```
 */
export const RECENT_MS = 60_000;

/**
 * The segments of a bar, in the order they are stacked: the four in
 * memory, then what is on disk.
 */
const SEGMENTS = [
  { name: "live", label: "live", inMemory: true },
  { name: "serialized", label: "serialized", inMemory: true },
  { name: "mapped", label: "mapped", inMemory: true },
  { name: "unmanaged", label: "unmanaged", inMemory: true },
  { name: "spilled", label: "spilled (disk)", inMemory: false },
];

/** The thresholds, in the order they are marked. */
const THRESHOLDS = ["target", "spill", "pause", "terminate"];

/**
 * A worker's bytes in memory: the sum of its in-memory segments.
 *
 * @example
 * ```ts
 * import { inMemory } from "./memory.js";
 * const bytes: number = inMemory({
 *   segments: { live: 10, serialized: 20, mapped: 0, unmanaged: 5, spilled: 100 },
 * }); // 35: spilled is on disk
 * ```
 *
 * @param {{ segments?: Record<string, number> | null }} worker
 * @returns {number}
 */
export function inMemory(worker) {
  const s = worker.segments ?? {};
  return (s.live ?? 0) + (s.serialized ?? 0) + (s.mapped ?? 0) +
    (s.unmanaged ?? 0);
}

/**
 * The bytes one bar's full width stands for: the largest of the workers'
 * limits and of their memory plus spilled bytes (so all bars share a
 * scale and none overflows). At least 1.
 *
 * @example
 * ```ts
 * import { barScale } from "./memory.js";
 * const full: number = barScale([
 *   { memoryLimit: 256, segments: { live: 100, spilled: 300 } },
 * ]); // 400
 * ```
 *
 * @param {{ memoryLimit: number | null, segments?: Record<string, number> | null }[]} workers
 * @returns {number}
 */
export function barScale(workers) {
  let most = 1;
  for (const w of workers) {
    most = Math.max(
      most,
      w.memoryLimit ?? 0,
      inMemory(w) + (w.segments?.spilled ?? 0),
    );
  }
  return most;
}

/**
 * The rectangles of one worker's bar, in bytes from its left end:
 * `{ name, start, bytes }` per segment (zero-byte segments included, so
 * that each segment always has its element).
 *
 * @example
 * ```ts
 * import { barSegments } from "./memory.js";
 * const [live] = barSegments({ segments: { live: 10, unmanaged: 5 } });
 * live; // { name: "live", start: 0, bytes: 10 }
 * ```
 *
 * @param {{ segments?: Record<string, number> | null }} worker
 * @returns {{ name: string, start: number, bytes: number }[]}
 */
export function barSegments(worker) {
  const s = worker.segments ?? {};
  let start = 0;
  return SEGMENTS.map(({ name }) => {
    const bytes = Math.max(0, s[name] ?? 0);
    const out = { name, start, bytes };
    start += bytes;
    return out;
  });
}

/**
 * Counts of workers per bin of memory use, as a fraction of their limit
 * (or of the largest worker's memory where a worker has no limit).
 *
 * @example
 * ```ts
 * import { histogram } from "./memory.js";
 * const { counts } = histogram([{ memoryLimit: 100, segments: { live: 60 } }], 10);
 * counts[6]; // 1
 * ```
 *
 * @param {{ memoryLimit: number | null, segments?: Record<string, number> | null }[]} workers
 * @param {number} bins
 * @returns {{ counts: number[], top: number, byLimit: boolean }} `top`:
 *   the fraction (or bytes when `byLimit` is false) the last bin ends at
 */
export function histogram(workers, bins) {
  const byLimit = workers.every((w) => (w.memoryLimit ?? 0) > 0);
  const values = workers.map((w) =>
    byLimit ? inMemory(w) / w.memoryLimit : inMemory(w)
  );
  const top = byLimit
    ? Math.max(1, ...values)
    : Math.max(1, ...values) * 1.0001;
  const counts = new Array(bins).fill(0);
  for (const v of values) {
    counts[Math.min(bins - 1, Math.floor((v / top) * bins))]++;
  }
  return { counts, top, byLimit };
}

/**
 * What marks a worker carries: paused, spill space exhausted, restarted
 * in the last minute.
 *
 * @example
 * ```ts
 * import { workerMarks } from "./memory.js";
 * const marks: string[] = workerMarks(
 *   { address: "tcp://h:1", status: "paused", spillExhausted: false, restarts: 0 },
 *   [],
 *   new Map(),
 *   Date.now(),
 * ); // ["paused"]
 * ```
 *
 * @param {object} worker a worker as /api/workers describes it
 * @param {{ address: string, at: number, why: string }[]} departed
 * @param {Map<string, number>} restartSeen when this page saw each
 *   worker's restart count rise (epoch ms)
 * @param {number} now epoch ms
 * @returns {string[]} some of `"paused"`, `"spill-exhausted"`, `"restarted"`
 */
export function workerMarks(worker, departed, restartSeen, now) {
  const marks = [];
  if (worker.status === "paused") marks.push("paused");
  if (worker.spillExhausted) marks.push("spill-exhausted");
  if ((worker.restarts ?? 0) > 0) {
    const seen = restartSeen.get(worker.address);
    const host = hostOf(worker.address);
    const recent = (seen !== undefined && now - seen < RECENT_MS) ||
      departed.some((d) =>
        d.why === "restarted" && now - d.at < RECENT_MS &&
        hostOf(d.address) === host
      );
    if (recent) marks.push("restarted");
  }
  return marks;
}

const MARK_TEXT = {
  "paused": "paused",
  "spill-exhausted": "spill exhausted",
  "restarted": "restarted",
};

const LABEL = 150;
const NOTE = 250;
const TOP = 18;

/**
 * The memory panel.
 *
 * @example
 * ```ts
 * import { MemoryPanel } from "./memory.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof MemoryPanel>[0]): void {
 *   const panel = new MemoryPanel(root);
 *   panel.update([], [], Date.now());
 * }
 * ```
 */
export class MemoryPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {Map<string, number>} restart count last seen per worker */
    this.restarts = new Map();
    /** @type {Map<string, number>} when a rise in restarts was seen */
    this.restartSeen = new Map();
  }

  /**
   * Redraws the panel.
   *
   * @param {object[]} workers as /api/workers returns them
   * @param {{ address: string, at: number, why: string }[]} departed
   * @param {number} now epoch ms
   */
  update(workers, departed, now) {
    for (const w of workers) {
      const before = this.restarts.get(w.address);
      const count = w.restarts ?? 0;
      if (before !== undefined && count > before) {
        this.restartSeen.set(w.address, now);
      }
      this.restarts.set(w.address, count);
    }
    const recent = departed.filter((d) => now - d.at < RECENT_MS);
    const width = Math.max(480, this.root.clientWidth || 900);
    const drawn = workers.length > HISTOGRAM_ABOVE
      ? this.#histogram(workers, recent, width, now)
      : this.#bars(workers, recent, width, now);
    this.root.replaceChildren(drawn);
  }

  #bars(workers, departed, width, now) {
    const sorted = [...workers].sort((a, b) =>
      a.address < b.address ? -1 : a.address > b.address ? 1 : 0
    );
    const rows = sorted.length + departed.length;
    // Few workers: thicker bars.
    const ROW = rows <= 8 ? 34 : 26;
    const BAR = rows <= 8 ? 22 : 16;
    const height = TOP + Math.max(1, rows) * ROW + 4;
    const area = width - LABEL - NOTE;
    const scale = barScale(sorted);
    const x = (bytes) => LABEL + (bytes / scale) * area;
    const root = svg("svg", {
      width,
      height,
      class: "memory-bars",
      "data-scale": scale,
    });
    // Axis: 0 and the scale's end.
    root.append(
      svg("text", { x: LABEL, y: 12, class: "axis" }, "0"),
      svg(
        "text",
        { x: LABEL + area, y: 12, class: "axis", "text-anchor": "end" },
        formatBytes(scale),
      ),
    );
    if (sorted.length === 0 && departed.length === 0) {
      root.append(
        svg("text", { x: LABEL, y: TOP + 16, class: "empty" }, "no workers"),
      );
    }
    sorted.forEach((w, i) => {
      const y = TOP + i * ROW;
      const marks = workerMarks(w, departed, this.restartSeen, now);
      const g = svg("g", {
        class: ["worker", ...marks].join(" "),
        "data-address": w.address,
        "data-status": w.status,
      });
      g.append(
        titled(
          svg(
            "text",
            { x: 0, y: y + BAR / 2 + 4, class: "label" },
            shortAddress(
              w.address,
            ),
          ),
          `${w.address} (${w.nthreads} threads, spill dir ${w.spillDir})`,
        ),
        svg("rect", {
          x: LABEL,
          y,
          width: area,
          height: BAR,
          class: "track",
        }),
      );
      for (const seg of barSegments(w)) {
        const rect = svg("rect", {
          x: x(seg.start).toFixed(2),
          y,
          width: ((seg.bytes / scale) * area).toFixed(2),
          height: BAR,
          class: `segment ${seg.name}`,
          "data-segment": seg.name,
          "data-bytes": seg.bytes,
        });
        g.append(titled(rect, `${seg.name}: ${formatBytes(seg.bytes)}`));
      }
      const limit = w.memoryLimit ?? 0;
      if (limit > 0) {
        for (const name of THRESHOLDS) {
          const fraction = w.thresholds?.[name];
          if (typeof fraction !== "number") continue;
          const tx = x(limit * fraction);
          g.append(titled(
            svg("line", {
              x1: tx,
              x2: tx,
              y1: y - 2,
              y2: y + BAR + 2,
              class: `threshold ${name}`,
              "data-threshold": name,
            }),
            `${name}: ${Math.round(fraction * 100)}% of the limit (${
              formatBytes(limit * fraction)
            })`,
          ));
        }
        const lx = x(limit);
        g.append(titled(
          svg("line", {
            x1: lx,
            x2: lx,
            y1: y - 3,
            y2: y + BAR + 3,
            class: "threshold limit",
            "data-threshold": "limit",
          }),
          `memory limit: ${formatBytes(limit)}`,
        ));
      }
      const used = inMemory(w);
      const note = [
        `${formatBytes(used)}${limit > 0 ? ` / ${formatBytes(limit)}` : ""}`,
        ...marks.map((m) =>
          m === "restarted" ? `restarted ×${w.restarts}` : MARK_TEXT[m]
        ),
      ];
      g.append(
        svg("text", {
          x: LABEL + area + 8,
          y: y + BAR / 2 + 4,
          class: "note",
        }, note.join(" · ")),
      );
      root.append(g);
    });
    departed.forEach((d, i) => {
      const y = TOP + (sorted.length + i) * ROW;
      const ago = Math.max(0, Math.round((now - d.at) / 1000));
      const g = svg("g", {
        class: `departed ${d.why}`,
        "data-address": d.address,
      });
      g.append(
        svg(
          "text",
          { x: 0, y: y + BAR / 2 + 4, class: "label" },
          shortAddress(
            d.address,
          ),
        ),
        svg("rect", {
          x: LABEL,
          y,
          width: area,
          height: BAR,
          class: "gone",
        }),
        svg(
          "text",
          { x: LABEL + area + 8, y: y + BAR / 2 + 4, class: "note" },
          `${d.why === "restarted" ? "restarted" : "left"} ${ago} s ago`,
        ),
      );
      root.append(g);
    });
    return root;
  }

  #histogram(workers, departed, width, now) {
    const bins = 20;
    const { counts, top, byLimit } = histogram(workers, bins);
    const height = 170;
    const left = 40;
    const area = width - left - 20;
    const plot = 120;
    const most = Math.max(1, ...counts);
    const root = svg("svg", { width, height, class: "memory-histogram" });
    counts.forEach((count, i) => {
      const h = (count / most) * plot;
      const from = (i / bins) * top;
      const to = ((i + 1) / bins) * top;
      const range = byLimit
        ? `${Math.round(from * 100)}–${Math.round(to * 100)}% of the limit`
        : `${formatBytes(from)}–${formatBytes(to)}`;
      root.append(titled(
        svg("rect", {
          x: left + (i / bins) * area + 1,
          y: 10 + plot - h,
          width: area / bins - 2,
          height: h,
          class: "bin",
          "data-count": count,
        }),
        `${count} workers at ${range}`,
      ));
    });
    if (byLimit) {
      const t = workers[0]?.thresholds ?? {};
      for (const name of [...THRESHOLDS, "limit"]) {
        const fraction = name === "limit" ? 1 : t[name];
        if (typeof fraction !== "number") continue;
        const tx = left + (fraction / top) * area;
        root.append(titled(
          svg("line", {
            x1: tx,
            x2: tx,
            y1: 6,
            y2: 14 + plot,
            class: `threshold ${name}`,
          }),
          `${name}: ${Math.round(fraction * 100)}% of the limit`,
        ));
      }
    }
    root.append(
      svg("text", { x: left, y: plot + 28, class: "axis" }, "0"),
      svg(
        "text",
        { x: left + area, y: plot + 28, class: "axis", "text-anchor": "end" },
        byLimit ? `${Math.round(top * 100)}% of the limit` : formatBytes(top),
      ),
      svg(
        "text",
        { x: 4, y: 20, class: "axis" },
        String(most),
      ),
    );
    let paused = 0;
    let exhausted = 0;
    let restarted = 0;
    for (const w of workers) {
      const marks = workerMarks(w, departed, this.restartSeen, now);
      if (marks.includes("paused")) paused++;
      if (marks.includes("spill-exhausted")) exhausted++;
      if (marks.includes("restarted")) restarted++;
    }
    const left1 = departed.filter((d) => d.why === "left").length;
    const wrap = html("div", { class: "histogram-wrap" }, [
      root,
      html("p", { class: "histogram-summary" }, [
        `${workers.length} workers: ${paused} paused, ${exhausted} with spill space exhausted, ` +
        `${restarted} restarted and ${left1} left in the last minute.`,
      ]),
    ]);
    return wrap;
  }
}

// The small panels: cluster totals, the host's memory beside the workers'
// segments, and per worker the event loop's longest stall and p99.

import {
  formatBytes,
  formatCount,
  formatMs,
  html,
  shortAddress,
  svg,
  titled,
} from "./format.js";
import { inMemory } from "./memory.js";

/**
 * The host's memory as the page shows it: in use (MemTotal − MemAvailable),
 * the workers' share (the sum of their in-memory segments) and what no
 * worker accounts for (never below zero).
 *
 * @example
 * ```ts
 * import { hostMemory } from "./cluster.js";
 * const m = hostMemory({ memTotal: 8e9, memAvailable: 6e9 }, []);
 * m.unaccounted; // 2e9: no worker to account for it
 * ```
 *
 * @param {{ memTotal: number, memAvailable: number } | null | undefined} host
 * @param {{ segments?: Record<string, number> | null }[]} workers
 * @returns {{ total: number, inUse: number, workers: number, unaccounted: number }}
 */
export function hostMemory(host, workers) {
  const total = host?.memTotal ?? 0;
  const inUse = Math.max(0, total - (host?.memAvailable ?? 0));
  const ours = workers.reduce((n, w) => n + inMemory(w), 0);
  return {
    total,
    inUse,
    workers: ours,
    unaccounted: Math.max(0, inUse - ours),
  };
}

/** The cluster totals, in the order shown: [field, label, kind]. */
const TOTALS = [
  ["spilledBytes", "spilled", "bytes"],
  ["readBackBytes", "read back", "bytes"],
  ["movedBytes", "moved between workers", "bytes"],
  ["linkedBytes", "linked (same host)", "bytes"],
  ["deserializationsAvoided", "deserializations avoided", "count"],
];

/**
 * Cluster totals: one figure per total.
 *
 * @example
 * ```ts
 * import { TotalsPanel } from "./cluster.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof TotalsPanel>[0]): void {
 *   new TotalsPanel(root).update({ spilledBytes: 2 ** 30 });
 * }
 * ```
 */
export class TotalsPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
  }

  /** @param {Record<string, number> | undefined} totals */
  update(totals) {
    this.root.replaceChildren(
      ...TOTALS.map(([field, label, kind]) => {
        const value = totals?.[field] ?? 0;
        return html("div", { class: "figure", "data-total": field }, [
          html("span", { class: "value" }, [
            kind === "bytes" ? formatBytes(value) : formatCount(value),
          ]),
          html("span", { class: "caption" }, [label]),
        ]);
      }),
    );
  }
}

/**
 * The host's memory in use beside the workers' segments.
 *
 * @example
 * ```ts
 * import { HostPanel } from "./cluster.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof HostPanel>[0]): void {
 *   new HostPanel(root).update({ memTotal: 8e9, memAvailable: 6e9 }, []);
 * }
 * ```
 */
export class HostPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
  }

  /**
   * @param {{ memTotal: number, memAvailable: number } | undefined} host
   * @param {object[]} workers
   */
  update(host, workers) {
    const m = hostMemory(host, workers);
    const width = Math.max(260, this.root.clientWidth || 360);
    const scale = Math.max(1, m.total);
    const bar = svg("svg", { width, height: 22, class: "host-bar" });
    const x = (bytes) => (bytes / scale) * width;
    bar.append(
      svg("rect", { x: 0, y: 2, width, height: 18, class: "track" }),
      titled(
        svg("rect", {
          x: 0,
          y: 2,
          width: x(m.workers).toFixed(2),
          height: 18,
          class: "host workers",
          "data-bytes": m.workers,
        }),
        `workers' memory: ${formatBytes(m.workers)}`,
      ),
      titled(
        svg("rect", {
          x: x(Math.min(m.workers, m.inUse)).toFixed(2),
          y: 2,
          width: x(m.unaccounted).toFixed(2),
          height: 18,
          class: "host unaccounted",
          "data-bytes": m.unaccounted,
        }),
        `in use but not accounted for by any worker: ${
          formatBytes(m.unaccounted)
        }`,
      ),
    );
    const row = (cls, label, value) =>
      html("div", { class: `host-row ${cls}` }, [
        html("i", { class: "swatch" }),
        html("span", { class: "caption" }, [label]),
        html("span", { class: "value" }, [value]),
      ]);
    this.root.replaceChildren(
      bar,
      row(
        "in-use",
        "host memory in use (MemTotal − MemAvailable)",
        `${formatBytes(m.inUse)} of ${formatBytes(m.total)}`,
      ),
      row(
        "workers",
        "sum of the workers' segments in memory",
        formatBytes(m.workers),
      ),
      row(
        "unaccounted",
        "not accounted for by any worker",
        formatBytes(m.unaccounted),
      ),
    );
  }
}

/** Above this many workers the table lists only those with the longest stalls. */
const EVENT_LOOP_ROWS = 16;

const STALL_WARN_MS = 20;
const STALL_BAD_MS = 100;

/**
 * Per worker, the event loop's longest stall over the last minute and its p99.
 *
 * @example
 * ```ts
 * import { EventLoopPanel } from "./cluster.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof EventLoopPanel>[0]): void {
 *   new EventLoopPanel(root).update([]);
 * }
 * ```
 */
export class EventLoopPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
  }

  /** @param {object[]} workers */
  update(workers) {
    // Many workers: the ones with the longest stalls.
    const many = workers.length > EVENT_LOOP_ROWS;
    const sorted = many
      ? [...workers].sort((a, b) =>
        (b.eventLoop?.maxMs ?? -1) - (a.eventLoop?.maxMs ?? -1)
      ).slice(0, EVENT_LOOP_ROWS)
      : [...workers].sort((a, b) =>
        a.address < b.address ? -1 : a.address > b.address ? 1 : 0
      );
    const most = Math.max(
      STALL_BAD_MS,
      ...sorted.map((w) => w.eventLoop?.maxMs ?? 0),
    );
    const head = html("tr", {}, [
      html("th", {}, ["worker"]),
      html("th", {}, ["longest stall, last minute"]),
      html("th", { class: "num" }, ["p99"]),
    ]);
    const rows = sorted.map((w) => {
      const loop = w.eventLoop;
      const max = loop?.maxMs;
      const level = max === undefined
        ? "unknown"
        : max >= STALL_BAD_MS
        ? "bad"
        : max >= STALL_WARN_MS
        ? "warn"
        : "ok";
      const bar = html("div", { class: "stall-track" }, [
        html("div", {
          class: `stall ${level}`,
          style: `width: ${
            max === undefined ? 0 : Math.min(100, (max / most) * 100)
          }%`,
        }),
      ]);
      return html("tr", { "data-address": w.address, class: level }, [
        html("td", { class: "addr" }, [shortAddress(w.address)]),
        html("td", { class: "stall-cell" }, [
          bar,
          html("span", { class: "num" }, [
            max === undefined ? "no data yet" : formatMs(max),
          ]),
        ]),
        html("td", { class: "num" }, [
          loop ? formatMs(loop.p99Ms) : "–",
        ]),
      ]);
    });
    const table = html("table", { class: "event-loop" }, [
      html("thead", {}, [head]),
      html("tbody", {}, rows),
    ]);
    this.root.replaceChildren(table);
    if (many) {
      this.root.append(html("p", { class: "histogram-summary" }, [
        `The ${EVENT_LOOP_ROWS} of ${workers.length} workers with the longest stalls.`,
      ]));
    }
  }
}

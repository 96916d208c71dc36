// The task stream panel: one row per (worker, executor thread), a
// rectangle per phase of a task (its `startstops`), compute coloured by the
// task's function; hovering shows key, action, bytes and duration. Keeps
// the last WINDOW_MS.

import {
  formatBytes,
  formatMs,
  functionColour,
  html,
  shortAddress,
  svg,
  titled,
} from "./format.js";

/** How much of the stream the panel shows and keeps (ms). */
const WINDOW_MS = 60_000;

/**
 * The colour of an action: compute (and store) in the function's colour,
 * the others in fixed colours, as Dask's task stream does.
 *
 * @param {string} action
 * @param {string} name the task's function
 * @returns {string}
 */
function actionColour(action, name) {
  switch (action) {
    case "compute":
      return functionColour(name);
    case "store":
      return functionColour(name, 72);
    case "transfer":
      return "#d62728";
    case "disk-read":
      return "#ff9f1c";
    case "disk-write":
      return "#8c564b";
    case "deserialize":
      return "#8a8a8a";
    default: // queued, memory-wait: waiting, not working
      return "#d9d9d9";
  }
}

/** Actions drawn as thin bars: time spent waiting, not working. */
const WAITING = new Set(["queued", "memory-wait"]);

/** The legend's entries: action → a sample colour. */
const LEGEND = [
  ["compute", "by function"],
  ["transfer", "#d62728"],
  ["disk-read", "#ff9f1c"],
  ["disk-write", "#8c564b"],
  ["deserialize", "#8a8a8a"],
  ["queued / memory-wait", "#d9d9d9"],
];

/**
 * A record's identity, so that the same task sent twice (the first event
 * after a reconnection repeats the last minute) is kept once.
 *
 * @example
 * ```ts
 * import { recordId } from "./task_stream.js";
 * const id: string = recordId({
 *   key: "dot-1",
 *   worker: "tcp://h:1",
 *   startstops: [{ start: 1000 }],
 * });
 * ```
 *
 * @param {{ key: string, worker: string, startstops: { start: number }[] }} r
 * @returns {string}
 */
export function recordId(r) {
  return `${r.worker}\u0000${r.key}\u0000${r.startstops[0]?.start ?? 0}`;
}

/**
 * The end of a record: its last phase's stop.
 *
 * @example
 * ```ts
 * import { recordEnd } from "./task_stream.js";
 * const end: number = recordEnd({ startstops: [{ stop: 5 }, { stop: 9 }] }); // 9
 * ```
 *
 * @param {{ startstops: { stop: number }[] }} r
 * @returns {number}
 */
export function recordEnd(r) {
  let end = -Infinity;
  for (const s of r.startstops) end = Math.max(end, s.stop);
  return end;
}

/**
 * The panel's rows: each (worker, thread) of the workers and of the
 * records, sorted by worker address then thread.
 *
 * @example
 * ```ts
 * import { streamRows } from "./task_stream.js";
 * const rows = streamRows([], [{ address: "tcp://h:1", nthreads: 2 }]);
 * rows.map((r) => r.id); // ["tcp://h:1#0", "tcp://h:1#1"]
 * ```
 *
 * @param {{ worker: string, thread: number }[]} records
 * @param {{ address: string, nthreads: number }[]} workers
 * @returns {{ worker: string, thread: number, id: string }[]}
 */
export function streamRows(records, workers) {
  const rows = new Map();
  const add = (worker, thread) => {
    const id = `${worker}#${thread}`;
    if (!rows.has(id)) rows.set(id, { worker, thread, id });
  };
  for (const w of workers) {
    for (let t = 0; t < w.nthreads; t++) add(w.address, t);
  }
  for (const r of records) add(r.worker, r.thread ?? 0);
  return [...rows.values()].sort((a, b) =>
    a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : a.thread - b.thread
  );
}

const LABEL = 150;
const AXIS = 18;

/**
 * The height of a row: 22 px, less with many rows (the panel stays under
 * about 600 px), at least 3.
 *
 * @example
 * ```ts
 * import { rowHeight } from "./task_stream.js";
 * const px: number = rowHeight(120); // 5: 120 rows fit in 600 px
 * ```
 *
 * @param {number} rows
 * @returns {number}
 */
export function rowHeight(rows) {
  return rows <= 27 ? 22 : Math.max(3, Math.floor(600 / rows));
}

/**
 * The task stream panel.
 *
 * @example
 * ```ts
 * import { TaskStreamPanel } from "./task_stream.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof TaskStreamPanel>[0]): void {
 *   const panel = new TaskStreamPanel(root);
 *   panel.add([]);
 *   panel.update([], Date.now());
 * }
 * ```
 */
export class TaskStreamPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {Map<string, object>} */
    this.records = new Map();
    /** The latest stop seen: the window ends at it if the clock lags. */
    this.latest = 0;
  }

  /**
   * Adds records (new ones; repeated ones are kept once).
   *
   * @param {object[]} records TaskStreamRecord[]
   */
  add(records) {
    for (const r of records ?? []) {
      if (!Array.isArray(r.startstops) || r.startstops.length === 0) continue;
      this.records.set(recordId(r), r);
      this.latest = Math.max(this.latest, recordEnd(r));
    }
  }

  /**
   * Forgets what ended before the window and redraws.
   *
   * @param {{ address: string, nthreads: number }[]} workers
   * @param {number} now epoch ms
   */
  update(workers, now) {
    const end = Math.max(now, this.latest);
    const start = end - WINDOW_MS;
    for (const [id, r] of this.records) {
      if (recordEnd(r) < start) this.records.delete(id);
    }
    const records = [...this.records.values()];
    const rows = streamRows(records, workers);
    const index = new Map(rows.map((row, i) => [row.id, i]));
    const width = Math.max(480, this.root.clientWidth || 900);
    const area = width - LABEL - 10;
    const ROW = rowHeight(rows.length);
    const labels = ROW >= 14;
    const height = AXIS + Math.max(1, rows.length) * ROW + 4;
    const x = (t) => LABEL + ((t - start) / WINDOW_MS) * area;
    const root = svg("svg", {
      width,
      height,
      class: "task-stream",
      "data-records": records.length,
    });
    for (let s = 0; s <= WINDOW_MS / 1000; s += 10) {
      const tx = LABEL + (s / (WINDOW_MS / 1000)) * area;
      root.append(
        svg("line", {
          x1: tx,
          x2: tx,
          y1: AXIS - 4,
          y2: height,
          class: "grid",
        }),
        svg("text", {
          x: tx,
          y: 11,
          class: "axis",
          "text-anchor": s === 0 ? "start" : s === 60 ? "end" : "middle",
        }, s === WINDOW_MS / 1000 ? "now" : `−${WINDOW_MS / 1000 - s} s`),
      );
    }
    let lastLabel = -Infinity;
    rows.forEach((row, i) => {
      const y = AXIS + i * ROW;
      if (labels) {
        root.append(
          titled(
            svg(
              "text",
              { x: 0, y: y + ROW - 8, class: "label" },
              `${shortAddress(row.worker)} · ${row.thread}`,
            ),
            `${row.worker}, executor thread ${row.thread}`,
          ),
          svg("line", {
            x1: LABEL,
            x2: LABEL + area,
            y1: y + ROW - 1,
            y2: y + ROW - 1,
            class: "row-rule",
          }),
        );
        return;
      }
      // Many rows: a rule between workers, a label where there is room.
      if (i > 0 && rows[i - 1].worker === row.worker) return;
      root.append(svg("line", {
        x1: LABEL,
        x2: LABEL + area,
        y1: y,
        y2: y,
        class: "row-rule",
      }));
      if (y - lastLabel >= 14) {
        lastLabel = y;
        root.append(svg(
          "text",
          { x: 0, y: y + 11, class: "label small" },
          shortAddress(row.worker),
        ));
      }
    });
    const layer = svg("g", { class: "rects" });
    for (const r of records) {
      const i = index.get(`${r.worker}#${r.thread ?? 0}`);
      if (i === undefined) continue;
      const y = AXIS + i * ROW + (ROW >= 14 ? 2 : 0);
      for (const s of r.startstops) {
        if (s.stop < start) continue;
        const x0 = Math.max(LABEL, x(s.start));
        const x1 = Math.min(LABEL + area, x(s.stop));
        const waiting = WAITING.has(s.action);
        const h = waiting ? Math.max(1, ROW / 4) : Math.max(2, ROW - 5);
        const rect = svg("rect", {
          x: x0.toFixed(2),
          y: waiting ? y + ROW - 5 - h : y,
          width: Math.max(1, x1 - x0).toFixed(2),
          height: h,
          fill: actionColour(s.action, r.name),
          class: `task ${s.action}`,
          "data-action": s.action,
          "data-function": r.name,
        });
        const lines = [
          r.key,
          `${r.name} · ${s.action}`,
          `${formatMs(s.stop - s.start)}${
            s.bytes !== undefined ? ` · ${formatBytes(s.bytes)}` : ""
          }`,
        ];
        if (r.error) lines.push(`error: ${r.error}`);
        layer.append(titled(rect, lines.join("\n")));
      }
      if (r.error) {
        const last = r.startstops[r.startstops.length - 1];
        const ex = Math.min(LABEL + area, x(last.stop));
        layer.append(svg("rect", {
          x: (ex - 2).toFixed(2),
          y,
          width: 2,
          height: Math.max(2, ROW - 5),
          class: "erred-mark",
        }));
      }
    }
    root.append(layer);
    const legend = html(
      "div",
      { class: "legend" },
      LEGEND.map(([action, colour]) =>
        html("span", { class: "legend-item" }, [
          html("i", {
            class: "swatch",
            style: colour === "by function"
              ? "background: linear-gradient(90deg, hsl(0,62%,48%), hsl(120,62%,48%), hsl(240,62%,48%))"
              : `background: ${colour}`,
          }),
          action,
        ])
      ),
    );
    this.root.replaceChildren(root, legend);
  }
}

// The progress panel: per task function a bar of its tasks in the
// scheduler's own states (from /api/tasks `byFunction`).

import { formatCount, functionColour, html, svg, titled } from "./format.js";

/**
 * The states in the order a bar stacks them: done first (in memory, then
 * released after it was used, then erred), then in flight, then waiting.
 *
 * @example
 * ```ts
 * import { STATES } from "./progress.js";
 * STATES[0]; // "memory": done tasks come first
 * ```
 */
export const STATES = [
  "memory",
  "released",
  "erred",
  "processing",
  "ready",
  "waiting",
];

/**
 * The rows of the panel, functions sorted by name: per function its total
 * and the `{ state, start, count }` of each state's piece.
 *
 * @example
 * ```ts
 * import { progressRows } from "./progress.js";
 * const [dot] = progressRows({ dot: { memory: 3, waiting: 1 } });
 * dot.total; // 4
 * ```
 *
 * @param {Record<string, Record<string, number>>} byFunction
 * @returns {{ name: string, total: number, pieces: { state: string, start: number, count: number }[] }[]}
 */
export function progressRows(byFunction) {
  return Object.keys(byFunction).sort().map((name) => {
    const counts = byFunction[name] ?? {};
    let start = 0;
    const pieces = STATES.map((state) => {
      const count = Math.max(0, counts[state] ?? 0);
      const piece = { state, start, count };
      start += count;
      return piece;
    });
    return { name, total: start, pieces };
  });
}

const ROW = 24;
const BAR = 14;
const LABEL = 130;
const NOTE = 250;

/**
 * The progress panel.
 *
 * @example
 * ```ts
 * import { ProgressPanel } from "./progress.js";
 * // In the page, given the panel's <div>:
 * function draw(root: ConstructorParameters<typeof ProgressPanel>[0]): void {
 *   new ProgressPanel(root).update({ states: {}, byFunction: { dot: { memory: 3 } } });
 * }
 * ```
 */
export class ProgressPanel {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
  }

  /**
   * Redraws the panel.
   *
   * @param {{ states: Record<string, number>, byFunction: Record<string, Record<string, number>> }} tasks
   */
  update(tasks) {
    const rows = progressRows(tasks?.byFunction ?? {});
    if (rows.length === 0) {
      this.root.replaceChildren(
        html("p", { class: "empty" }, ["no tasks yet"]),
      );
      return;
    }
    const width = Math.max(360, this.root.clientWidth || 600);
    const area = width - LABEL - NOTE;
    const root = svg("svg", {
      width,
      height: rows.length * ROW + 4,
      class: "progress-bars",
    });
    rows.forEach((row, i) => {
      const y = 4 + i * ROW;
      const g = svg("g", { class: "function", "data-function": row.name });
      g.append(
        titled(
          svg("text", { x: 0, y: y + BAR - 2, class: "label" }, row.name),
          row.name,
        ),
        svg("rect", {
          x: LABEL,
          y,
          width: area,
          height: BAR,
          class: "track",
        }),
      );
      for (const piece of row.pieces) {
        const w = row.total > 0 ? (piece.count / row.total) * area : 0;
        const rect = svg("rect", {
          x: (LABEL + (row.total > 0 ? piece.start / row.total : 0) * area)
            .toFixed(2),
          y,
          width: w.toFixed(2),
          height: BAR,
          class: `state ${piece.state}`,
          "data-state": piece.state,
          "data-count": piece.count,
        });
        if (piece.state === "memory") {
          rect.setAttribute("fill", functionColour(row.name));
        } else if (piece.state === "processing" || piece.state === "ready") {
          rect.setAttribute("fill", functionColour(row.name, 78));
        }
        g.append(
          titled(
            rect,
            `${row.name}: ${formatCount(piece.count)} ${piece.state}`,
          ),
        );
      }
      const done = row.pieces
        .filter((p) => ["memory", "released", "erred"].includes(p.state))
        .reduce((n, p) => n + p.count, 0);
      const erred = row.pieces.find((p) => p.state === "erred")?.count ?? 0;
      const running = row.pieces.find((p) => p.state === "processing")
        ?.count ?? 0;
      g.append(svg(
        "text",
        { x: LABEL + area + 8, y: y + BAR - 2, class: "note" },
        `${formatCount(done)} / ${formatCount(row.total)} done` +
          (running > 0 ? ` · ${formatCount(running)} running` : "") +
          (erred > 0 ? ` · ${formatCount(erred)} erred` : ""),
      ));
      root.append(g);
    });
    this.root.replaceChildren(root);
  }
}

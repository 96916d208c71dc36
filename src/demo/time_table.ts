/**
 * "Where the time went": the task stream of a run summed per worker and
 * phase, beside the time the workers had (wall time × threads). The demo
 * and every benchmark that runs a cluster end with it.
 *
 * @module
 */
import type { TaskAction, TaskStreamRecord } from "../protocol/mod.ts";
import { formatBytes } from "../memory/bytes.ts";

/** The phases in the order a task goes through them. */
export const TASK_ACTIONS: readonly TaskAction[] = [
  "queued",
  "memory-wait",
  "transfer",
  "disk-read",
  "deserialize",
  "compute",
  "store",
  "disk-write",
];

/** One worker's time per phase, summed over its tasks. */
export interface WorkerTime {
  /** The worker. */
  worker: string;
  /** Tasks it ran. */
  tasks: number;
  /** Seconds per phase. */
  seconds: Record<TaskAction, number>;
  /** Bytes per phase (transfer, disk-read, store, disk-write). */
  bytes: Record<TaskAction, number>;
}

/**
 * Sums `records` per worker and phase, workers in order of address.
 *
 * @example
 * ```ts
 * import { timeByWorker } from "./time_table.ts";
 * const [w] = timeByWorker([{
 *   key: "a", name: "f", worker: "w", thread: 0,
 *   startstops: [{ action: "compute", start: 0, stop: 1500 }],
 * }]);
 * w.seconds.compute; // 1.5
 * ```
 */
export function timeByWorker(records: TaskStreamRecord[]): WorkerTime[] {
  const byWorker = new Map<string, WorkerTime>();
  for (const record of records) {
    let w = byWorker.get(record.worker);
    if (w === undefined) {
      w = emptyTime(record.worker);
      byWorker.set(record.worker, w);
    }
    w.tasks++;
    for (const s of record.startstops) {
      w.seconds[s.action] += (s.stop - s.start) / 1000;
      w.bytes[s.action] += s.bytes ?? 0;
    }
  }
  return [...byWorker.values()].sort((a, b) =>
    a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0
  );
}

/**
 * The table: a row per worker and one for all, a column per phase
 * (seconds summed over tasks, bytes below where some moved), then the sum
 * and wall time × threads. Phases overlap across tasks (a task fetches
 * while another computes), so the sum may pass wall × threads.
 *
 * @example
 * ```ts
 * import { timeTable } from "./time_table.ts";
 * console.log(timeTable([], 1.5, 1));
 * ```
 */
export function timeTable(
  records: TaskStreamRecord[],
  wallSeconds: number,
  threadsPerWorker: number,
): string {
  const workers = timeByWorker(records);
  const all = emptyTime("all");
  for (const w of workers) {
    all.tasks += w.tasks;
    for (const a of TASK_ACTIONS) {
      all.seconds[a] += w.seconds[a];
      all.bytes[a] += w.bytes[a];
    }
  }
  const row = (w: WorkerTime, threads: number): string[] => [
    w.worker,
    String(w.tasks),
    ...TASK_ACTIONS.map((a) =>
      w.seconds[a].toFixed(1) +
      (w.bytes[a] > 0 ? ` (${formatBytes(w.bytes[a])})` : "")
    ),
    TASK_ACTIONS.reduce((s, a) => s + w.seconds[a], 0).toFixed(1),
    (wallSeconds * threads).toFixed(1),
  ];
  const rows = [
    ["worker", "tasks", ...TASK_ACTIONS, "sum", "wall × threads"],
    ...workers.map((w) => row(w, threadsPerWorker)),
    row(all, threadsPerWorker * workers.length),
  ];
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  const line = (r: string[]) =>
    r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  return [
    "where the time went (seconds summed over tasks; bytes moved):",
    line(rows[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
  ].join("\n");
}

/** No tasks, no time: a row to sum into. */
function emptyTime(worker: string): WorkerTime {
  const zero = () =>
    Object.fromEntries(TASK_ACTIONS.map((a) => [a, 0])) as Record<
      TaskAction,
      number
    >;
  return { worker, tasks: 0, seconds: zero(), bytes: zero() };
}

// A full npm: specifier below, not the import map's name: a program that
// imports mod.ts from elsewhere has no import map of ours (README,
// "Importing Spillway").
// deno-lint-ignore-file no-import-prefix
/**
 * `/metrics`: the cluster in Prometheus' text format (version 0.0.4),
 * through `prom-client`'s registry and exposition. Names follow Dask's
 * where the concept is the same, with a `spillway_` prefix.
 *
 * Every figure comes from the workers' last heartbeats, as
 * `client.workers()` describes them: a scrape and a `client.workers()`
 * between the same two heartbeats agree exactly. Counters are the totals
 * the workers report (cumulative since each worker process started), so
 * each scrape builds a fresh registry and sets them.
 *
 * @module
 */
import {
  Counter,
  Gauge,
  Histogram,
  type MetricType,
  Registry,
} from "npm:prom-client@15.1.3";
import {
  EVENT_LOOP_BUCKETS,
  type FailureKind,
  type Heartbeat,
  type TaskCounts,
  type TaskState,
  type WorkerDescription,
  type WorkerTaskState,
} from "../protocol/mod.ts";

/** The content type of `/metrics`. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The spill failure kinds `/metrics` shows.
 *
 * @example
 * ```ts
 * import { SPILL_FAILURE_KINDS } from "./metrics.ts";
 * SPILL_FAILURE_KINDS.includes("no-space"); // true
 * ```
 */
export const SPILL_FAILURE_KINDS = [
  "no-space",
  "read-only",
  "io",
  "max-spill",
  "unserializable",
] as const;

/** A spill failure kind as `/metrics` names it. */
export type SpillFailureLabel = typeof SPILL_FAILURE_KINDS[number];

/**
 * The `/metrics` kind of each of the store's failure kinds: `disk-full`
 * is `no-space`; a write refused (`read-only`, `permission`) is
 * `read-only`; a value that cannot be turned into frames or back
 * (`serialize`, `deserialize`) is `unserializable`; any other error of
 * the disk (`io`, `read`, `other`) is `io`.
 *
 * @example
 * ```ts
 * import { FAILURE_LABELS } from "./metrics.ts";
 * FAILURE_LABELS["disk-full"]; // "no-space"
 * ```
 */
export const FAILURE_LABELS: Readonly<Record<FailureKind, SpillFailureLabel>> =
  Object.freeze({
    "disk-full": "no-space",
    "read-only": "read-only",
    "permission": "read-only",
    "io": "io",
    "read": "io",
    "other": "io",
    "max-spill": "max-spill",
    "serialize": "unserializable",
    "deserialize": "unserializable",
  });

/** The worker task states, in the order `/metrics` lists them. */
const WORKER_TASK_STATES: readonly WorkerTaskState[] = [
  "executing",
  "ready",
  "waiting",
  "paused",
  "memory",
];

/** One worker as the metrics read it. */
export interface MetricsWorker {
  /** As `client.workers()` returns it. */
  description: WorkerDescription;
  /** The heartbeat it comes from (the lag histogram is only there). */
  heartbeat: Heartbeat | null;
}

/** What a scrape is made of. */
export interface MetricsInput {
  /** The workers now registered. */
  workers: readonly MetricsWorker[];
  /** The scheduler's tasks. */
  tasks: TaskCounts;
}

/**
 * A histogram whose buckets the worker counted: `get()` gives the reported
 * cumulative counts instead of observations made here.
 */
class ReportedHistogram extends Histogram<"worker" | "le"> {
  readonly #series: {
    worker: string;
    counts: number[];
    sum: number;
    count: number;
  }[] = [];
  readonly #name: string;
  readonly #help: string;

  constructor(name: string, help: string, registry: Registry) {
    super({
      name,
      help,
      labelNames: ["worker"],
      buckets: [...EVENT_LOOP_BUCKETS],
      registers: [registry],
    });
    this.#name = name;
    this.#help = help;
  }

  /** Adds one worker's reported histogram. */
  report(
    worker: string,
    histogram: { counts: number[]; sum: number; count: number },
  ): void {
    this.#series.push({ worker, ...histogram });
  }

  /** What the registry's text exposition reads (prom-client's own histogram has it). */
  getForPromString(): ReturnType<Histogram<"worker" | "le">["get"]> {
    return this.get();
  }

  // deno-lint-ignore require-await
  override async get(): ReturnType<Histogram<"worker" | "le">["get"]> {
    const values: Awaited<
      ReturnType<Histogram<"worker" | "le">["get"]>
    >["values"] = [];
    for (const { worker, counts, sum, count } of this.#series) {
      EVENT_LOOP_BUCKETS.forEach((le, i) => {
        values.push({
          metricName: `${this.#name}_bucket`,
          labels: { worker, le },
          value: counts[i] ?? count,
        });
      });
      values.push({
        metricName: `${this.#name}_bucket`,
        labels: { worker, le: "+Inf" },
        value: count,
      });
      values.push({
        metricName: `${this.#name}_sum`,
        labels: { worker },
        value: sum,
      });
      values.push({
        metricName: `${this.#name}_count`,
        labels: { worker },
        value: count,
      });
    }
    return {
      name: this.#name,
      help: this.#help,
      // The exposition writes the type's name (prom-client's own
      // metrics hold the string too, whatever the declared enum says).
      type: "histogram" as unknown as MetricType,
      values,
      aggregator: "sum",
      collect: () => {},
    };
  }
}

/**
 * The Prometheus text of one scrape.
 *
 * @param input The workers (with their last heartbeats) and the tasks.
 * @returns The exposition, `text/plain; version=0.0.4`.
 *
 * @example
 * ```ts
 * import { renderMetrics } from "./metrics.ts";
 * const none = { waiting: 0, ready: 0, processing: 0, memory: 0, erred: 0, released: 0 };
 * const text = await renderMetrics({ workers: [], tasks: { states: none, byFunction: {} } });
 * text.includes("# TYPE spillway_scheduler_tasks gauge"); // true
 * ```
 */
export async function renderMetrics(input: MetricsInput): Promise<string> {
  const registry = new Registry();
  const on = [registry];
  const memory = new Gauge({
    name: "spillway_worker_memory_bytes",
    help:
      "Worker memory by segment at its last heartbeat: live, serialized, mapped (shared-memory mode), spilled (on disk), unmanaged (process memory the store does not account for).",
    labelNames: ["worker", "type"] as const,
    registers: on,
  });
  const spillBytes = new Counter({
    name: "spillway_worker_spill_bytes_total",
    help:
      "Bytes the worker's store wrote to spill files (write) and read back from them (read).",
    labelNames: ["worker", "activity"] as const,
    registers: on,
  });
  const spillSeconds = new Counter({
    name: "spillway_worker_spill_seconds_total",
    help:
      "Seconds the worker's store spent writing spill files (write) and reading them back (read), summed over transfers.",
    labelNames: ["worker", "activity"] as const,
    registers: on,
  });
  const deserializations = new Counter({
    name: "spillway_worker_deserializations_total",
    help: "Frames the worker's store turned into values.",
    labelNames: ["worker"] as const,
    registers: on,
  });
  const servedFrames = new Counter({
    name: "spillway_worker_frames_served_without_deserialize_total",
    help:
      "Keys the worker served to peers and clients from frames or files, without deserializing them.",
    labelNames: ["worker"] as const,
    registers: on,
  });
  const transfer = new Counter({
    name: "spillway_worker_transfer_bytes_total",
    help:
      "Bytes the worker took from peers (incoming) and served (outgoing), over a socket or by hard link between same-host workers.",
    labelNames: ["worker", "direction", "via"] as const,
    registers: on,
  });
  const lag = new ReportedHistogram(
    "spillway_worker_event_loop_lag_seconds",
    "How late the worker's control-thread timer fired (every 100 ms): event-loop stalls.",
    registry,
  );
  const failures = new Counter({
    name: "spillway_worker_spill_failures_total",
    help:
      "Spills, reads back and serializations that failed, by kind: no-space, read-only, io, max-spill, unserializable.",
    labelNames: ["worker", "kind"] as const,
    registers: on,
  });
  const workerTasks = new Gauge({
    name: "spillway_worker_tasks",
    help:
      "Tasks on the worker by state: executing, ready (waiting for a thread), waiting (for room or inputs), paused, memory (keys held).",
    labelNames: ["worker", "state"] as const,
    registers: on,
  });
  const schedulerTasks = new Gauge({
    name: "spillway_scheduler_tasks",
    help: "The scheduler's tasks by state.",
    labelNames: ["state"] as const,
    registers: on,
  });
  const schedulerWorkers = new Gauge({
    name: "spillway_scheduler_workers",
    help: "Workers registered with the scheduler, by status.",
    labelNames: ["status"] as const,
    registers: on,
  });

  const status = { running: 0, paused: 0 };
  for (const { description: w, heartbeat } of input.workers) {
    const worker = w.address;
    status[w.status]++;
    for (const [type, bytes] of Object.entries(w.segments)) {
      memory.set({ worker, type }, bytes);
    }
    for (const state of WORKER_TASK_STATES) {
      workerTasks.set({ worker, state }, w.tasks[state]);
    }
    const store = w.store;
    if (store !== null) {
      spillBytes.inc({ worker, activity: "write" }, store.spills.bytes);
      spillBytes.inc({ worker, activity: "read" }, store.unspills.bytes);
      spillSeconds.inc({ worker, activity: "write" }, store.spills.seconds);
      spillSeconds.inc({ worker, activity: "read" }, store.unspills.seconds);
      deserializations.inc({ worker }, store.deserializations.count);
      servedFrames.inc({ worker }, store.framesServedWithoutDeserialize);
      const byKind: Record<string, number> = {};
      for (const kind of SPILL_FAILURE_KINDS) byKind[kind] = 0;
      for (const [kind, n] of Object.entries(store.failures)) {
        byKind[FAILURE_LABELS[kind as FailureKind] ?? "io"] += n ?? 0;
      }
      for (const kind of SPILL_FAILURE_KINDS) {
        failures.inc({ worker, kind }, byKind[kind]);
      }
    }
    const t = w.transfers;
    if (t !== null) {
      const figures = [
        ["incoming", "socket", t.fetchedBytes],
        ["outgoing", "socket", t.servedBytes],
        ["incoming", "link", t.linkedBytes ?? 0],
        ["outgoing", "link", t.servedLinkedBytes ?? 0],
      ] as const;
      for (const [direction, via, bytes] of figures) {
        transfer.inc({ worker, direction, via }, bytes);
      }
    }
    if (heartbeat?.eventLoop !== undefined) {
      lag.report(worker, heartbeat.eventLoop.histogram);
    }
  }
  for (const [state, n] of Object.entries(input.tasks.states)) {
    schedulerTasks.set({ state: state as TaskState }, n);
  }
  for (const [name, n] of Object.entries(status)) {
    schedulerWorkers.set({ status: name }, n);
  }
  return await registry.metrics();
}

/**
 * The JSON the dashboard serves (`/api/*` and each `update` event), built
 * from the scheduler's read-only view.
 *
 * @module
 */
import type {
  ClusterSummary,
  ClusterTotals,
  DashboardUpdate,
  TaskStreamRecord,
  WorkerDescription,
} from "../protocol/mod.ts";
import type { SchedulerView } from "../scheduler/server.ts";
import type { HostMemory } from "../platform/host_memory.ts";

/**
 * Sums the workers' figures into the cluster's totals.
 *
 * @param workers The workers, as `client.workers()` describes them.
 * @returns Bytes spilled, read back, moved, linked; deserializations avoided.
 *
 * @example
 * ```ts
 * import { clusterTotals } from "./views.ts";
 * clusterTotals([]).spilledBytes; // 0
 * ```
 */
export function clusterTotals(
  workers: readonly WorkerDescription[],
): ClusterTotals {
  const totals: ClusterTotals = {
    spilledBytes: 0,
    readBackBytes: 0,
    movedBytes: 0,
    linkedBytes: 0,
    deserializationsAvoided: 0,
  };
  for (const w of workers) {
    totals.spilledBytes += w.store?.spills.bytes ?? 0;
    totals.readBackBytes += w.store?.unspills.bytes ?? 0;
    totals.deserializationsAvoided += w.store?.framesServedWithoutDeserialize ??
      0;
    totals.movedBytes += w.transfers?.fetchedBytes ?? 0;
    totals.linkedBytes += w.transfers?.linkedBytes ?? 0;
  }
  return totals;
}

/**
 * `GET /api/cluster`.
 *
 * @param view The scheduler's view.
 * @param host The host's memory (null: unknown, shown as 0).
 * @param workers The workers, if already read (else read from `view`).
 * @returns The host's memory, the totals, the recent departures.
 *
 * @example
 * ```ts
 * import type { SchedulerView } from "../scheduler/server.ts";
 * import { clusterSummary } from "./views.ts";
 * declare const view: SchedulerView;
 * const summary = clusterSummary(view, { memTotal: 2 ** 34, memAvailable: 2 ** 33 });
 * ```
 */
export function clusterSummary(
  view: SchedulerView,
  host: HostMemory | null,
  workers: readonly WorkerDescription[] = describeWorkers(view),
): ClusterSummary {
  return {
    host: host ?? { memTotal: 0, memAvailable: 0 },
    totals: clusterTotals(workers),
    departed: view.departed(),
  };
}

/**
 * `GET /api/workers`: the workers as `client.workers()` returns them.
 *
 * @param view The scheduler's view.
 * @returns The descriptions.
 *
 * @example
 * ```ts
 * import type { SchedulerView } from "../scheduler/server.ts";
 * import { describeWorkers } from "./views.ts";
 * declare const view: SchedulerView;
 * const addresses = describeWorkers(view).map((w) => w.address);
 * ```
 */
export function describeWorkers(view: SchedulerView): WorkerDescription[] {
  return view.workers().map((w) => w.description);
}

/** How far back the first `update` event's task stream reaches, ms. */
export const FIRST_STREAM_WINDOW = 60_000;

/**
 * The `update` events of one `/api/events` connection: each call gives
 * the next, whose task stream holds the records new since the previous
 * one (the first: those of the last minute).
 *
 * @example
 * ```ts
 * import type { SchedulerView } from "../scheduler/server.ts";
 * import { UpdateFeed } from "./views.ts";
 * declare const view: SchedulerView;
 * const feed = new UpdateFeed(view, () => null);
 * const first = feed.next(); // first.taskStream: the last minute
 * ```
 */
export class UpdateFeed {
  readonly #view: SchedulerView;
  readonly #host: () => HostMemory | null;
  #cursor: number | null = null;

  /**
   * @param view The scheduler's view.
   * @param host Reads the host's memory.
   */
  constructor(view: SchedulerView, host: () => HostMemory | null) {
    this.#view = view;
    this.#host = host;
  }

  /** The next update. */
  next(): DashboardUpdate {
    const view = this.#view;
    let taskStream: TaskStreamRecord[];
    if (this.#cursor === null) {
      this.#cursor = view.taskStreamAfter(Number.MAX_SAFE_INTEGER).cursor;
      taskStream = view.taskStream(Date.now() - FIRST_STREAM_WINDOW);
    } else {
      const { records, cursor } = view.taskStreamAfter(this.#cursor);
      this.#cursor = cursor;
      taskStream = records;
    }
    const workers = describeWorkers(view);
    return {
      workers,
      tasks: view.tasks(),
      cluster: clusterSummary(view, this.#host(), workers),
      taskStream,
    };
  }
}

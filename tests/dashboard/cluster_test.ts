/**
 * The dashboard of a real LocalCluster running a workload that spills
 * (target 0: every result is written to disk at once, and read back for
 * the next task): `/metrics` parses and agrees with `client.workers()`
 * taken between the same two heartbeats; `/api/*` and the event stream
 * have the contract's shapes; a worker its nanny restarts is marked.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import type {
  ClusterSummary,
  DashboardUpdate,
  TaskCounts,
  TaskStreamRecord,
  WorkerDescription,
} from "../../src/protocol/mod.ts";
import { FIXTURES, OPS, type Ops, until } from "../cluster/_support.ts";

/** One family as parse-prometheus-text-format gives it. */
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}
const parse = parsePrometheusTextFormat as (text: string) => Family[];

/** The families the issue names, with their types. */
const FAMILIES: Record<string, string> = {
  spillway_worker_memory_bytes: "GAUGE",
  spillway_worker_spill_bytes_total: "COUNTER",
  spillway_worker_spill_seconds_total: "COUNTER",
  spillway_worker_deserializations_total: "COUNTER",
  spillway_worker_frames_served_without_deserialize_total: "COUNTER",
  spillway_worker_transfer_bytes_total: "COUNTER",
  spillway_worker_event_loop_lag_seconds: "HISTOGRAM",
  spillway_worker_spill_failures_total: "COUNTER",
  spillway_worker_tasks: "GAUGE",
  spillway_scheduler_tasks: "GAUGE",
  spillway_scheduler_workers: "GAUGE",
};

const N = 131_072; // doubles: 1 MiB chunks

async function getJson<T>(base: string, path: string): Promise<T> {
  const response = await fetch(new URL(path, base));
  assert.equal(response.status, 200, path);
  assert.equal(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  return await response.json() as T;
}

async function getMetrics(base: string): Promise<string> {
  const response = await fetch(new URL("metrics", base));
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return await response.text();
}

/** Reads `update` events off an open event stream. */
class EventReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #text = "";
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }
  async next(): Promise<DashboardUpdate> {
    for (;;) {
      const end = this.#text.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#text.slice(0, end);
        this.#text = this.#text.slice(end + 2);
        const lines = block.split("\n");
        if (lines.includes("event: update")) {
          const data = lines.filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6)).join("\n");
          return JSON.parse(data);
        }
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("the event stream ended");
      this.#text += new TextDecoder().decode(value);
    }
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

function checkWorkerShape(w: WorkerDescription): void {
  assert.equal(typeof w.address, "string");
  assert.equal(typeof w.restarts, "number");
  assert.equal(typeof w.spillExhausted, "boolean");
  assert.ok(w.eventLoop !== null, "eventLoop after a heartbeat");
  assert.deepEqual(Object.keys(w.eventLoop).sort(), [
    "maxMs",
    "p99Ms",
    "windowSeconds",
  ]);
  assert.equal(w.eventLoop.windowSeconds, 60);
  assert.ok(w.eventLoop.maxMs >= w.eventLoop.p99Ms && w.eventLoop.p99Ms >= 0);
  assert.deepEqual(w.thresholds, {
    target: 0,
    spill: 0.7,
    pause: 0.8,
    terminate: 0.95,
  });
  assert.deepEqual(Object.keys(w.segments).sort(), [
    "live",
    "mapped",
    "serialized",
    "spilled",
    "unmanaged",
  ]);
  for (const bytes of Object.values(w.segments)) {
    assert.ok(Number.isFinite(bytes) && bytes >= 0);
  }
  assert.deepEqual(Object.keys(w.tasks).sort(), [
    "executing",
    "memory",
    "paused",
    "ready",
    "waiting",
  ]);
}

Deno.test("dashboard of a spilling cluster: /metrics agrees with client.workers(), /api/* and events follow the contract", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "128MiB",
    target: 0,
    modules: [FIXTURES],
    log: () => {},
  });
  const base = cluster.dashboardUrl;
  assert.ok(base !== null);
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  await using client = await Client.connect(cluster.address, { log: () => {} });
  const ops = client.module<Ops>(OPS);
  const chunks = Array.from({ length: 8 }, (_, i) => ops.chunk(i, N));
  const dots = Array.from(
    { length: 4 },
    (_, i) => ops.dot(chunks[i], chunks[i + 4]),
  );
  await client.gather(dots);

  // The spills show in a heartbeat.
  await until(async () => {
    const workers = await client.workers();
    return workers.some((w) => (w.store?.spills.bytes ?? 0) > 0) &&
      workers.some((w) => (w.store?.unspills.bytes ?? 0) > 0) &&
      workers.every((w) => w.eventLoop !== null);
  }, "spills and reads back in the heartbeats");

  // The lag histogram counts measures every 100 ms: some by the next heartbeat.
  await until(async () => {
    const counts = (await getMetrics(base)).split("\n").filter((l) =>
      l.startsWith("spillway_worker_event_loop_lag_seconds_count{")
    );
    return counts.length === 2 && counts.every((l) => !l.endsWith(" 0"));
  }, "event-loop measures in the heartbeats");

  // A scrape between two equal client.workers(): the same heartbeats.
  let workers: WorkerDescription[] = [];
  let text = "";
  for (let attempt = 0;; attempt++) {
    const before = await client.workers();
    text = await getMetrics(base);
    const after = await client.workers();
    if (JSON.stringify(before) === JSON.stringify(after)) {
      workers = after;
      break;
    }
    assert.ok(attempt < 20, "a heartbeat came between every pair of reads");
  }
  assert.equal(workers.length, 2);

  // Every family: HELP and TYPE once each, the right type.
  const families = parse(text);
  const byName = new Map(families.map((f) => [f.name, f]));
  for (const [name, type] of Object.entries(FAMILIES)) {
    const family = byName.get(name);
    assert.ok(family !== undefined, `no family ${name}`);
    assert.equal(family.type, type, name);
    assert.ok(family.help.length > 0, `${name} has no help`);
  }
  const lines = text.split("\n");
  for (const family of families) {
    const helps = lines.filter((l) => l.startsWith(`# HELP ${family.name} `));
    const types = lines.filter((l) => l.startsWith(`# TYPE ${family.name} `));
    assert.equal(helps.length, 1, `HELP of ${family.name}`);
    assert.equal(types.length, 1, `TYPE of ${family.name}`);
  }
  // No series twice, and every sample in a declared family.
  const samples = lines.filter((l) => l !== "" && !l.startsWith("#"));
  const series = samples.map((l) => l.slice(0, l.lastIndexOf(" ")));
  assert.equal(new Set(series).size, series.length, "a repeated series");
  for (const s of series) {
    const name = /^[a-z_]+/.exec(s)![0];
    const family = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(
      byName.has(name) || byName.get(family)?.type === "HISTOGRAM",
      `sample ${s} outside a declared family`,
    );
  }

  // Numbers: exactly client.workers()'s.
  const value = (
    name: string,
    labels: Record<string, string>,
  ): number => {
    const family = byName.get(name)!;
    const found = family.metrics.filter((m) =>
      Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
    );
    assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}`);
    return Number(found[0].value);
  };
  let spilledSomewhere = 0;
  for (const w of workers) {
    checkWorkerShape(w);
    const worker = w.address;
    const store = w.store!;
    const t = w.transfers!;
    for (const [type, bytes] of Object.entries(w.segments)) {
      assert.equal(
        value("spillway_worker_memory_bytes", { worker, type }),
        bytes,
        `${worker} ${type}`,
      );
    }
    assert.equal(w.segments.spilled, store.spilled.bytes);
    assert.equal(w.segments.live, store.live.bytes);
    assert.equal(w.segments.unmanaged, w.memory!.unmanaged);
    const spill = (activity: string) =>
      value("spillway_worker_spill_bytes_total", { worker, activity });
    assert.equal(spill("write"), store.spills.bytes);
    assert.equal(spill("read"), store.unspills.bytes);
    spilledSomewhere += spill("write");
    assert.equal(
      value("spillway_worker_spill_seconds_total", {
        worker,
        activity: "write",
      }),
      store.spills.seconds,
    );
    assert.equal(
      value("spillway_worker_spill_seconds_total", {
        worker,
        activity: "read",
      }),
      store.unspills.seconds,
    );
    assert.equal(
      value("spillway_worker_deserializations_total", { worker }),
      store.deserializations.count,
    );
    assert.equal(
      value("spillway_worker_frames_served_without_deserialize_total", {
        worker,
      }),
      store.framesServedWithoutDeserialize,
    );
    const transfer = (direction: string, via: string) =>
      value("spillway_worker_transfer_bytes_total", { worker, direction, via });
    assert.equal(transfer("incoming", "socket"), t.fetchedBytes);
    assert.equal(transfer("outgoing", "socket"), t.servedBytes);
    assert.equal(transfer("incoming", "link"), t.linkedBytes ?? 0);
    assert.equal(transfer("outgoing", "link"), t.servedLinkedBytes ?? 0);
    let failures = 0;
    for (
      const kind of [
        "no-space",
        "read-only",
        "io",
        "max-spill",
        "unserializable",
      ]
    ) {
      failures += value("spillway_worker_spill_failures_total", {
        worker,
        kind,
      });
    }
    assert.equal(
      failures,
      Object.values(store.failures).reduce((a, b) => a + (b ?? 0), 0),
    );
    for (const [state, n] of Object.entries(w.tasks)) {
      assert.equal(value("spillway_worker_tasks", { worker, state }), n);
    }
    // The histogram's buckets are cumulative, +Inf its count.
    const bucket = (le: string) =>
      Number(
        /\s(\S+)$/.exec(
          lines.find((l) =>
            l.startsWith(
              `spillway_worker_event_loop_lag_seconds_bucket{worker="${worker}",le="${le}"}`,
            )
          )!,
        )![1],
      );
    const count = Number(
      /\s(\S+)$/.exec(
        lines.find((l) =>
          l.startsWith(
            `spillway_worker_event_loop_lag_seconds_count{worker="${worker}"}`,
          )
        )!,
      )![1],
    );
    assert.ok(count > 0);
    assert.equal(bucket("+Inf"), count);
    assert.ok(bucket("0.001") <= bucket("0.01") && bucket("0.01") <= count);
  }
  assert.ok(spilledSomewhere >= 8 * N * 8, `spilled ${spilledSomewhere}`);
  const statuses = { running: 0, paused: 0 };
  for (const w of workers) statuses[w.status]++;
  for (const [status, n] of Object.entries(statuses)) {
    assert.equal(value("spillway_scheduler_workers", { status }), n);
  }

  // /api/tasks: the scheduler's counts, per function too, as /metrics.
  const tasks = await getJson<TaskCounts>(base, "api/tasks");
  assert.equal(tasks.states.memory, 12);
  assert.deepEqual(tasks.byFunction.chunk.memory, 8);
  assert.deepEqual(tasks.byFunction.dot.memory, 4);
  const text2 = await getMetrics(base);
  for (const [state, n] of Object.entries(tasks.states)) {
    assert.ok(
      text2.split("\n").includes(
        `spillway_scheduler_tasks{state="${state}"} ${n}`,
      ),
      state,
    );
  }

  // /api/workers: client.workers()'s shape, the same workers.
  const apiWorkers = await getJson<WorkerDescription[]>(base, "api/workers");
  assert.deepEqual(
    apiWorkers.map((w) => w.address).sort(),
    workers.map((w) => w.address).sort(),
  );
  apiWorkers.forEach(checkWorkerShape);

  // /api/cluster: host memory, totals of the workers, nobody left.
  const summary = await getJson<ClusterSummary>(base, "api/cluster");
  assert.ok(summary.host.memTotal > 0);
  assert.ok(
    summary.host.memAvailable > 0 &&
      summary.host.memAvailable <= summary.host.memTotal,
  );
  assert.deepEqual(Object.keys(summary.totals).sort(), [
    "deserializationsAvoided",
    "linkedBytes",
    "movedBytes",
    "readBackBytes",
    "spilledBytes",
  ]);
  assert.ok(summary.totals.spilledBytes >= spilledSomewhere);
  assert.ok(summary.totals.readBackBytes > 0);
  assert.deepEqual(summary.departed, []);

  // /api/task-stream: as client.taskStream.
  const since = Date.now() - 60_000;
  const stream = await getJson<TaskStreamRecord[]>(
    base,
    `api/task-stream?since=${since}`,
  );
  assert.deepEqual(
    stream.map((r) => r.key).sort(),
    (await client.taskStream({ since })).map((r) => r.key).sort(),
  );
  assert.equal(stream.length, 12);
  assert.ok(stream.every((r) => r.startstops.length > 0));

  // Events: the first carries the last minute's stream, the next only
  // what is new.
  const response = await fetch(new URL("api/events", base));
  assert.equal(
    response.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  const events = new EventReader(response.body!);
  try {
    const first = await events.next();
    assert.deepEqual(Object.keys(first).sort(), [
      "cluster",
      "taskStream",
      "tasks",
      "workers",
    ]);
    assert.equal(first.workers.length, 2);
    first.workers.forEach(checkWorkerShape);
    assert.equal(first.tasks.states.memory, 12);
    assert.ok(first.cluster.host.memTotal > 0);
    assert.equal(first.taskStream.length, 12);
    const second = await events.next();
    assert.deepEqual(second.taskStream, []);
    const late = ops.inc(41);
    assert.equal(await late.result(), 42);
    let seen: TaskStreamRecord[] = [];
    while (seen.length === 0) seen = (await events.next()).taskStream;
    assert.deepEqual(seen.map((r) => r.key), [late.key]);
  } finally {
    await events.cancel();
  }

  // A task running: its worker says so, and so does /metrics.
  const spinning = ops.spin(2500);
  const busy = await until(
    async () => (await client.workers()).find((w) => w.tasks.executing === 1),
    "a heartbeat with the task executing",
  );
  assert.ok(
    (await getMetrics(base)).split("\n").includes(
      `spillway_worker_tasks{worker="${busy.address}",state="executing"} 1`,
    ),
  );
  await spinning.result();

  // A worker its nanny restarts: the old one departed as restarted, the
  // new one says how many restarts.
  const old = cluster.workers[0];
  const pid = cluster.killWorker(0);
  const now = await cluster.restarted(0, pid);
  await until(async () => {
    const list = await getJson<WorkerDescription[]>(base, "api/workers");
    return list.some((w) => w.address === now.address && w.restarts === 1);
  }, "the restarted worker registered with its count");
  const after = await getJson<ClusterSummary>(base, "api/cluster");
  const gone = after.departed.filter((d) => d.address === old.address);
  assert.equal(gone.length, 1, JSON.stringify(after.departed));
  assert.equal(gone[0].why, "restarted");
  assert.ok(gone[0].at <= Date.now() && gone[0].at > Date.now() - 60_000);
});

Deno.test("LocalCluster without a dashboard: dashboardUrl is null", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    dashboard: false,
    modules: [FIXTURES],
    log: () => {},
  });
  assert.equal(cluster.dashboardUrl, null);
});

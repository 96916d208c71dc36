/**
 * The dashboard's HTTP server in this process, over a real scheduler with
 * no workers: files, refusals, a taken port, the event stream's end; and
 * the metrics of a described worker.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SchedulerServer } from "../../src/scheduler/server.ts";
import { DashboardServer } from "../../src/dashboard/server.ts";
import { renderMetrics } from "../../src/dashboard/metrics.ts";
import type {
  Heartbeat,
  StoreMetrics,
  WorkerDescription,
} from "../../src/protocol/mod.ts";

/** A static root with three files, and a secret beside it. */
async function staticRoot(): Promise<{ root: URL; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "spillway-dashboard-" });
  await Deno.mkdir(join(dir, "static", "sub"), { recursive: true });
  await Deno.writeTextFile(join(dir, "static", "index.html"), "<p>hi</p>");
  await Deno.writeTextFile(join(dir, "static", "app.js"), "export {};");
  await Deno.writeTextFile(join(dir, "static", "sub", "style.css"), "p{}");
  await Deno.writeTextFile(join(dir, "secret.txt"), "TOP-SECRET");
  return { root: pathToFileURL(join(dir, "static") + "/"), dir };
}

Deno.test("serves the page and its files with their content types", async () => {
  const { root, dir } = await staticRoot();
  await using scheduler = await SchedulerServer.start({ log: () => {} });
  await using dashboard = await DashboardServer.start({
    view: scheduler.view(),
    port: 0,
    staticRoot: root,
  });
  const get = async (path: string) => {
    const response = await fetch(new URL(path, dashboard.url));
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      body: await response.text(),
    };
  };
  assert.deepEqual(await get("/"), {
    status: 200,
    type: "text/html; charset=utf-8",
    body: "<p>hi</p>",
  });
  assert.deepEqual(await get("/static/app.js"), {
    status: 200,
    type: "text/javascript; charset=utf-8",
    body: "export {};",
  });
  assert.equal(
    (await get("/static/sub/style.css")).type,
    "text/css; charset=utf-8",
  );
  assert.equal((await get("/static/missing.js")).status, 404);
  assert.equal((await get("/static/sub")).status, 404);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("no path outside the static root is served", async () => {
  const { root, dir } = await staticRoot();
  await using scheduler = await SchedulerServer.start({ log: () => {} });
  await using dashboard = await DashboardServer.start({
    view: scheduler.view(),
    port: 0,
    staticRoot: root,
  });
  const { hostname, port } = new URL(dashboard.url);
  // Raw requests: fetch would normalize some of these paths itself.
  const raw = async (path: string): Promise<string> => {
    const conn = await Deno.connect({ hostname, port: Number(port) });
    const request =
      `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    conn.close();
    return text;
  };
  const attempts = [
    "/static/../secret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E%2Fsecret.txt",
    "/static/sub/..%2F..%2Fsecret.txt",
    "/static/sub%2F..%2F..%2Fsecret.txt",
    "/static/..%5Csecret.txt",
    `/static/${encodeURIComponent(join(dir, "secret.txt"))}`,
    "/static/%00secret.txt",
    "/static/.%2e/.%2e/secret.txt",
  ];
  for (const path of attempts) {
    const reply = await raw(path);
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1]);
    assert.ok(
      status >= 400 && status < 500,
      `${path}: ${reply.split("\r\n")[0]}`,
    );
    assert.ok(!reply.includes("TOP-SECRET"), `${path} served the secret`);
  }
  // The same server serves the root's own files (the attempts were refused
  // for what they asked, not because nothing is served).
  assert.match(await raw("/static/app.js"), /^HTTP\/1\.1 200/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("nothing but GET and HEAD; a bad since is a 400", async () => {
  await using scheduler = await SchedulerServer.start({ log: () => {} });
  await using dashboard = await DashboardServer.start({
    view: scheduler.view(),
    port: 0,
  });
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const response = await fetch(new URL("/api/workers", dashboard.url), {
      method,
    });
    await response.body?.cancel();
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
  }
  const bad = await fetch(
    new URL("/api/task-stream?since=soon", dashboard.url),
  );
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /epoch milliseconds/);
  const good = await fetch(new URL("/api/task-stream?since=0", dashboard.url));
  assert.deepEqual(await good.json(), []);
  const unknown = await fetch(new URL("/api/nothing", dashboard.url));
  await unknown.body?.cancel();
  assert.equal(unknown.status, 404);
});

Deno.test("a taken port falls back to a free one and says where", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  const lines: string[] = [];
  await using scheduler = await SchedulerServer.start({ log: () => {} });
  await using dashboard = await DashboardServer.start({
    view: scheduler.view(),
    port,
    log: (line) => lines.push(line),
  });
  assert.notEqual(dashboard.port, port);
  assert.equal(dashboard.url, `http://127.0.0.1:${dashboard.port}/`);
  assert.deepEqual(lines, [
    `port ${port} is already in use; the dashboard is at ${dashboard.url} instead`,
  ]);
  const response = await fetch(new URL("/api/tasks", dashboard.url));
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

Deno.test("close ends open event streams", async () => {
  await using scheduler = await SchedulerServer.start({ log: () => {} });
  const dashboard = await DashboardServer.start({
    view: scheduler.view(),
    port: 0,
    updateInterval: 50,
  });
  const response = await fetch(new URL("/api/events", dashboard.url));
  const reader = response.body!.getReader();
  let text = "";
  while (!text.includes("event: update")) {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
  }
  await dashboard.close();
  // The stream ends (the reader sees its end or an error), not hangs.
  for (;;) {
    const chunk = await reader.read().catch(() => ({ done: true }));
    if (chunk.done) break;
  }
});

const ZERO = { count: 0, bytes: 0 };

function storeMetrics(over: Partial<StoreMetrics>): StoreMetrics {
  return {
    live: { count: 1, bytes: 100 },
    serialized: { count: 1, bytes: 200 },
    mapped: ZERO,
    spilled: { count: 2, bytes: 300 },
    mappings: { live: 0, bytes: 0, total: 0 },
    spills: { count: 2, bytes: 300, seconds: 0.5 },
    unspills: { count: 1, bytes: 150, seconds: 0.25 },
    serializations: { count: 2, seconds: 0.1 },
    deserializations: { count: 7, seconds: 0.1 },
    framesServedWithoutDeserialize: 4,
    failures: {},
    managed: 300,
    released: 0,
    handedOut: 0,
    target: 1000,
    pressure: 0,
    writesInFlight: 0,
    ...over,
  };
}

Deno.test("metrics: failure kinds mapped onto the five names, the reported histogram, no repeated series", async () => {
  const store = storeMetrics({
    failures: {
      "disk-full": 2,
      "max-spill": 1,
      "permission": 1,
      "read-only": 1,
      "serialize": 3,
      "deserialize": 1,
      "read": 1,
      "other": 1,
    },
  });
  const heartbeat: Heartbeat = {
    status: "paused",
    transfers: {
      fetchedKeys: 1,
      fetchedBytes: 10,
      servedKeys: 2,
      servedBytes: 20,
      linkedBytes: 30,
      servedLinkedBytes: 40,
    },
    store,
    memory: { process: 1000, managed: 300, unmanaged: 700 },
    eventLoop: {
      maxMs: 5,
      p99Ms: 2,
      windowSeconds: 60,
      histogram: {
        counts: [1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5],
        sum: 0.02,
        count: 6,
      },
    },
  };
  const description: WorkerDescription = {
    address: "tcp://127.0.0.1:1",
    host: "h",
    nthreads: 1,
    memoryLimit: 1 << 30,
    spillDir: "/tmp/x",
    status: "paused",
    store,
    memory: heartbeat.memory,
    transfers: heartbeat.transfers,
    eventLoop: { maxMs: 5, p99Ms: 2, windowSeconds: 60 },
    restarts: 0,
    spillExhausted: true,
    thresholds: { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 },
    segments: {
      live: 100,
      serialized: 200,
      mapped: 0,
      spilled: 300,
      unmanaged: 700,
    },
    tasks: { executing: 1, ready: 2, waiting: 3, paused: 4, memory: 5 },
  };
  const none = {
    waiting: 0,
    ready: 1,
    processing: 2,
    memory: 3,
    erred: 0,
    released: 0,
  };
  const text = await renderMetrics({
    workers: [{ description, heartbeat }],
    tasks: { states: none, byFunction: {} },
  });
  const w = `worker="tcp://127.0.0.1:1"`;
  for (
    const line of [
      `spillway_worker_spill_failures_total{${w},kind="no-space"} 2`,
      `spillway_worker_spill_failures_total{${w},kind="max-spill"} 1`,
      `spillway_worker_spill_failures_total{${w},kind="read-only"} 2`,
      `spillway_worker_spill_failures_total{${w},kind="unserializable"} 4`,
      `spillway_worker_spill_failures_total{${w},kind="io"} 2`,
      `spillway_worker_event_loop_lag_seconds_bucket{${w},le="0.001"} 1`,
      `spillway_worker_event_loop_lag_seconds_bucket{${w},le="10"} 5`,
      `spillway_worker_event_loop_lag_seconds_bucket{${w},le="+Inf"} 6`,
      `spillway_worker_event_loop_lag_seconds_sum{${w}} 0.02`,
      `spillway_worker_event_loop_lag_seconds_count{${w}} 6`,
      `spillway_worker_transfer_bytes_total{${w},direction="outgoing",via="link"} 40`,
      `spillway_worker_tasks{${w},state="paused"} 4`,
      `spillway_scheduler_workers{status="paused"} 1`,
      `spillway_scheduler_workers{status="running"} 0`,
      `spillway_scheduler_tasks{state="memory"} 3`,
      "# TYPE spillway_worker_event_loop_lag_seconds histogram",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing: ${line}\n${text}`);
  }
  const series = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));
  assert.equal(new Set(series).size, series.length, "a repeated series");
});

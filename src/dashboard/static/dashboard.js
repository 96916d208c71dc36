// The dashboard page: one EventSource on /api/events; each `update` event
// (every second) redraws the panels. Nothing here polls or reloads.

import { formatCount } from "./format.js";
import { EventLoopPanel, HostPanel, TotalsPanel } from "./cluster.js";
import { MemoryPanel } from "./memory.js";
import { ProgressPanel } from "./progress.js";
import { TaskStreamPanel } from "./task_stream.js";

const $ = (id) => document.getElementById(id);

const panels = {
  memory: new MemoryPanel($("memory")),
  progress: new ProgressPanel($("progress")),
  stream: new TaskStreamPanel($("task-stream")),
  loop: new EventLoopPanel($("event-loop")),
  totals: new TotalsPanel($("totals")),
  host: new HostPanel($("host")),
};

/** The latest update, redrawn on resize too. */
let latest = null;

function draw() {
  if (latest === null) return;
  const now = Date.now();
  const workers = Array.isArray(latest.workers) ? latest.workers : [];
  const cluster = latest.cluster ?? {};
  panels.memory.update(workers, cluster.departed ?? [], now);
  panels.progress.update(latest.tasks);
  panels.stream.update(workers, now);
  panels.loop.update(workers);
  panels.totals.update(cluster.totals);
  panels.host.update(cluster.host, workers);
  const states = latest.tasks?.states ?? {};
  const paused = workers.filter((w) => w.status === "paused").length;
  $("summary").textContent = `${workers.length} workers` +
    (paused > 0 ? ` (${paused} paused)` : "") +
    ` · ${formatCount(states.processing ?? 0)} processing · ` +
    `${formatCount(states.memory ?? 0)} in memory · ` +
    `${formatCount(states.waiting ?? 0)} waiting` +
    ((states.erred ?? 0) > 0 ? ` · ${formatCount(states.erred)} erred` : "");
}

function setStatus(text, cls) {
  const status = $("status");
  status.textContent = text;
  status.className = cls;
}

const events = new EventSource("api/events");
events.addEventListener("update", (event) => {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  latest = data;
  panels.stream.add(data.taskStream);
  try {
    draw();
  } finally {
    document.body.dataset.updates = String(
      Number(document.body.dataset.updates ?? 0) + 1,
    );
  }
  setStatus(`live · ${new Date().toLocaleTimeString()}`, "live");
});
events.addEventListener("open", () => setStatus("connected", "live"));
events.addEventListener("error", () => {
  // The browser reconnects by itself; the first event then repeats the
  // last minute of the task stream, which the panel keeps once.
  setStatus(
    events.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…",
    "down",
  );
});

let resizeTimer = 0;
addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(draw, 150);
});

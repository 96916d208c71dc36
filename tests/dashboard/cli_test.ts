/**
 * `spillway scheduler`'s HTTP flags on a real process with the scheduler's
 * own permissions: a taken `--dashboard-port` falls back to a free port
 * and says where; `--no-dashboard` serves nothing.
 */
import assert from "node:assert/strict";
import { schedulerFlags } from "../../src/cluster/permissions.ts";
import { CliProcess } from "../cluster/_support.ts";

Deno.test("scheduler --dashboard-port on a taken port: a free one, logged, and it serves", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  await using scheduler = new CliProcess(schedulerFlags("127.0.0.1"), [
    "scheduler",
    "--port",
    "0",
    "--dashboard-port",
    String(port),
  ]);
  const [, url] = await scheduler.line(/^dashboard at (http:\/\/\S+)$/);
  await scheduler.line(/^scheduler listening at tcp:\/\//);
  const actual = Number(new URL(url).port);
  assert.notEqual(actual, port);
  assert.ok(
    scheduler.stderr.some((l) =>
      l.includes(`port ${port} is already in use; the dashboard is at ${url}`)
    ),
    scheduler.stderr.join("\n"),
  );
  // The dashboard line comes before the address line.
  assert.ok(
    scheduler.stdout.findIndex((l) => l.startsWith("dashboard at")) <
      scheduler.stdout.findIndex((l) => l.startsWith("scheduler listening")),
  );
  // Served with the scheduler's narrow permissions: the host's memory too.
  const cluster = await (await fetch(new URL("api/cluster", url))).json();
  assert.ok(cluster.host.memTotal > 0, JSON.stringify(cluster));
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  await page.body?.cancel();
  const metrics = await fetch(new URL("metrics", url));
  assert.match(await metrics.text(), /^# HELP spillway_/m);
  const status = await scheduler.stop("SIGTERM");
  assert.equal(status.code, 0);
});

Deno.test("scheduler --dashboard-port 0 picks a free port; --no-dashboard serves nothing", async () => {
  {
    await using scheduler = new CliProcess(schedulerFlags("127.0.0.1"), [
      "scheduler",
      "--port",
      "0",
      "--dashboard-port",
      "0",
    ]);
    const [, url] = await scheduler.line(/^dashboard at (http:\/\/\S+)$/);
    assert.notEqual(Number(new URL(url).port), 0);
    const response = await fetch(new URL("api/tasks", url));
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
  await using scheduler = new CliProcess(schedulerFlags("127.0.0.1", false), [
    "scheduler",
    "--port",
    "0",
    "--no-dashboard",
  ]);
  await scheduler.line(/^scheduler listening at tcp:\/\//);
  assert.ok(
    !scheduler.stdout.some((l) => l.startsWith("dashboard at")),
    scheduler.stdout.join("\n"),
  );
});

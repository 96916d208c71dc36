/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven
 * by `playwright-core`): during a run that spills (160 MiB of 16 MiB chunks
 * on 2 workers × 128 MiB), the page's memory bars change, a spilled
 * segment appears, task-stream rectangles appear (their hover text names
 * the key, the action, bytes and duration), and a screenshot is saved under
 * the test's temp dir. Installs Chromium with apt when it is missing and
 * this runs as root; skips, saying why, where it cannot.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops } from "../cluster/_support.ts";

/**
 * The page's `document`, as the functions run in the browser by
 * `waitForFunction` use it (this program is type-checked without the DOM
 * library).
 */
declare const document: {
  querySelectorAll(
    selector: string,
  ):
    & ArrayLike<{ getAttribute(name: string): string | null }>
    & Iterable<{
      getAttribute(name: string): string | null;
    }>;
};

const CHROMIUM = "/usr/bin/chromium";
const MiB = 2 ** 20;

/** Why the browser cannot run here, or null when it can (installing it if need be). */
async function chromiumMissing(): Promise<string | null> {
  if (existsSync(CHROMIUM)) return null;
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) {
    return `${CHROMIUM} is not installed and this is not root to install it (apt-get install -y chromium)`;
  }
  try {
    const apt = (...args: string[]) =>
      new Deno.Command("apt-get", {
        args,
        env: { DEBIAN_FRONTEND: "noninteractive" },
        stdout: "null",
        stderr: "piped",
      }).output();
    let install = await apt("install", "-y", "chromium");
    if (!install.success) {
      // Stale package lists: refresh them once.
      await apt("update");
      install = await apt("install", "-y", "chromium");
    }
    if (!install.success || !existsSync(CHROMIUM)) {
      return `apt-get install -y chromium failed: ${
        new TextDecoder().decode(install.stderr).trim().split("\n").at(-1)
      }`;
    }
    return null;
  } catch (error) {
    return `apt-get could not run: ${(error as Error).message}`;
  }
}

const missing = await chromiumMissing();
if (missing !== null) {
  console.warn(`skipping the dashboard browser test: ${missing}`);
}

/** What the page shows of one worker's bar. */
type Bar = { address: string; segments: Record<string, number> };

Deno.test({
  name:
    "the dashboard in Chromium: bars change, a spilled segment and task-stream rectangles appear during a spilling run",
  ignore: missing !== null,
  async fn() {
    const lines: string[] = [];
    await using cluster = await LocalCluster.start({
      workers: 2,
      memoryLimit: "128MiB",
      modules: [FIXTURES],
      log: (line) => lines.push(line),
    });
    await using client = await Client.connect(cluster.address, {
      log: () => {},
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({
        viewport: { width: 1400, height: 1000 },
      });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      const url = cluster.dashboardUrl;
      assert.ok(url !== null, "the cluster serves its dashboard");
      await page.goto(url);
      const bars = () =>
        page.$$eval("svg.memory-bars g.worker", (groups) =>
          groups.map((g) => ({
            address: g.getAttribute("data-address") ?? "",
            segments: Object.fromEntries(
              [...g.querySelectorAll("rect[data-segment]")].map((r) => [
                r.getAttribute("data-segment") ?? "",
                Number(r.getAttribute("width")),
              ]),
            ),
          })));
      // Both workers drawn, from their first heartbeats.
      await page.waitForFunction(
        () =>
          document.querySelectorAll(
            "svg.memory-bars g.worker rect[data-segment=unmanaged]:not([width='0.00'])",
          ).length === 2,
        undefined,
        { timeout: 30_000 },
      );
      const before: Bar[] = await bars();
      assert.deepEqual(
        before.map((b) => b.address).sort(),
        cluster.workers.map((w) => w.address).sort(),
      );
      assert.ok(
        before.every((b) => (b.segments.spilled ?? -1) === 0),
        "nothing spilled yet",
      );
      // Each bar marks the limit and the four thresholds.
      assert.equal(
        await page.locator("svg.memory-bars line[data-threshold]").count(),
        2 * 5,
      );

      // 10 chunks of 16 MiB on 2 × 128 MiB (target 60%): they spill. The
      // client keeps every chunk, so the spill files stay while we look.
      const m = client.module<Ops>(OPS);
      const n = (16 * MiB) / 8;
      const chunks = Array.from({ length: 10 }, (_, i) => m.chunk(i, n));
      const dots = Array.from(
        { length: 5 },
        (_, k) => m.dot(chunks[2 * k], chunks[(2 * k + 3) % 10]),
      );
      const done = client.gather(dots);

      await page.waitForFunction(
        () =>
          [...document.querySelectorAll(
            "svg.memory-bars rect[data-segment=spilled]",
          )].some((r) => Number(r.getAttribute("width")) > 0),
        undefined,
        { timeout: 60_000 },
      );
      await page.waitForFunction(
        () => document.querySelectorAll("svg.task-stream rect.task").length > 0,
        undefined,
        { timeout: 60_000 },
      );
      const results = await done;
      assert.equal(results.length, 5);
      // A task's title holds its key, its action, its duration.
      await page.waitForFunction(
        () =>
          document.querySelectorAll(
            "svg.task-stream rect.task[data-function=dot][data-action=compute]",
          ).length > 0,
        undefined,
        { timeout: 30_000 },
      );
      const title = await page.$eval(
        "svg.task-stream rect.task[data-function=dot][data-action=compute] title",
        (t) => t.textContent ?? "",
      );
      const [key, what, took] = title.split("\n");
      assert.ok(dots.some((d) => d.key === key), `a dot's key: ${title}`);
      assert.equal(what, "dot · compute");
      assert.match(took, /^[\d.]+ (µs|ms|s)$/);
      // A phase that moved bytes (a transfer, a disk read or write, the
      // store of a result) says how many.
      const moved = await page.$$eval(
        ["transfer", "disk-read", "disk-write", "store"].map((a) =>
          `svg.task-stream rect.task[data-action=${a}] title`
        ).join(", "),
        (ts) => ts.map((t) => t.textContent ?? ""),
      );
      assert.ok(
        moved.some((t) =>
          /\n[\d.]+ (µs|ms|s) · [\d.]+ (B|KiB|MiB|GiB)$/.test(t)
        ),
        moved.slice(0, 5).join("\n\n"),
      );

      const after: Bar[] = await bars();
      assert.notDeepEqual(after, before, "the memory bars changed");
      const spilled = after.filter((b) => (b.segments.spilled ?? 0) > 0);
      assert.ok(spilled.length > 0, "a spilled segment has a width");
      // Progress and event-loop figures for both functions and workers.
      assert.deepEqual(
        await page.$$eval(
          "svg.progress-bars g.function",
          (gs) => gs.map((g) => g.getAttribute("data-function")),
        ).then((names) => names.filter((n) => n === "chunk" || n === "dot")),
        ["chunk", "dot"],
      );
      assert.equal(
        await page.locator("table.event-loop tbody tr").count(),
        2,
      );

      const dir = await Deno.makeTempDir({ prefix: "spillway-dashboard-" });
      const shot = join(dir, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await Deno.stat(shot)).size > 10_000, "a screenshot");
      console.log(`screenshot: ${shot}`);
      assert.deepEqual(errors, [], "no errors on the page");
      for (const c of chunks) c.release();
    } finally {
      await browser.close();
    }
  },
});

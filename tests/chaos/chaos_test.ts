/**
 * Chaos: a spilling all-pairs workload on 4 workers while worker processes
 * are killed with SIGKILL (at random moments, seeded, and at named points
 * through the test-only stop hook `SPILLWAY_TEST_STOP_AT`: a spill file
 * being written, a fetch from a peer, a hard link in shared-memory mode),
 * each restarted by its nanny. Every result is correct, and after close()
 * no spill file, mapping, process or open port is left behind.
 *
 * Budget: two phases of at most about 35 s of work each (private mode, then
 * shared-memory mode on a tmpfs when the tests run as root).
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { TEST_STOP_AT_ENV } from "../../src/platform/test_stop.ts";
import { exists } from "../cluster/_support.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import * as local from "../../src/demo/allpairs_ops.ts";

type AllPairsOps = typeof import("../../src/demo/allpairs_ops.ts");
const OPS_URL = new URL("../../src/demo/allpairs_ops.ts", import.meta.url);

const CHUNKS = 12;
const LENGTH = 2 ** 20; // 8 MiB of doubles
const PHASE_MS = 35_000;

/** A seeded generator (mulberry32): the kills' moments and victims. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pids of processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Lines of /proc/<pid>/maps (every process that can be read) naming `path`. */
function mappingsOf(path: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const maps = Deno.readTextFileSync(`/proc/${entry.name}/maps`);
      for (const line of maps.split("\n")) {
        if (line.includes(path)) found.push(`${entry.name}: ${line}`);
      }
    } catch {
      // Gone, or not readable.
    }
  }
  return found;
}

/** Every file under `dir`, recursively ([] when it is gone). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

async function refuses(address: string): Promise<boolean> {
  const url = new URL(address.replace(/^tcp:/, "http:"));
  try {
    const conn = await Deno.connect({
      hostname: url.hostname,
      port: Number(url.port),
    });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

interface Figures {
  kills: Record<string, number>;
  checked: number;
  bytesLost: number;
  rounds: number;
}

/**
 * One phase: a cluster, all-pairs rounds until the kills are done (or the
 * phase's time is up), then close() and the checks of what is left.
 */
async function phase(
  name: string,
  options: { sharedMemory: boolean; spillDir: string; stopAt: string },
  random: () => number,
  wanted: { random: number; aimed: number; points: string[] },
  figures: Figures,
): Promise<void> {
  const lines: string[] = [];
  Deno.env.set(TEST_STOP_AT_ENV, options.stopAt);
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({
      workers: 4,
      memoryLimit: "256MiB",
      sharedMemory: options.sharedMemory,
      // Spills at once (shared) or past 25 MiB of results (private).
      target: options.sharedMemory ? 0 : 0.1,
      spillDir: options.spillDir,
      modules: [new URL("../../src/demo/", import.meta.url)],
      allowedFailures: 1000,
      log: (line) => {
        lines.push(line);
        onLine(line);
      },
    });
  } finally {
    Deno.env.delete(TEST_STOP_AT_ENV);
  }
  const root = cluster.spillRoot;
  const addresses = new Set<string>([cluster.address]);
  if (cluster.dashboardUrl !== null) addresses.add(cluster.dashboardUrl);
  const kills = {
    random: 0,
    ...Object.fromEntries(wanted.points.map((p) => [p, 0])),
  } as Record<string, number>;
  const pending: Promise<unknown>[] = [];
  // A worker stopped at a named point is killed there, until that point's
  // kills are done (it then goes on after the hook's 3 s).
  function onLine(line: string): void {
    const stop = /test stop at (\S+) \(pid (\d+)\)/.exec(line);
    if (stop === null || (kills[stop[1]] ?? 0) >= wanted.aimed) return;
    try {
      Deno.kill(Number(stop[2]), "SIGKILL");
      kills[stop[1]] = (kills[stop[1]] ?? 0) + 1;
    } catch {
      // Gone already.
    }
  }
  const done = () =>
    kills.random >= wanted.random &&
    wanted.points.every((p) => (kills[p] ?? 0) >= wanted.aimed);
  const deadline = Date.now() + PHASE_MS;
  let stopped = false;
  // Random kills: a random worker at a random moment, one at a time.
  const killer = (async () => {
    while (!stopped && kills.random < wanted.random) {
      await new Promise((r) => setTimeout(r, 500 + random() * 1500));
      if (stopped) break;
      const i = Math.floor(random() * 4);
      const before = cluster.workers[i];
      if (before.address === "") continue;
      addresses.add(before.address);
      try {
        cluster.killWorker(i);
        kills.random++;
      } catch {
        continue;
      }
      await cluster.restarted(i, before.pid).catch(() => {});
    }
  })();
  pending.push(killer);
  try {
    const client = await Client.connect(cluster.address, { log: () => {} });
    try {
      const m = client.module<AllPairsOps>(OPS_URL);
      const expected = new Map<string, number>();
      const chunks = Array.from(
        { length: CHUNKS },
        (_, i) => local.chunk(i, LENGTH),
      );
      for (let i = 0; i < CHUNKS; i++) {
        for (let j = i; j < CHUNKS; j++) {
          expected.set(`${i},${j}`, local.dot(chunks[i], chunks[j]));
        }
      }
      chunks.length = 0;
      while (!done() && Date.now() < deadline) {
        const futures = Array.from(
          { length: CHUNKS },
          (_, i) => m.chunk(i, LENGTH),
        );
        const dots: { pair: string; future: ReturnType<typeof m.dot> }[] = [];
        for (let i = 0; i < CHUNKS; i++) {
          for (let j = i; j < CHUNKS; j++) {
            dots.push({
              pair: `${i},${j}`,
              future: m.dot(futures[i], futures[j]),
            });
          }
        }
        // A hang fails the test with the cluster's last lines.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const results = await Promise.race([
          client.gather(dots.map((d) => d.future)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new Error(
                    `${name}: round ${figures.rounds} not done in 40 s; kills ${
                      JSON.stringify(kills)
                    }\n${lines.slice(-60).join("\n")}`,
                  ),
                ),
              40_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        dots.forEach((d, k) => {
          if (results[k] === expected.get(d.pair)) figures.checked++;
          else figures.bytesLost += 2 * LENGTH * 8;
        });
        for (const f of futures) f.release();
        for (const d of dots) d.future.release();
        figures.rounds++;
      }
    } finally {
      await client.close();
    }
  } finally {
    stopped = true;
    await Promise.all(pending);
    for (const w of cluster.workers) addresses.add(w.address);
    await cluster.close();
  }
  for (const [point, n] of Object.entries(kills)) {
    figures.kills[`${name} ${point}`] = n;
  }
  const context = lines.slice(-40).join("\n");
  assert.ok(done(), `${name}: kills ${JSON.stringify(kills)}\n${context}`);
  // Nothing left behind.
  assert.deepEqual(filesUnder(root), [], `${name}: spill files left`);
  assert.ok(!exists(root), `${name}: the cluster's root is removed`);
  assert.deepEqual(mappingsOf(root), [], `${name}: mappings left`);
  assert.deepEqual(processesMentioning(root), [], `${name}: processes left`);
  for (const address of addresses) {
    if (address === "") continue;
    assert.ok(await refuses(address), `${name}: ${address} still accepts`);
  }
}

Deno.test("chaos: random and aimed SIGKILLs of workers during a spilling all-pairs run; every result correct, nothing left behind", async () => {
  const random = seeded(20261207);
  const figures: Figures = { kills: {}, checked: 0, bytesLost: 0, rounds: 0 };
  const base = await Deno.makeTempDir({ prefix: "spillway-chaos-" });
  try {
    await phase(
      "private",
      {
        sharedMemory: false,
        spillDir: base,
        stopAt: "spill-write:0.05,fetch:0.15",
      },
      random,
      { random: 4, aimed: 2, points: ["spill-write", "fetch"] },
      figures,
    );
  } finally {
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
  if (tmpfsUnavailable === null) {
    await using tmpfs = await mountTmpfs("1024m");
    await phase(
      "shared",
      { sharedMemory: true, spillDir: tmpfs.path, stopAt: "link:0.3" },
      random,
      { random: 4, aimed: 3, points: ["link"] },
      figures,
    );
    assert.deepEqual(filesUnder(tmpfs.path), []);
  } else {
    console.error(
      `chaos: shared-memory phase (hard links) skipped: ${tmpfsUnavailable}`,
    );
  }
  const total = Object.values(figures.kills).reduce((a, b) => a + b, 0);
  console.error(
    `chaos: ${total} kills (${
      JSON.stringify(figures.kills)
    }), ${figures.rounds} rounds, ` +
      `${figures.checked} results checked, ${figures.bytesLost} bytes lost`,
  );
  assert.ok(total >= (tmpfsUnavailable === null ? 10 : 6), `kills: ${total}`);
  assert.equal(figures.bytesLost, 0);
  assert.ok(figures.checked > 0);
});

/**
 * Long runs: 1,000 rounds of submit / compute / release on one
 * LocalCluster (2 workers under nannies, every result spilled at once,
 * rounds whose two inputs land on both workers fetching one from the other) keep the
 * processes flat. Measured after a warm-up and at the end, per process
 * (scheduler, nannies, workers): open files (`/proc/<pid>/fd`), among them
 * the sockets (connections), the mappings (`/proc/<pid>/maps` lines:
 * of files, and anonymous) and VmRSS. "Flat": the same files,
 * connections and mappings of files; memory (VmRSS) within 10%. Anonymous
 * mappings are V8's heap pages and malloc's arenas, which come and go with
 * the heap's size: they are reported, and the memory bound covers them. The client side of the test runs under Deno's op and
 * resource sanitizers (on by default): a timer, op or connection left
 * behind by the client fails the test.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { FIXTURES, OPS, type Ops } from "../cluster/_support.ts";

/** Rounds measured, after the warm-up. */
const ROUNDS = 1000;
/**
 * Rounds before the first measurement, about ten seconds: the JIT and the
 * heaps settle (a nanny's heap, which reads its worker's memory ten times a
 * second, grows for the first 15 s or so, then stays).
 */
const WARM_UP = 1000;

interface Figures {
  fds: number;
  sockets: number;
  /** Mappings of files (spill files, shared memory, libraries). */
  fileMaps: number;
  /** Anonymous mappings (V8's heap pages, malloc's arenas). */
  anonMaps: number;
  rss: number;
}

async function figures(pid: number): Promise<Figures> {
  let fds = 0;
  let sockets = 0;
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    fds++;
    try {
      const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith("socket:")) sockets++;
    } catch {
      // Closed between the listing and the read.
    }
  }
  let fileMaps = 0;
  let anonMaps = 0;
  for (
    const line of (await Deno.readTextFile(`/proc/${pid}/maps`)).split("\n")
  ) {
    if (line === "") continue;
    // address perms offset dev inode [path]
    const path = line.split(/\s+/)[5] ?? "";
    if (path.startsWith("/")) fileMaps++;
    else anonMaps++;
  }
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
  return { fds, sockets, fileMaps, anonMaps, rss };
}

Deno.test({
  name:
    "soak: 1,000 rounds of submit / compute / release keep files, connections, mappings and memory flat",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const lines: string[] = [];
    await using cluster = await LocalCluster.start({
      workers: 2,
      memoryLimit: "256MiB",
      target: 0,
      modules: [FIXTURES],
      // The task stream is a ring of 100,000 records by default: bounded,
      // but it grows through the whole run. A heap that grows in small
      // steps and small young generations make a process's memory follow
      // what it holds rather than when V8 last collected.
      taskStreamCapacity: 1000,
      v8Flags: "--optimize-for-size,--max-semi-space-size=1",
      log: (line) => lines.push(line),
    });
    await using client = await Client.connect(cluster.address, {
      log: () => {},
    });
    const m = client.module<Ops>(OPS);
    const processes = () => [
      { name: "scheduler", pid: cluster.schedulerPid },
      ...cluster.workers.flatMap((w, i) => [
        { name: `worker-${i}`, pid: w.pid },
        ...(w.nannyPid === null ? [] : [{
          name: `nanny-${i}`,
          pid: w.nannyPid,
        }]),
      ]),
    ];
    // A nanny opens its worker's /proc files ten times a second: a file
    // open at the moment of a look is no leak. Three looks, 150 ms apart;
    // the fewest files, sockets and mappings of each process count.
    const look = async () =>
      Object.fromEntries(
        await Promise.all(
          processes().map(async (p) => [p.name, await figures(p.pid)]),
        ),
      ) as Record<string, Figures>;
    const measure = async () => {
      const looks: Record<string, Figures>[] = [];
      for (let i = 0; i < 3; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 150));
        looks.push(await look());
      }
      const fewest = (name: string, k: keyof Figures) =>
        Math.min(...looks.map((l) => l[name][k]));
      return Object.fromEntries(
        Object.keys(looks[0]).map((name) => [name, {
          fds: fewest(name, "fds"),
          sockets: fewest(name, "sockets"),
          fileMaps: fewest(name, "fileMaps"),
          anonMaps: fewest(name, "anonMaps"),
          rss: looks[2][name].rss,
        }]),
      ) as Record<string, Figures>;
    };
    let before: Record<string, Figures> = {};
    for (let round = 0; round < WARM_UP + ROUNDS; round++) {
      if (round === WARM_UP) {
        // Heartbeats every second: let one pass so that both ends are idle.
        await new Promise((r) => setTimeout(r, 1200));
        before = await measure();
      }
      // Two independent inputs (placed on either worker) and their sum:
      // some rounds fetch an input from the other worker.
      const a = m.inc(round);
      const b = m.inc(round + 1);
      const c = m.sum(a, b);
      assert.equal(await c.result(), 2 * round + 3);
      a.release();
      b.release();
      c.release();
    }
    await new Promise((r) => setTimeout(r, 1200));
    const after = await measure();
    const table = Object.keys(before).map((name) => {
      const x = before[name];
      const y = after[name];
      return `${name}: fds ${x.fds}→${y.fds}, sockets ${x.sockets}→${y.sockets}, file maps ${x.fileMaps}→${y.fileMaps}, anonymous maps ${x.anonMaps}→${y.anonMaps}, VmRSS ${
        (x.rss / 2 ** 20).toFixed(1)
      }→${(y.rss / 2 ** 20).toFixed(1)} MiB`;
    });
    console.log(table.join("\n"));
    for (const name of Object.keys(before)) {
      const x = before[name];
      const y = after[name];
      assert.equal(y.fds, x.fds, `${name}: open files\n${table.join("\n")}`);
      assert.equal(
        y.sockets,
        x.sockets,
        `${name}: connections\n${table.join("\n")}`,
      );
      assert.equal(
        y.fileMaps,
        x.fileMaps,
        `${name}: mappings of files\n${table.join("\n")}`,
      );
      assert.ok(
        y.rss <= 1.1 * x.rss,
        `${name}: memory grew more than 10%\n${table.join("\n")}`,
      );
    }
    // Nothing left in the store: every round was released.
    const described = await client.workers();
    for (const w of described) {
      assert.equal(w.tasks?.memory ?? 0, 0, `${w.address} holds no key`);
    }
    assert.deepEqual(
      lines.filter((l) => / (ERROR|WARN) /.test(l)),
      [],
      "no warning in the cluster's log",
    );
  },
});

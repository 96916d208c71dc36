/**
 * Shared-memory mode end to end, with real worker processes on a real
 * tmpfs: a 256 MiB value moves between two workers by hard link (no payload
 * on the socket), and falls back to bytes across two tmpfs mounts.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { FIXTURES, OPS, type Ops } from "./_support.ts";

const MiB = 2 ** 20;
const LENGTH = 256 * MiB / 8;

interface Figures {
  address: string;
  linkedKeys: number;
  fetchedBytes: number;
  spilled: number;
}

/** Puts a 256 MiB chunk on one worker, replicates it to the other, and returns both workers' figures. */
async function moveOneValue(cluster: LocalCluster, log: string[]) {
  await using client = await Client.connect(cluster.address, {
    log: (line) => log.push(line),
  });
  await using scheduler = await connect(cluster.address);
  const m = client.module<Ops>(OPS);
  const big = m.chunk(3, LENGTH);
  const expected = await m.dot(big, big).result();
  const who = await scheduler.request("who-has", {
    keys: [big.key],
  }) as Record<string, string[]>;
  const holder = who[big.key][0];
  const receiver = (await client.workers()).find((w) => w.address !== holder)!
    .address;
  {
    await using to = await connect(receiver);
    await to.request("replicate", {
      keys: [big.key],
      who,
      sizes: { [big.key]: LENGTH * 8 },
    });
    // The receiver computes on its copy (asked directly, not placed).
    const frames = await to.request("get-data", { keys: [big.key] });
    assert.ok(frames !== null);
  }
  // Both compute on it: enough dot products that each worker runs some.
  const dots = await client.gather(
    Array.from({ length: 6 }, () => m.dot(big, big)),
  );
  for (const d of dots) assert.equal(d, expected);
  // Heartbeats carry the transfer figures (every second).
  let figures: Figures[] = [];
  for (let i = 0; i < 100; i++) {
    const workers = await client.workers();
    figures = workers.map((w) => ({
      address: w.address,
      linkedKeys: w.transfers?.linkedKeys ?? 0,
      fetchedBytes: w.transfers?.fetchedBytes ?? 0,
      spilled: w.store?.spilled.bytes ?? 0,
    }));
    // The value went from one worker to the other once (by replicate, or
    // by a dot placed beside it): count both workers.
    if (figures.some((f) => f.linkedKeys + f.fetchedBytes > 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const files = await bigFiles(cluster.spillRoot);
  big.release();
  return { holder, receiver, figures, files };
}

/** The value's spill files under `root` (recursively), by path. */
async function bigFiles(root: string): Promise<Deno.FileInfo[]> {
  const found: Deno.FileInfo[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else {
        const info = await Deno.stat(path);
        if (info.size >= LENGTH * 8) found.push(info);
      }
    }
  };
  await walk(root);
  return found;
}

Deno.test({
  name:
    "shared memory: a 256 MiB value reaches a same-host peer by hard link, with no payload on the socket",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("1200m");
    const log: string[] = [];
    await using cluster = await LocalCluster.start({
      workers: 2,
      memoryLimit: "1GiB",
      sharedMemory: true,
      target: 0,
      spillDir: tmpfs.path,
      modules: [FIXTURES],
      log: (line) => log.push(line),
    });
    const { figures, files: big } = await moveOneValue(cluster, log);
    const linked = figures.reduce((n, f) => n + f.linkedKeys, 0);
    const fetched = figures.reduce((n, f) => n + f.fetchedBytes, 0);
    assert.equal(linked, 1, `linked; log:\n${log.join("\n")}`);
    assert.equal(fetched, 0, "no payload bytes on the socket");
    // One file, linked into both workers' directories.
    assert.equal(big.length, 2, "the value's file in both directories");
    assert.equal(big[0].ino, big[1].ino, "one inode");
    assert.equal(big[0].nlink, 2);
  },
});

Deno.test({
  name:
    "shared memory: workers on two different tmpfs mounts fall back to a byte transfer, same result",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using a = await mountTmpfs("600m");
    await using b = await mountTmpfs("600m");
    const log: string[] = [];
    // Two single-worker clusters cannot share a scheduler; start one
    // cluster on mount a, and a second worker process on mount b.
    await using cluster = await LocalCluster.start({
      workers: 1,
      memoryLimit: "512MiB",
      sharedMemory: true,
      target: 0,
      spillDir: a.path,
      modules: [FIXTURES],
      log: (line) => log.push(line),
    });
    const worker = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        new URL("../../cli.ts", import.meta.url).pathname,
        "worker",
        cluster.address,
        "--no-nanny",
        "--shared-memory",
        "--target",
        "0",
        "--memory-limit",
        "512MiB",
        "--spill-dir",
        b.path,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "piped",
    }).spawn();
    try {
      await using client = await Client.connect(cluster.address);
      for (let i = 0; i < 300 && (await client.workers()).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await client.workers()).length, 2, "both workers joined");
      const { figures } = await moveOneValue(cluster, log);
      const linked = figures.reduce((n, f) => n + f.linkedKeys, 0);
      const fetched = figures.reduce((n, f) => n + f.fetchedBytes, 0);
      assert.equal(linked, 0, "no link across two filesystems");
      assert.ok(fetched >= LENGTH * 8, `bytes were sent (${fetched})`);
    } finally {
      worker.kill("SIGTERM");
      await worker.stdin.close().catch(() => {});
      await worker.output().catch(() => {});
    }
  },
});

/**
 * Shared-memory mode end to end, with real worker processes on a real
 * tmpfs: a 256 MiB value moves between two workers by hard link (no payload
 * on the socket), and falls back to bytes across two tmpfs mounts.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import type { ModuleProxy } from "../../src/client/client.ts";
import type { RpcPeer } from "../../src/comm/rpc.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { connect } from "../../src/comm/server.ts";
import { statfs } from "../../src/platform/libc.ts";
import { filesUnder, type FoundFile } from "../_support/files.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { exists, FIXTURES, OPS, type Ops, until } from "./_support.ts";

const MiB = 2 ** 20;
const LENGTH = 256 * MiB / 8;

interface Figures {
  address: string;
  linkedKeys: number;
  fetchedBytes: number;
  spilled: number;
  /** Managed bytes the worker's store let go of (StoreMetrics.released). */
  released: number;
}

/** Puts a chunk of `length` doubles on one worker and replicates it to the other. */
async function onBoth(
  client: Client,
  scheduler: RpcPeer,
  m: ModuleProxy<Ops>,
  length: number,
) {
  const big = m.chunk(3, length);
  const expected = await m.dot(big, big).result();
  const who = await scheduler.request("who-has", {
    keys: [big.key],
  }) as Record<string, string[]>;
  const holder = who[big.key][0];
  const receiver = (await client.workers()).find((w) => w.address !== holder)!
    .address;
  await using to = await connect(receiver);
  await to.request("replicate", {
    keys: [big.key],
    who,
    sizes: { [big.key]: length * 8 },
  });
  // The receiver computes on its copy (asked directly, not placed).
  const frames = await to.request("get-data", { keys: [big.key] });
  assert.ok(frames !== null);
  return { big, expected, holder, receiver };
}

/** Puts a 256 MiB chunk on one worker, replicates it to the other, and returns both workers' figures. */
async function moveOneValue(
  cluster: LocalCluster,
  log: string[],
  oneTmpfs: boolean,
) {
  await using client = await Client.connect(cluster.address, {
    log: (line) => log.push(line),
  });
  await using scheduler = await connect(cluster.address);
  const m = client.module<Ops>(OPS);
  const { big, expected, holder, receiver } = await onBoth(
    client,
    scheduler,
    m,
    LENGTH,
  );
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
      released: w.store?.released ?? 0,
    }));
    // The value went from one worker to the other once (by replicate, or
    // by a dot placed beside it): count both workers.
    if (figures.some((f) => f.linkedKeys + f.fetchedBytes > 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const files = (await bigFiles(cluster.spillRoot)).map((f) => f.info);
  // What the workers report as spilled (each file counted as size / links),
  // beside what the spill root's filesystem has in use.
  const usage = async () => {
    const workers = await client.workers();
    const fs = statfs(cluster.spillRoot);
    return {
      reported: workers.reduce((n, w) => n + (w.store?.spilled.bytes ?? 0), 0),
      used: (fs.blocks - fs.availableBlocks) * fs.blockSize,
    };
  };
  let accounting = await usage();
  for (let i = 0; oneTmpfs && i < 50; i++) {
    if (Math.abs(accounting.reported - accounting.used) < MiB) break;
    await new Promise((r) => setTimeout(r, 200));
    accounting = await usage();
  }
  big.release();
  return { holder, receiver, figures, files, accounting };
}

/** The spill files under `root` (recursively) of values of `length` doubles or more. */
async function bigFiles(root: string, length = LENGTH): Promise<FoundFile[]> {
  return (await filesUnder(root)).filter((f) => f.info.size >= length * 8);
}

/**
 * A 2-worker cluster in shared-memory mode (target 0) on `spillDir`, with a
 * client; the log of both goes to `log`.
 */
async function sharedCluster(spillDir: string, memoryLimit = "512MiB") {
  const log: string[] = [];
  const cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit,
    sharedMemory: true,
    target: 0,
    spillDir,
    modules: [FIXTURES],
    log: (line) => log.push(line),
  });
  const client = await Client.connect(cluster.address, {
    log: (line) => log.push(line),
  }).catch(async (error) => {
    await cluster.close();
    throw error;
  });
  return {
    cluster,
    client,
    log,
    m: client.module<Ops>(OPS),
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await cluster.close();
    },
  };
}

Deno.test({
  name:
    "shared memory: a 256 MiB value reaches a same-host peer by hard link, with no payload on the socket",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("1200m");
    await using shared = await sharedCluster(tmpfs.path, "1GiB");
    const { cluster, log } = shared;
    const { figures, files: big, accounting } = await moveOneValue(
      cluster,
      log,
      true,
    );
    const linked = figures.reduce((n, f) => n + f.linkedKeys, 0);
    const fetched = figures.reduce((n, f) => n + f.fetchedBytes, 0);
    assert.equal(linked, 1, `linked; log:\n${log.join("\n")}`);
    assert.equal(fetched, 0, "no payload bytes on the socket");
    // target 0: the executor wrote the value to the tmpfs itself; it never
    // entered a worker's store memory (which would have let go of it).
    const released = figures.reduce((n, f) => n + f.released, 0);
    assert.ok(released < LENGTH * 8, `released ${released} bytes`);
    // One file, linked into both workers' directories.
    assert.equal(big.length, 2, "the value's file in both directories");
    assert.equal(big[0].ino, big[1].ino, "one inode");
    assert.equal(big[0].nlink, 2);
    // Each worker counts half of the shared file: together, the tmpfs usage.
    assert.ok(
      Math.abs(accounting.reported - accounting.used) < MiB,
      `workers report ${accounting.reported} bytes spilled, the tmpfs has ${accounting.used} in use`,
    );
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
      const { figures } = await moveOneValue(cluster, log, false);
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

/** Mappings (/proc/pid/maps) and open files (/proc/pid/fd) of `pid` under `root`. */
async function heldUnder(
  pid: number,
  root: string,
): Promise<{ maps: string[]; fds: string[] }> {
  const maps = (await Deno.readTextFile(`/proc/${pid}/maps`)).split("\n")
    .filter((line) => line.includes(root));
  const fds: string[] = [];
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith(root)) fds.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return { maps, fds };
}

Deno.test({
  name:
    "shared memory: after a run, no worker process keeps a mapping or an open file of the spill root, and the files are gone",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("600m");
    await using shared = await sharedCluster(tmpfs.path);
    const { cluster, client, m } = shared;
    const n = (16 * MiB) / 8;
    const chunks = [0, 1, 2, 3].map((i) => m.chunk(i, n));
    const dots = [];
    for (let i = 0; i < chunks.length; i++) {
      for (let j = i; j < chunks.length; j++) {
        dots.push(m.dot(chunks[i], chunks[j]));
      }
    }
    const values = await client.gather(dots);
    assert.equal(values.length, 10);
    const before = await filesUnder(cluster.spillRoot);
    assert.ok(
      before.filter((f) => f.info.size >= n * 8).length >= 4,
      "the chunks are on the tmpfs",
    );
    const pids = cluster.workers.map((w) => w.pid);
    for (const c of chunks) c.release();
    for (const d of dots) d.release();
    const leftovers = await until(
      async () => {
        const held = await Promise.all(
          pids.map((pid) => heldUnder(pid, tmpfs.path)),
        );
        const files = await filesUnder(cluster.spillRoot);
        const clean = held.every((h) => h.maps.length + h.fds.length === 0) &&
          files.length === 0;
        return clean ? held : null;
      },
      "mappings, open files and spill files to go",
      20_000,
    ).catch(
      async (error) => {
        const held = await Promise.all(
          pids.map((pid) => heldUnder(pid, tmpfs.path)),
        );
        throw new Error(
          `${(error as Error).message}: ${JSON.stringify(held)}; files ${
            JSON.stringify(await filesUnder(cluster.spillRoot))
          }`,
        );
      },
    );
    assert.equal(leftovers.length, 2);
    // The workers' own counts agree (heartbeats, every second).
    await until(async () => {
      const workers = await client.workers();
      return workers.every((w) => w.store?.mappings.live === 0);
    }, "the workers to report no live mapping");
  },
});

Deno.test({
  name:
    "shared memory: a killed worker's directory is removed by its nanny, and its peer's link of a value stays readable",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("600m");
    await using shared = await sharedCluster(tmpfs.path);
    const { cluster, client, log, m } = shared;
    await using scheduler = await connect(cluster.address);
    const length = (64 * MiB) / 8;
    const { big, expected, holder, receiver } = await onBoth(
      client,
      scheduler,
      m,
      length,
    );
    const at = (address: string) =>
      cluster.workers.findIndex((w) => w.address === address);
    const { pid, spillDir } = cluster.workers[at(holder)];
    const peerDir = cluster.workers[at(receiver)].spillDir;
    const linked = await bigFiles(peerDir, length);
    assert.equal(linked.length, 1, "the peer holds a link of the value");
    assert.equal(linked[0].info.nlink, 2);

    cluster.killWorker(at(holder));
    await cluster.restarted(at(holder), pid);
    assert.ok(!exists(spillDir), "the killed worker's directory is removed");
    const after = await Deno.stat(linked[0].path);
    assert.equal(after.ino, linked[0].info.ino, "the peer's file is the same");
    assert.equal(after.nlink, 1, "the dead worker's link went with its dir");
    // The value was not lost: the peer holds it, and computes on its link.
    const who = await scheduler.request("who-has", {
      keys: [big.key],
    }) as Record<string, string[]>;
    assert.deepEqual(who[big.key], [receiver]);
    assert.equal(await m.dot(big, big).result(), expected, log.join("\n"));
  },
});

Deno.test({
  name:
    "shared memory: a task writing into its mapped input changes neither the file nor what the other worker computes",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("600m");
    await using shared = await sharedCluster(tmpfs.path);
    const { cluster, client, log, m } = shared;
    await using scheduler = await connect(cluster.address);
    const length = (32 * MiB) / 8;
    const { big, expected } = await onBoth(client, scheduler, m, length);
    const files = await bigFiles(cluster.spillRoot, length);
    assert.equal(files.length, 2, "linked into both directories");
    const before = await Deno.readFile(files[0].path);
    // chunk(3, n)[i] = 3 + i: the sum of the doubled chunk.
    const doubledSum = 2 * (3 * length + (length * (length - 1)) / 2);
    // Several writers and readers, on both workers (placed by load).
    const writes = Array.from({ length: 4 }, () => m.doubleInPlace(big));
    const reads = Array.from({ length: 4 }, () => m.dot(big, big));
    for (const s of await client.gather(writes)) assert.equal(s, doubledSum);
    for (const d of await client.gather(reads)) assert.equal(d, expected);
    const after = await Deno.readFile(files[0].path);
    assert.ok(
      before.length === after.length && before.every((b, i) => b === after[i]),
      "the file is unchanged",
    );
    assert.equal(await m.dot(big, big).result(), expected, log.join("\n"));
  },
});

/**
 * Helpers of the benchmarks that run a local cluster.
 *
 * @module
 */
import type { Client } from "../src/client/client.ts";
import type { RpcPeer } from "../src/comm/rpc.ts";
import { connect } from "../src/comm/server.ts";
import { sleep } from "./_common.ts";

/**
 * Copies `key` (of `bytes` bytes) from the worker holding it to the other
 * worker with the `replicate` operation; returns the milliseconds from the
 * request to its reply.
 */
export async function timeReplication(
  client: Client,
  scheduler: RpcPeer,
  key: string,
  bytes: number,
): Promise<number> {
  const who = await scheduler.request("who-has", { keys: [key] }) as Record<
    string,
    string[]
  >;
  const holder = who[key][0];
  const receiver = (await client.workers()).find((w) => w.address !== holder)!
    .address;
  await using to = await connect(receiver);
  const start = performance.now();
  await to.request("replicate", { keys: [key], who, sizes: { [key]: bytes } });
  return performance.now() - start;
}

/** A tmpfs for a benchmark's shared-memory runs, removed by `done()`. */
export interface BenchTmpfs {
  /** Its path. */
  path: string;
  /** Whether it is a tmpfs of our own (else a directory in /dev/shm). */
  mounted: boolean;
  /** Unmounts (or removes) it. */
  done(): Promise<void>;
}

/**
 * Mounts a tmpfs of `bytes` (needs root), or falls back to a directory in
 * /dev/shm (whose processes then need `-A`: Deno refuses scoped grants
 * under /dev).
 */
export async function benchTmpfs(bytes: number): Promise<BenchTmpfs> {
  const path = await Deno.makeTempDir({ prefix: "spillway-bench-shm-" });
  const mount = await new Deno.Command("mount", {
    args: [
      "-t",
      "tmpfs",
      "-o",
      `size=${bytes},huge=within_size`,
      "tmpfs",
      path,
    ],
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (mount.success) {
    return {
      path,
      mounted: true,
      async done() {
        await new Deno.Command("umount", { args: [path] }).output();
        await Deno.remove(path);
      },
    };
  }
  await Deno.remove(path);
  const shm = await Deno.makeTempDir({
    dir: "/dev/shm",
    prefix: "spillway-bench-",
  });
  return {
    path: shm,
    mounted: false,
    done: () => Deno.remove(shm, { recursive: true }),
  };
}

/**
 * Host memory in use, two ways, from /proc/meminfo: `used` is
 * MemTotal − MemAvailable; `anonShmem` is AnonPages + Shmem (process memory
 * plus tmpfs pages, each page once). On these VMs the balloon's free-page
 * reporting keeps freed pages out of MemAvailable for a minute or more
 * (about 20 MiB/s come back), which raises `used` after a large free;
 * `anonShmem` does not see that.
 */
export interface HostMemory {
  /** MemTotal − MemAvailable. */
  used: number;
  /** AnonPages + Shmem. */
  anonShmem: number;
}

/** Reads {@linkcode HostMemory} now. */
export async function hostMemory(): Promise<HostMemory> {
  const text = await Deno.readTextFile("/proc/meminfo");
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (match === null) throw new Error(`/proc/meminfo has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return {
    used: field("MemTotal") - field("MemAvailable"),
    anonShmem: field("AnonPages") + field("Shmem"),
  };
}

/**
 * Host memory at rest: waits until `used` has stopped falling (less than
 * 32 MiB lower than 10 s before; at most `maxWaitMs`), then returns the
 * lowest of the last few samples of each figure.
 */
export async function hostMemoryAtRest(
  maxWaitMs = 180_000,
): Promise<HostMemory> {
  const deadline = performance.now() + maxWaitMs;
  const history = [await hostMemory()];
  while (performance.now() < deadline) {
    await sleep(1000);
    history.push(await hostMemory());
    const before = history.at(-11);
    if (before && before.used - history.at(-1)!.used < 32 * 2 ** 20) break;
  }
  const recent = history.slice(-3);
  return {
    used: Math.min(...recent.map((m) => m.used)),
    anonShmem: Math.min(...recent.map((m) => m.anonShmem)),
  };
}

/**
 * Samples {@linkcode hostMemory} every `intervalMs` until `stop()`, which
 * returns the highest figure of each kind seen.
 */
export function sampleHostMemory(
  intervalMs = 100,
): { stop(): Promise<HostMemory> } {
  const peak: HostMemory = { used: 0, anonShmem: 0 };
  const take = (m: HostMemory) => {
    peak.used = Math.max(peak.used, m.used);
    peak.anonShmem = Math.max(peak.anonShmem, m.anonShmem);
  };
  let pending = Promise.resolve();
  const timer = setInterval(() => {
    pending = hostMemory().then(take);
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      take(await hostMemory());
      return peak;
    },
  };
}

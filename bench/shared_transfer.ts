/**
 * Same-host transfer of a 256 MiB value between two worker processes:
 * shared-memory mode (a hard link on a tmpfs) beside private mode (the bytes
 * over a socket), in the same run. Target: the link ≥ 50× faster.
 *
 * Needs root to mount its tmpfs (else it uses /dev/shm, which needs -A).
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/shared_transfer.ts [--size 256MiB] [--rounds 5]
 * ```
 *
 * @module
 */
import { Client } from "../src/client/client.ts";
import { LocalCluster } from "../src/cluster/local_cluster.ts";
import { connect } from "../src/comm/server.ts";
import { countFlag, median, parseFlags, sizeFlag, sleep } from "./_common.ts";
import { benchTmpfs, timeReplication } from "./_cluster.ts";
import { finish, formatRatio, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/shared_transfer.ts [options]

  --size <bytes>   the value (default 256MiB)
  --rounds <n>     rounds after one warm-up round; the median is reported (default 5)`;

const OPS = new URL("../tests/cluster/fixtures/ops.ts", import.meta.url);

/** Median ms of moving one `size`-byte value from one worker to the other. */
async function transfer(
  shared: boolean,
  dir: string,
  size: number,
  rounds: number,
): Promise<
  { ms: number; rounds: number[]; linked: number; fetched: number }
> {
  const length = Math.floor(size / 8);
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: 4 * size,
    sharedMemory: shared,
    target: shared ? 0 : undefined,
    spillDir: dir,
    allowAll: dir.startsWith("/dev/"),
    modules: [new URL(".", OPS)],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, { log: () => {} });
  await using scheduler = await connect(cluster.address);
  const m = client.module<typeof import("../tests/cluster/fixtures/ops.ts")>(
    OPS,
  );
  const times: number[] = [];
  // Round 0 warms up (the peer connection, the JIT) and is not counted.
  for (let round = 0; round <= rounds; round++) {
    const big = m.chunk(round, length);
    await m.dot(big, big).result();
    // Let the holder's spill of the new value finish (with target 0 it
    // starts at once): the link is timed on a value already on the tmpfs.
    await sleep(1500);
    const ms = await timeReplication(client, scheduler, big.key, length * 8);
    if (round > 0) times.push(ms);
    big.release();
  }
  await sleep(1200); // one heartbeat
  const workers = await client.workers();
  const sum = (f: (w: (typeof workers)[number]) => number) =>
    workers.reduce((n, w) => n + f(w), 0);
  return {
    ms: median(times),
    rounds: times,
    linked: sum((w) => w.transfers?.linkedKeys ?? 0),
    fetched: sum((w) => w.transfers?.fetchedBytes ?? 0),
  };
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    size: { type: "string", default: "256MiB" },
    rounds: { type: "string", default: "5" },
  }, args);
  const size = sizeFlag(flags.size, "size");
  const rounds = countFlag(flags.rounds, "rounds");
  console.log(
    `\n# same-host transfer of ${
      size / 2 ** 20
    } MiB: hard link vs socket, ${rounds} rounds`,
  );
  const fs = await benchTmpfs(8 * size + 2 ** 28);
  try {
    const link = await transfer(true, fs.path, size, rounds);
    const socket = await transfer(false, fs.path, size, rounds);
    const ratio = socket.ms / link.ms;
    const rows: Row[] = [{
      figure: "same-host transfer, ms",
      value: link.ms.toFixed(1),
      baseline: `${socket.ms.toFixed(1)} over the socket`,
      ratio: formatRatio(ratio),
      target: "≥ 50× faster",
      met: ratio >= 50,
    }];
    const result = printTable("shared transfer", rows, [
      `shared mode: ${link.linked} keys linked, ${link.fetched} payload bytes received; private mode: ${socket.fetched} bytes received`,
      "timed from the replicate request to its reply, 1.5 s after the value was made (its spill to the tmpfs done); a value still being written costs its write (~100 ms here)",
      `rounds (ms), after one warm-up round not counted: link ${
        link.rounds.map((t) => t.toFixed(1)).join(", ")
      }; socket ${socket.rounds.map((t) => t.toFixed(1)).join(", ")}`,
    ]);
    finish("shared_transfer", result);
  } finally {
    await fs.done();
  }
}

if (import.meta.main) await run();

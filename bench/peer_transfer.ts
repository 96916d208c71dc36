/**
 * Peer transfer: a 1 GiB value moves from one worker process to another
 * (the receiver asks the holder with `get-data`, the holder answers with
 * `getFrames`, the receiver keeps the frames with `setFrames`: nothing is
 * deserialized), beside a raw TCP copy of the same bytes between two
 * processes on loopback into a fresh buffer (the receiver's case: every
 * message lands in new memory). Target ratio ≥ 0.7.
 *
 * ```sh
 * deno run -A bench/peer_transfer.ts [--size 1GiB] [--rounds 3]
 * ```
 *
 * @module
 */
import { Client } from "../src/client/client.ts";
import { LocalCluster } from "../src/cluster/local_cluster.ts";
import { connect } from "../src/comm/server.ts";
import { countFlag, fmt, median, parseFlags, sizeFlag } from "./_common.ts";
import { timeReplication } from "./_cluster.ts";
import { finish, formatRatio, printTable, type Row } from "./_table.ts";

const USAGE = `usage: deno run -A bench/peer_transfer.ts [options]

  --size <size>   bytes moved each round (default 1GiB)
  --rounds <n>    rounds; the median is reported (default 3)`;

const OPS = new URL("../tests/cluster/fixtures/ops.ts", import.meta.url);
const SLICE = 1 << 20;

/** Child side of the raw baseline: connect and write `size` pre-touched bytes. */
async function rawSender(port: number, size: number): Promise<void> {
  const payload = new Uint8Array(size).fill(7);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (let at = 0; at < size;) {
    at += await conn.write(payload.subarray(at, Math.min(size, at + SLICE)));
  }
}

/** One raw copy: a child process sends `size` bytes; returns the receiving time in ms. */
async function rawCopy(size: number): Promise<number> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      String(listener.addr.port),
      String(size),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  using conn = await listener.accept();
  const into = new Uint8Array(size); // fresh, as a worker's message buffer is
  let start = 0;
  for (let at = 0; at < size;) {
    const n = await conn.read(into.subarray(at));
    if (n === null) throw new Error("raw copy ended early");
    if (at === 0) start = performance.now();
    at += n;
  }
  const ms = performance.now() - start;
  await child.status;
  if (into[size - 1] !== 7) throw new Error("raw copy: wrong bytes");
  return ms;
}

/** Runs the benchmark with command-line `args`. */
export async function run(args: string[] = Deno.args): Promise<void> {
  const flags = parseFlags(USAGE, {
    size: { type: "string", default: "1GiB" },
    rounds: { type: "string", default: "3" },
  }, args);
  const size = sizeFlag(flags.size, "size");
  const rounds = countFlag(flags.rounds, "rounds");
  const length = Math.floor(size / 8);
  console.log(
    `\n# peer transfer: ${
      fmt(length * 8)
    } between two worker processes, ${rounds} rounds`,
  );

  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: Math.max(4 * 2 ** 30, 4 * size),
    modules: [new URL(".", OPS)],
  });
  await using client = await Client.connect(cluster.address);
  await using scheduler = await connect(cluster.address);
  const m = client.module<typeof import("../tests/cluster/fixtures/ops.ts")>(
    OPS,
  );

  const peer: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const big = m.chunk(round, length);
    await m.dot(big, big).result(); // computed and held by one worker; nothing comes to the client
    peer.push(
      await timeReplication(client, scheduler, big.key, length * 8),
    );
    big.release();
    raw.push(await rawCopy(length * 8));
  }
  const mibs = (ms: number) => (length * 8) / 2 ** 20 / (ms / 1000);
  const rows: Row[] = [{
    figure: "worker → worker, MiB/s",
    value: mibs(median(peer)).toFixed(0),
    baseline: `${mibs(median(raw)).toFixed(0)} raw TCP, fresh buffer`,
    ratio: formatRatio(median(raw) / median(peer)),
    target: "ratio ≥ 0.70",
    met: median(raw) / median(peer) >= 0.7,
  }];
  const result = printTable("peer transfer", rows, [
    `worker → worker ms: ${peer.map((v) => v.toFixed(0)).join(", ")}; raw ms: ${
      raw.map((v) => v.toFixed(0)).join(", ")
    }`,
    "worker → worker is timed from the request to the reply: get-data, getFrames on the holder, setFrames on the receiver",
  ]);
  finish("peer_transfer", result);
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await rawSender(Number(Deno.args[1]), Number(Deno.args[2]));
  } else await run();
}

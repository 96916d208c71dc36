/**
 * Throughput of one big message through `Connection`, against a raw TCP copy of the same bytes
 * between the same two processes, over the same loopback socket, in the same run.
 *
 * A child process (this file with `--child`) holds a payload of `--size` bytes as stored
 * `Frames`: `serialize()` of `--size / --buffer` Float64Arrays of `--buffer` bytes each
 * (default 1 GiB as 16 × 64 MiB buffers; `--buffer` equal to `--size` gives one buffer). The
 * parent asks for it with one control byte and times until it has it, four ways per round:
 *
 * - raw, pre-touched: the child writes the payload buffers with `conn.write` in 1 MiB slices;
 *   the parent `conn.read`s into a preallocated, already touched buffer (the baseline);
 * - Connection, pre-touched: the child sends `{ op: "data", key, payload: frames }` with
 *   `Connection.send`; the parent's `Connection.receive()` reads it into a pre-touched buffer
 *   given by the `allocate` option, then decodes it (zero-copy views);
 * - raw, fresh: as raw, but into a buffer allocated after the timer starts;
 * - Connection, default: `receive()` allocates a fresh buffer per message, as it does by
 *   default.
 *
 * Fresh memory on these VMs is slow to touch the first time (docs/platform.md#first-touch-of-memory), so the two
 * pre-touched figures compare the transports, and the two fresh ones show what a fresh
 * allocation per message costs each. Figures are medians over `--rounds`.
 *
 * ```sh
 * deno run -A bench/comm_throughput.ts [--size 1GiB] [--buffer 64MiB] [--rounds 3]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Connection } from "../src/comm/mod.ts";
import { deserialize, type Frames, serialize } from "../src/serialize/mod.ts";
import { formatBytes, parseBytes } from "../src/memory/bytes.ts";
import { median, mibPerSecond } from "./_common.ts";
import { finish, printTable, type Row } from "./_table.ts";

const MiB = 2 ** 20;
const SLICE = MiB;
const RAW = 1;
const MESSAGE = 2;
const EXIT = 0;

const USAGE = `usage: deno run -A bench/comm_throughput.ts [options]

  --size <size>      payload bytes per message (default 1GiB)
  --buffer <size>    bytes per payload buffer (default 64MiB; = --size for one buffer)
  --rounds <n>       rounds of the four measurements; medians are reported (default 3)`;

interface Settings {
  size: number;
  buffer: number;
  rounds: number;
}

function settings(args: string[]): Settings & { child: boolean; port: number } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      options: {
        size: { type: "string", default: "1GiB" },
        buffer: { type: "string", default: "64MiB" },
        rounds: { type: "string", default: "3" },
        child: { type: "boolean", default: false },
        port: { type: "string", default: "0" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  try {
    const size = parseBytes(v.size);
    const buffer = Math.min(parseBytes(v.buffer), size);
    const rounds = Number(v.rounds);
    if (size < 8 || size % 8 !== 0) {
      throw new Error("--size: a multiple of 8 bytes");
    }
    if (buffer < 8 || buffer % 8 !== 0 || size % buffer !== 0) {
      throw new Error("--buffer: a multiple of 8 that divides --size");
    }
    if (!Number.isInteger(rounds) || rounds < 1) {
      throw new Error("--rounds: an integer >= 1");
    }
    return { size, buffer, rounds, child: v.child, port: Number(v.port) };
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
}

/** Records the longest gap between ticks of a 1 ms timer. */
class GapMonitor {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  max = 0;
  start(): void {
    this.max = 0;
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.max = Math.max(this.max, now - this.#last);
      this.#last = now;
    }, 1);
  }
  stop(): number {
    clearInterval(this.#timer);
    this.max = Math.max(this.max, performance.now() - this.#last);
    return this.max;
  }
}

async function readFull(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  let at = 0;
  while (at < into.byteLength) {
    const n = await conn.read(into.subarray(at));
    if (n === null) throw new Error("unexpected end of stream");
    at += n;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength;) {
    at += await conn.write(
      bytes.subarray(at, Math.min(bytes.byteLength, at + SLICE)),
    );
  }
}

// ------------------------------------------------------------------------------------------
// child: holds the payload, sends it on request

async function child(s: Settings & { port: number }): Promise<void> {
  const count = s.size / s.buffer;
  const arrays = Array.from(
    { length: count },
    (_, i) => new Float64Array(s.buffer / 8).fill(i + 1),
  );
  const frames: Frames = serialize(arrays); // the stored form: header + `count` buffers
  const message = { op: "data", key: "bench", payload: frames };
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  conn.setNoDelay(true);
  const connection = new Connection(conn); // used to send only; control bytes are read raw
  const control = new Uint8Array(1);
  const gaps = new GapMonitor();
  const sendGaps: { raw: number[]; message: number[] } = {
    raw: [],
    message: [],
  };
  for (;;) {
    await readFull(conn, control);
    if (control[0] === EXIT) break;
    gaps.start();
    if (control[0] === RAW) {
      for (const b of frames.buffers) await writeAll(conn, b);
      sendGaps.raw.push(gaps.stop());
    } else {
      await connection.send(message);
      sendGaps.message.push(gaps.stop());
    }
  }
  connection.close();
  console.log(JSON.stringify(sendGaps));
}

// ------------------------------------------------------------------------------------------
// parent: times the receiving side

function touched(bytes: number): Uint8Array {
  return new Uint8Array(bytes).fill(1);
}

/**
 * Loop-gap rows of one side. Each side's gaps are in run order: one warm-up, then per round
 * touched, fresh; so odd indexes are the pre-touched rounds and even ones (from 2) the fresh.
 */
function gapRows(
  side: string,
  gaps: { raw: number[]; message: number[] },
): Row[] {
  const pick = (xs: number[], touched: boolean) =>
    Math.max(...xs.filter((_, i) => i > 0 && (i % 2 === 1) === touched));
  const fmtMs = (x: number) => `${x.toFixed(1)} ms`;
  return [true, false].map((touched) => ({
    figure: `${side}: longest loop gap, ${
      touched ? "pre-touched" : "fresh"
    } rounds`,
    value: fmtMs(pick(gaps.message, touched)),
    baseline: `${fmtMs(pick(gaps.raw, touched))} raw`,
  }));
}

async function parent(s: Settings): Promise<void> {
  const count = s.size / s.buffer;
  console.log(
    `\n# comm throughput: one message of ${formatBytes(s.size)} ` +
      `(nested Frames, ${count} × ${formatBytes(s.buffer)} buffer${
        count === 1 ? "" : "s"
      }), ` +
      `child process → this process over 127.0.0.1, ${s.rounds} round(s)`,
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const self = fileURLToPath(import.meta.url);
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      self,
      "--child",
      "--port",
      String(listener.addr.port),
      "--size",
      String(s.size),
      "--buffer",
      String(s.buffer),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const childOut = new Response(proc.stdout).text();
  // If the child fails before it connects, say so instead of waiting forever.
  const conn = await Promise.race([
    listener.accept(),
    proc.status.then((status) => {
      throw new Error(
        `the child process exited (code ${status.code}) before connecting`,
      );
    }),
  ]);
  listener.close();
  conn.setNoDelay(true);

  // Pre-allocated and touched before any timing (docs/platform.md#first-touch-of-memory).
  const rawTouched = touched(s.size);
  // The message is the payload plus prelude, table and header: well under 1 MiB more.
  const pool = touched(s.size + MiB);
  let usePool = false;
  const connection = new Connection(conn, {
    allocate: (
      n,
    ) => (usePool && n <= pool.byteLength
      ? pool.subarray(0, n)
      : new Uint8Array(n)),
  });
  const go = new Uint8Array(1);
  const gaps = new GapMonitor();
  const times = {
    rawTouched: [] as number[],
    msgTouched: [] as number[],
    rawFresh: [] as number[],
    msgFresh: [] as number[],
  };
  const recvGaps = { raw: [] as number[], message: [] as number[] };
  let messageBytes = 0;

  const raw = async (fresh: boolean): Promise<number> => {
    gaps.start();
    const t0 = performance.now();
    go[0] = RAW;
    await conn.write(go);
    const into = fresh ? new Uint8Array(s.size) : rawTouched;
    await readFull(conn, into);
    const ms = performance.now() - t0;
    recvGaps.raw.push(gaps.stop());
    // Outside the timing: the bytes are the child's (buffer i is filled with i + 1).
    const f = new Float64Array(into.buffer, 0, into.byteLength / 8);
    const per = s.buffer / 8;
    for (let i = 0; i < count; i++) {
      if (f[i * per] !== i + 1 || f[(i + 1) * per - 1] !== i + 1) {
        throw new Error(`raw copy: buffer ${i} has wrong contents`);
      }
    }
    return ms;
  };

  const viaConnection = async (fresh: boolean): Promise<number> => {
    usePool = !fresh;
    const before = connection.bytesReceived;
    gaps.start();
    const t0 = performance.now();
    go[0] = MESSAGE;
    await conn.write(go);
    const received = await connection.receive() as {
      op: string;
      payload: Frames;
    };
    const ms = performance.now() - t0;
    recvGaps.message.push(gaps.stop());
    messageBytes = connection.bytesReceived - before;
    // Outside the timing: zero-copy views of one message buffer, with the right contents.
    const { payload } = received;
    const messageBuffer = payload.header.buffer;
    if (!payload.buffers.every((b) => b.buffer === messageBuffer)) {
      throw new Error("payload buffers do not view the message buffer");
    }
    if (!fresh && messageBuffer !== pool.buffer) {
      throw new Error("allocate option not used");
    }
    const arrays = deserialize(payload) as Float64Array[];
    arrays.forEach((a, i) => {
      if (
        a.buffer !== messageBuffer || a[0] !== i + 1 ||
        a[a.length - 1] !== i + 1
      ) {
        throw new Error(`message: buffer ${i} has wrong contents or is a copy`);
      }
    });
    return ms;
  };

  // One warm-up of each path (connection set-up, JIT), then the measured rounds.
  await raw(false);
  await viaConnection(false);
  for (let r = 0; r < s.rounds; r++) {
    times.rawTouched.push(await raw(false));
    times.msgTouched.push(await viaConnection(false));
    times.rawFresh.push(await raw(true));
    times.msgFresh.push(await viaConnection(true));
  }
  go[0] = EXIT;
  await conn.write(go);
  const sendGaps = JSON.parse((await childOut).trim()) as {
    raw: number[];
    message: number[];
  };
  await proc.status;
  connection.close();

  const rate = (bytes: number, ms: number[]) => mibPerSecond(bytes, median(ms));
  const rawT = rate(s.size, times.rawTouched);
  const msgT = rate(s.size, times.msgTouched);
  const rawF = rate(s.size, times.rawFresh);
  const msgF = rate(s.size, times.msgFresh);
  const fmtRate = (x: number) => `${x.toFixed(0)} MiB/s`;
  const rows: Row[] = [
    {
      figure: "Connection, into a pre-touched buffer (allocate option)",
      value: fmtRate(msgT),
      baseline: `${fmtRate(rawT)} raw`,
      ratio: msgT / rawT,
      target: "ratio ≥ 0.70",
      met: msgT / rawT >= 0.7,
    },
    {
      figure: "Connection, default fresh buffer per message",
      value: fmtRate(msgF),
      baseline: `${fmtRate(rawF)} raw fresh`,
      ratio: msgF / rawF,
      target: "ratio ≥ 0.70",
      met: msgF / rawF >= 0.7,
    },
    {
      figure: "Connection default vs raw pre-touched",
      value: fmtRate(msgF),
      baseline: `${fmtRate(rawT)} raw`,
      ratio: msgF / rawT,
    },
    ...gapRows("receiver", recvGaps),
    ...gapRows("sender", sendGaps),
  ];
  const result = printTable("comm throughput", rows, [
    `payload ${formatBytes(s.size)} as ${count} × ${formatBytes(s.buffer)}; ` +
    `message ${formatBytes(messageBytes)} (prelude, table, header and payload)`,
    `median of ${s.rounds} round(s) after one warm-up; each round runs the four in turn`,
    `timed from the control byte leaving the parent to the last byte read ` +
    `(and, for Connection, the message decoded)`,
    `raw ms: ${
      times.rawTouched.map((x) => x.toFixed(0)).join(", ")
    } (touched), ` +
    `${times.rawFresh.map((x) => x.toFixed(0)).join(", ")} (fresh); ` +
    `Connection ms: ${
      times.msgTouched.map((x) => x.toFixed(0)).join(", ")
    } (touched), ` +
    `${times.msgFresh.map((x) => x.toFixed(0)).join(", ")} (fresh)`,
  ]);
  finish("comm_throughput", result);
}

if (import.meta.main) {
  const s = settings(Deno.args);
  if (s.child) await child(s);
  else await parent(s);
}

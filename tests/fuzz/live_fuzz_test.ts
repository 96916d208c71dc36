/**
 * Fuzzing a live scheduler and a live worker (`cli.ts` processes on
 * loopback) with hostile input, while a legitimate client's job runs on
 * them:
 * - random bytes, and valid messages (made by the real serializer and frame
 *   encoder) with mutated preludes and headers: wrong types, unknown
 *   operations, huge lengths, deep nesting, truncated buffers;
 * - valid messages in the wrong place: a worker's operation sent to the
 *   scheduler, the scheduler's to the worker, control messages to a
 *   worker's listener, replies to requests never made, paths leading out of
 *   the spill directory;
 * - slow-loris connections sending a byte a second, held open throughout;
 * - when the tree has a connection handshake (`src/comm/handshake.ts`),
 *   messages before it and garbage in its place.
 *
 * Throughout, the client's chain of tasks keeps finishing with the right
 * results. Afterwards both processes run, answer a ping promptly, hold a
 * bounded resident memory, and logged a bounded number of lines (rate
 * limiting). The counts of each attack and of how it ended are printed.
 *
 * Bounded by default: 10,000 inputs. `SPILLWAY_FUZZ_SECONDS=600` (or
 * `-- --long`, 600 s) runs for that long instead; `SPILLWAY_FUZZ_SEED`
 * repeats a run.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { connect } from "../../src/comm/server.ts";
import { Connection } from "../../src/comm/connection.ts";
import {
  HANDSHAKE_MAX_BYTES,
  offerHandshake,
} from "../../src/comm/handshake.ts";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MessageReader,
} from "../../src/comm/message_reader.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/version.ts";
import { decodeFrames, deserialize } from "../../src/serialize/mod.ts";
import { OPS } from "../cluster/_support.ts";
import {
  BEFORE_HANDSHAKE,
  CATEGORIES,
  type Category,
  encode,
  type Input,
  inputs,
  NOT_MESSAGES,
  type Target,
} from "./_inputs.ts";
import {
  hostPort,
  type LiveCluster,
  rssOf,
  running,
  startLive,
} from "./_live.ts";

const MiB = 2 ** 20;
/** Inputs of the bounded run. */
const BOUNDED_INPUTS = 10_000;
/** Connections open at once. */
const LANES = 16;
/** How long one input may keep a connection before it counts as a hang. */
const PATIENCE_MS = 15_000;

const longSeconds = Number(
  Deno.env.get("SPILLWAY_FUZZ_SECONDS") ??
    (Deno.args.includes("--long") ? 600 : 0),
);
const seed = Number(
  Deno.env.get("SPILLWAY_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31),
);

/** How an input ended. */
type Outcome =
  | "closed" // the server closed the connection (refused)
  | "error-reply" // it answered with an error reply
  | "ok-reply" // it answered a request (e.g. a ping among the junk)
  | "ignored" // no answer, connection kept (then the probe was answered)
  | "hung"; // nothing within PATIENCE_MS: a failure

type Tally = Record<Outcome, number>;

function emptyTally(): Tally {
  return { closed: 0, "error-reply": 0, "ok-reply": 0, ignored: 0, hung: 0 };
}

/** Reads until end of stream (or reset); true when it came before `deadline`. */
async function drain(conn: Deno.Conn, deadline: number): Promise<boolean> {
  const buffer = new Uint8Array(16 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    if (Number.isFinite(deadline)) {
      timer = setTimeout(
        () => resolve(false),
        Math.max(0, deadline - Date.now()),
      );
    }
  });
  const read = (async () => {
    try {
      while ((await conn.read(buffer)) !== null) { /* discard */ }
    } catch {
      // reset: closed as well
    }
    return true;
  })();
  const done = await Promise.race([read, late]);
  clearTimeout(timer);
  return done;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed already
  }
}

/** Writes `bytes`; false when the server already closed (reset, broken pipe). */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let at = 0; at < bytes.byteLength;) {
      at += await conn.write(bytes.subarray(at));
    }
    return true;
  } catch {
    return false;
  }
}

const PROBE = encode({ id: "fuzz-probe", op: "ping", body: undefined });

/** A raw connection, and (after the handshake) a `Connection` over it to read replies. */
interface Opened {
  conn: Deno.Conn;
  connection: Connection | null;
}

/**
 * Opens a connection to `address`; with `handshake`, runs the connecting
 * side's handshake first (with the cluster's token), so that what follows
 * reaches the role's handlers.
 */
async function open(
  address: string,
  handshake: boolean,
  token: string | null,
): Promise<Opened> {
  const conn = await Deno.connect(hostPort(address));
  if (!handshake) return { conn, connection: null };
  const connection = new Connection(conn, {
    maxMessageBytes: HANDSHAKE_MAX_BYTES,
    log: () => {},
  });
  await offerHandshake(connection, {
    authToken: token,
    protocolVersion: PROTOCOL_VERSION,
  });
  connection.maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  return { conn, connection };
}

/** The next message on `opened`: a value, null at the end, "late" past `deadline`. */
async function nextReply(
  opened: Opened,
  reader: () => MessageReader,
  deadline: number,
): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(
      () => resolve("late"),
      Math.max(0, deadline - Date.now()),
    );
  });
  const next = opened.connection !== null
    ? opened.connection.receive().catch(() => null)
    : reader().next().then(
      (bytes) =>
        bytes === null
          ? null
          : deserialize(decodeFrames(bytes), { codecs: "keep" }) ?? {},
      () => null,
    );
  try {
    return await Promise.race([next, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends one input to `address` (after the handshake when `handshake`) and
 * says how it ended.
 */
async function attack(
  input: Input,
  address: string,
  handshake: boolean,
  token: string | null,
): Promise<Outcome> {
  const deadline = Date.now() + PATIENCE_MS;
  let opened: Opened;
  try {
    opened = await open(address, handshake, token);
  } catch (error) {
    throw new Error(
      `could not open an authenticated connection to ${address}`,
      {
        cause: error,
      },
    );
  }
  const { conn } = opened;
  let reader: MessageReader | undefined;
  const rawReader = () => reader ??= new MessageReader(conn);
  try {
    if ("raw" in input) {
      // Not a message: the server must close. Our end of stream comes after
      // the bytes, so a truncated message is truncated for the server too.
      if (await writeAll(conn, input.raw)) {
        await conn.closeWrite().catch(() => {});
      }
      if (opened.connection === null) {
        return (await drain(conn, deadline)) ? "closed" : "hung";
      }
      for (;;) {
        const reply = await nextReply(opened, rawReader, deadline);
        if (reply === "late") return "hung";
        if (reply === null) return "closed";
      }
    }
    for (const message of [...input.messages, PROBE]) {
      if (!(await writeAll(conn, message))) return "closed";
    }
    // Replies until the probe's; the connection may close first.
    let outcome: Outcome = "ignored";
    for (;;) {
      const reply = await nextReply(opened, rawReader, deadline) as
        | "late"
        | null
        | { re?: unknown; ok?: boolean };
      if (reply === "late") return "hung";
      if (reply === null) return "closed";
      if (reply.re === "fuzz-probe") return outcome;
      if (reply.ok === false) outcome = "error-reply";
      else if (outcome === "ignored" && reply.ok === true) outcome = "ok-reply";
    }
  } catch {
    return "closed";
  } finally {
    if (opened.connection !== null) opened.connection.close();
    closeQuietly(conn);
  }
}

/**
 * A slow-loris connection: the bytes of `messages`, over and over, one byte
 * a second, until `stop`. Returns how many bytes it sent and whether the
 * server closed it.
 */
async function slowLoris(
  address: string,
  message: Uint8Array,
  stop: Promise<void>,
  handshake: boolean,
  token: string | null,
): Promise<{ bytes: number; closedByServer: boolean }> {
  const { conn } = await open(address, handshake, token);
  let stopped = false;
  stop.then(() => (stopped = true));
  let bytes = 0;
  let closedByServer = false;
  // Replies (pongs) are read and dropped, so the server never blocks on us.
  const reading = drain(conn, Infinity).then(() => {
    closedByServer = !stopped;
  });
  try {
    while (!stopped && !closedByServer) {
      for (let i = 0; i < message.byteLength && !stopped; i++) {
        if (!(await writeAll(conn, message.subarray(i, i + 1)))) {
          closedByServer = true;
          break;
        }
        bytes++;
        await Promise.race([
          new Promise((resolve) => setTimeout(resolve, 1000)),
          stop,
        ]);
        if (closedByServer) break;
      }
    }
  } finally {
    closeQuietly(conn);
    await reading;
  }
  return { bytes, closedByServer };
}

/** The legitimate client's job: a chain of `inc` and a dot product, checked. */
async function legitimateRounds(
  address: string,
  token: string | null,
  stop: Promise<void>,
): Promise<{ rounds: number; tasks: number }> {
  let stopped = false;
  stop.then(() => (stopped = true));
  await using client = await Client.connect(address, {
    log: () => {},
    authToken: token,
  });
  let rounds = 0;
  let tasks = 0;
  // At least one round runs wholly during the attack, however fast it ends.
  while (!stopped || rounds === 0) {
    const start = rounds * 100;
    let x = client.submit<number>(OPS, "inc", start);
    for (let i = 1; i < 10; i++) x = client.submit<number>(OPS, "inc", x);
    const a = client.submit<Float64Array>(OPS, "chunk", rounds, 512);
    const b = client.submit<Float64Array>(OPS, "chunk", 1, 512);
    const dot = client.submit<number>(OPS, "dot", a, b);
    const total = client.submit<number>(OPS, "sum", x, dot);
    let expectedDot = 0;
    for (let i = 0; i < 512; i++) expectedDot += (rounds + i) * (1 + i);
    assert.equal(
      await total.result({ timeout: 60_000 }),
      start + 10 + expectedDot,
      `round ${rounds}`,
    );
    tasks += 14;
    rounds++;
  }
  return { rounds, tasks };
}

/** A prompt round trip: a ping answered within `timeout` ms. */
async function answers(
  address: string,
  token: string | null,
  timeout = 5_000,
): Promise<boolean> {
  await using peer = await connect(address, {
    log: () => {},
    authToken: token,
    protocolVersion: PROTOCOL_VERSION,
  });
  return (await peer.request("ping", undefined, { timeout })) === "pong";
}

Deno.test({
  name:
    "fuzz: a live scheduler and worker take 10,000 hostile inputs and slow-loris connections; a client's job finishes right throughout",
  // Fuzzing is slow on purpose; other tests' leaks are not ours to check.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using live: LiveCluster = await startLive();
    const token = live.authToken;
    const pids: Record<Target, number> = {
      scheduler: live.schedulerProcess.process.pid,
      worker: live.workerProcess.process.pid,
    };
    const addresses: Record<Target, string> = {
      scheduler: live.scheduler,
      worker: live.worker,
    };
    // Warm up (first import of the task module, first connections), then
    // take the baseline.
    await legitimateRounds(live.scheduler, token, Promise.resolve());
    const rssBefore = {
      scheduler: rssOf(pids.scheduler),
      worker: rssOf(pids.worker),
    };
    const logBefore = live.schedulerProcess.stderr.length +
      live.workerProcess.stderr.length;

    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));

    // Slow-loris: per target, two sending pings a byte a second, and one
    // declaring a 1 GiB buffer (within the default limit) and trickling it.
    const lorisMessages = [
      encode({ id: 1, op: "ping", body: undefined }),
      encode({ id: 2, op: "ping", body: undefined }),
      (() => {
        const m = encode({ id: 3, op: "ping", body: new Uint8Array(8) });
        new DataView(m.buffer).setBigUint64(16, 2n ** 30n, true);
        return m;
      })(),
    ];
    // Each twice: before the handshake (in its place) and after it.
    const lorises = (["scheduler", "worker"] as const).flatMap((target) =>
      [false, true].flatMap((handshake) =>
        lorisMessages.map((m) =>
          slowLoris(addresses[target], m, stopped, handshake, token)
        )
      )
    );
    const legitimate = legitimateRounds(live.scheduler, token, stopped);

    const tallies = new Map<string, Tally>();
    const tally = (
      category: string,
      target: Target,
      outcome: Outcome,
      before: boolean,
    ) => {
      const id = `${category}${
        before && !BEFORE_HANDSHAKE.has(category as Category)
          ? " (no handshake)"
          : ""
      } → ${target}`;
      let t = tallies.get(id);
      if (t === undefined) tallies.set(id, t = emptyTally());
      t[outcome]++;
    };
    const source = inputs(seed, addresses);
    const started = Date.now();
    const deadline = longSeconds > 0 ? started + longSeconds * 1000 : Infinity;
    let sent = 0;
    const turns = new Map<string, number>();
    let lastReport = started;
    const more = () =>
      longSeconds > 0 ? Date.now() < deadline : sent < BOUNDED_INPUTS;
    const lane = async () => {
      while (more()) {
        const input = source.next().value as Input;
        // Bytes that are no message go both before and after the
        // handshake; messages after it, but for the handshake's own.
        const turn = `${input.category}/${input.target}`;
        const n = turns.get(turn) ?? 0;
        turns.set(turn, n + 1);
        const before = BEFORE_HANDSHAKE.has(input.category) ||
          ("raw" in input && n % 2 === 0);
        sent++;
        tally(
          input.category,
          input.target,
          await attack(input, addresses[input.target], !before, token),
          before,
        );
        if (longSeconds > 0 && Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          console.log(
            `fuzz: ${sent} inputs after ${
              Math.round((lastReport - started) / 1000)
            } s`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    const fuzzSeconds = (Date.now() - started) / 1000;
    // The slow-loris connections were held open all along; let them go.
    stop();
    const lorisResults = await Promise.all(lorises);
    const job = await legitimate;

    // No crash, no hang.
    for (const target of ["scheduler", "worker"] as const) {
      assert.ok(running(pids[target]), `${target} died`);
      assert.ok(
        await answers(addresses[target], token),
        `${target} does not answer`,
      );
    }
    await using client = await Client.connect(live.scheduler, {
      log: () => {},
      authToken: token,
    });
    const workers = await client.workers();
    assert.deepEqual(workers.map((w) => w.address), [live.worker]);
    // Memory bounded.
    const rssAfter = {
      scheduler: rssOf(pids.scheduler),
      worker: rssOf(pids.worker),
    };
    const logLines = live.schedulerProcess.stderr.length +
      live.workerProcess.stderr.length - logBefore;

    const logFile = Deno.env.get("SPILLWAY_FUZZ_LOG");
    if (logFile !== undefined) {
      await Deno.writeTextFile(
        logFile,
        [...live.schedulerProcess.stderr, ...live.workerProcess.stderr].join(
          "\n",
        ),
      );
    }
    // The report.
    const rows: string[] = [];
    const totals = new Map<Category, number>();
    for (const [id, t] of [...tallies].sort()) {
      const n = Object.values(t).reduce((a, b) => a + b, 0);
      const category = id.split(/ [(→]/)[0] as Category;
      totals.set(category, (totals.get(category) ?? 0) + n);
      rows.push(
        `  ${id.padEnd(32)} ${
          String(n).padStart(6)
        }   closed ${t.closed}, error reply ${t["error-reply"]}, answered ${
          t["ok-reply"]
        }, ignored ${t.ignored}, hung ${t.hung}`,
      );
    }
    console.log(
      [
        `fuzz (seed ${seed}, ${
          token === null ? "no auth token" : "with an auth token"
        }): ${sent} inputs in ${
          fuzzSeconds.toFixed(1)
        } s, ${LANES} connections at a time`,
        ...rows,
        `  slow-loris: ${lorisResults.length} connections (half before the handshake, half after; a ping, or a 1 GiB buffer, a byte a second), ${
          lorisResults.reduce((n, r) => n + r.bytes, 0)
        } bytes at 1 byte/s, ${
          lorisResults.filter((r) => r.closedByServer).length
        } closed by the server`,
        `  legitimate client: ${job.rounds} rounds, ${job.tasks} tasks, all results right`,
        `  resident memory: scheduler ${
          (rssBefore.scheduler / MiB).toFixed(0)
        } → ${(rssAfter.scheduler / MiB).toFixed(0)} MiB, worker ${
          (rssBefore.worker / MiB).toFixed(0)
        } → ${(rssAfter.worker / MiB).toFixed(0)} MiB`,
        `  log lines written during the run: ${logLines}`,
      ].join("\n"),
    );

    assert.ok(sent >= (longSeconds > 0 ? 1 : BOUNDED_INPUTS));
    for (const category of CATEGORIES) {
      if (Deno.env.get("SPILLWAY_FUZZ_ONLY") !== undefined) break;
      assert.ok((totals.get(category) ?? 0) > 0, `no ${category} input`);
    }
    for (const [id, t] of tallies) assert.equal(t.hung, 0, `${id}: hung`);
    // Bytes that are no message are refused by closing, always.
    for (const [id, t] of tallies) {
      const category = id.split(/ [(→]/)[0] as Category;
      if (NOT_MESSAGES.has(category) || BEFORE_HANDSHAKE.has(category)) {
        assert.equal(t.closed, Object.values(t).reduce((a, b) => a + b, 0), id);
      }
    }
    assert.ok(job.rounds >= 1);
    for (const target of ["scheduler", "worker"] as const) {
      assert.ok(
        rssAfter[target] < rssBefore[target] + 192 * MiB,
        `${target}: resident memory ${rssBefore[target]} → ${rssAfter[target]}`,
      );
    }
    // Thousands of refusals, a bounded number of lines: past a burst, the
    // lines of one kind are counted, not written.
    assert.ok(logLines < sent / 8, `${logLines} log lines for ${sent} inputs`);
  },
});

/**
 * A message declaring a huge length, sent to a live scheduler and a live
 * worker (CLI processes on loopback): the connection is closed, nothing is
 * allocated for it (the process's resident memory does not grow by the
 * declared size), and the process keeps serving.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/comm/server.ts";
import { Connection } from "../../src/comm/connection.ts";
import {
  HANDSHAKE_MAX_BYTES,
  offerHandshake,
} from "../../src/comm/handshake.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/version.ts";
import { FRAME_PRELUDE_BYTES } from "../../src/serialize/layout.ts";
import { cliHelp, hostPort, rssOf, startLive } from "./_live.ts";

const GiB = 2 ** 30;

/** A prelude whose one buffer is `bytes` long (and no header). */
function prelude(bytes: number, count = 1, headerLength = 0): Uint8Array {
  const out = new Uint8Array(FRAME_PRELUDE_BYTES + 8 * count);
  out.set([0x53, 0x50, 0x57, 0x46]); // "SPWF"
  const view = new DataView(out.buffer);
  view.setUint16(4, 1, true);
  view.setUint32(8, headerLength, true);
  view.setUint32(12, count, true);
  for (let i = 0; i < count; i++) {
    view.setBigUint64(FRAME_PRELUDE_BYTES + 8 * i, BigInt(bytes), true);
  }
  return out;
}

/**
 * Sends `bytes` and reads until the server closes the connection, without
 * closing our side: resolves true when the server closed it (end of stream
 * or reset), false when it still waits after `patience` ms.
 */
async function closedByServer(
  address: string,
  bytes: Uint8Array,
  token: string | null,
  handshake: boolean,
  patience = 5_000,
): Promise<boolean> {
  const conn = await Deno.connect(hostPort(address));
  if (handshake) {
    // Authenticated first: then the limit is --max-message-size's.
    const connection = new Connection(conn, {
      maxMessageBytes: HANDSHAKE_MAX_BYTES,
      log: () => {},
    });
    await offerHandshake(connection, {
      authToken: token,
      protocolVersion: PROTOCOL_VERSION,
    });
  }
  try {
    await conn.write(bytes);
    const buffer = new Uint8Array(1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), patience);
    });
    const read = (async () => {
      try {
        while ((await conn.read(buffer)) !== null) {
          /* a reply: keep reading */
        }
      } catch {
        // reset by the server: closed as well
      }
      return true;
    })();
    const closed = await Promise.race([read, waited]);
    clearTimeout(timer);
    return closed;
  } finally {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

Deno.test("a huge declared length closes the connection at once on a live scheduler and worker, without allocating", async () => {
  // A limit below 1 GiB is set where the CLI has the flag (--max-message-size);
  // otherwise the default limit applies and the lengths above it are tried.
  const hasFlag = (await cliHelp("scheduler")).includes("--max-message-size") &&
    (await cliHelp("worker")).includes("--max-message-size");
  const flags = hasFlag ? ["--max-message-size", "64MiB"] : [];
  await using live = await startLive({ scheduler: flags, worker: flags });
  const pids = {
    scheduler: live.schedulerProcess.process.pid,
    worker: live.workerProcess.process.pid,
  };
  const lengths = [
    ...(hasFlag ? [GiB] : []),
    32 * GiB, // above the 16 GiB default
    2 ** 53 - 1, // the largest length the layout allows
  ];
  const token = live.authToken;
  for (const target of ["scheduler", "worker"] as const) {
    const address = live[target];
    const before = rssOf(pids[target]);
    // Before the handshake (where only a few KiB are allowed) and after it.
    for (const handshake of [false, true]) {
      const what = `${target}${handshake ? "" : " before the handshake"}`;
      for (const length of lengths) {
        assert.ok(
          await closedByServer(address, prelude(length), token, handshake),
          `${what}: a ${length}-byte buffer left the connection open`,
        );
      }
      // A length past 2^53, a table of 2^32 - 1 entries, a 4 GiB header.
      const tooLong = prelude(0);
      new DataView(tooLong.buffer).setBigUint64(16, 2n ** 63n, true);
      assert.ok(
        await closedByServer(address, tooLong, token, handshake),
        `${what}: 2^63`,
      );
      assert.ok(
        await closedByServer(
          address,
          prelude(0, 0).fill(0xff, 12, 16),
          token,
          handshake,
        ),
        `${what}: table`,
      );
      assert.ok(
        await closedByServer(
          address,
          prelude(0, 0).fill(0xff, 8, 12),
          token,
          handshake,
        ),
        `${what}: header`,
      );
    }
    // Nothing near the declared sizes was allocated, and it still answers.
    const after = rssOf(pids[target]);
    assert.ok(
      after - before < 64 * 2 ** 20,
      `${target}: resident memory grew from ${before} to ${after}`,
    );
    await using peer = await connect(address, {
      log: () => {},
      authToken: live.authToken,
      protocolVersion: PROTOCOL_VERSION,
    });
    assert.equal(await peer.request("ping"), "pong");
  }
  // Each refusal was logged with its reason.
  const lines = [...live.schedulerProcess.stderr, ...live.workerProcess.stderr];
  assert.ok(
    lines.some((l) => /exceeds the \d+-byte (message )?limit/.test(l)),
    lines.join("\n"),
  );
});

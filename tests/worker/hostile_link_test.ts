/**
 * A worker in shared-memory mode asked to take a key from a peer that
 * answers with a spill file outside the shared root (a path outside it, one
 * with `..`, a symlink out of it): the link is refused, nothing outside the
 * root is touched, and the key comes over as bytes instead, intact.
 */
import type { DataReply, GetData } from "../../src/protocol/mod.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, RpcServer } from "../../src/comm/server.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/version.ts";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { WorkerNode } from "../../src/worker/worker_node.ts";
import { filesUnder } from "../_support/files.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

const KEY = "hostile-1";
const VALUE = Float64Array.from({ length: 4096 }, (_, i) => i / 3);

Deno.test({
  name:
    "shared memory: a peer's link outside the root, through .., or through a symlink is refused; the key comes as bytes",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("64m");
    // On the same tmpfs as the root, beside it, and the size the peer
    // announces: only the path checks can refuse to link it.
    const outsideDir = join(tmpfs.path, "outside");
    await Deno.mkdir(outsideDir);
    const outside = join(outsideDir, "secret.spw");
    const frames = serialize(VALUE);
    const size = 4096 * 8 + 64;
    await Deno.writeFile(outside, new Uint8Array(size).fill(7));
    const root = join(tmpfs.path, "root");
    const peerDir = join(root, "peer");
    await Deno.mkdir(peerDir, { recursive: true });
    await Deno.symlink(outside, join(peerDir, "escape.spw"));
    const hostile = [
      outside,
      `${peerDir}/../../outside/secret.spw`,
      join(peerDir, "escape.spw"),
    ];

    const log: string[] = [];
    // A stand-in scheduler: it knows no key, so it must not release the
    // worker's copy; it records what the worker says it holds.
    const replicas: string[] = [];
    await using scheduler = await RpcServer.listen({
      protocolVersion: PROTOCOL_VERSION,
      handlers: {
        "register-worker": () => ({ ok: true }),
        "heartbeat": () => {},
        "add-replica": (body: unknown) => {
          replicas.push((body as { key: string }).key);
        },
      },
    });
    for (const [i, path] of hostile.entries()) {
      const asked: GetData[] = [];
      await using peer = await RpcServer.listen({
        protocolVersion: PROTOCOL_VERSION,
        handlers: {
          "get-data": (body: unknown): DataReply => {
            const request = body as GetData;
            asked.push(request);
            return request.link !== undefined
              ? { data: {}, links: { [KEY]: { path, bytes: size } } }
              : { data: { [KEY]: frames } };
          },
        },
      });
      const spillDir = join(root, `w${i}`);
      await using worker = await WorkerNode.start({
        scheduler: scheduler.url,
        memoryLimit: null,
        spillDir,
        sharedMemory: { root },
        log: (line) => log.push(line),
      });
      await using to = await connect(worker.address, {
        protocolVersion: PROTOCOL_VERSION,
      });
      await to.request("replicate", {
        keys: [KEY],
        who: { [KEY]: [peer.url] },
        sizes: { [KEY]: VALUE.byteLength },
      });
      // Asked for a link first, then for the bytes.
      assert.equal(asked.length, 2, path);
      assert.ok(asked[0].link !== undefined && asked[1].link === undefined);
      const got = await to.request("get-data", { keys: [KEY] }) as DataReply;
      assert.deepEqual(deserialize(got.data[KEY]), VALUE, path);
      // Nothing outside the root was linked or changed.
      const info = Deno.statSync(outside);
      assert.equal(info.nlink, 1, path);
      const inodes = (await filesUnder(spillDir)).map((f) => f.info.ino);
      assert.ok(!inodes.includes(info.ino), path);
      assert.deepEqual(
        await Deno.readFile(outside),
        new Uint8Array(size).fill(7),
      );
      assert.deepEqual(replicas.splice(0), [KEY]);
      const metrics = worker.store.metrics();
      assert.equal(
        metrics.live.count + metrics.serialized.count +
          metrics.spilled.count,
        1,
      );
    }
    assert.ok(
      log.some((l) => /linking hostile-1 from .* failed/.test(l)),
      log.join("\n"),
    );
  },
});

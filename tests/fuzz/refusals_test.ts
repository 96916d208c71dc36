/**
 * What a peer may name, refused where a role takes it:
 * - a task module of an unexpected scheme, in a raw `submit` to a live
 *   scheduler (not through the client, which checks too) and in a
 *   `compute` sent straight to a worker;
 * - malformed `submit`s, which change nothing in the scheduler's state;
 * - keys whose spill-file names could leave the spill directory: every key
 *   round-trips through a spill file inside the directory.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { connect, RpcServer } from "../../src/comm/server.ts";
import { RemoteError } from "../../src/comm/errors.ts";
import type {
  SchedulerSnapshot,
  TaskErredMessage,
} from "../../src/protocol/mod.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/version.ts";
import {
  decodeSpillFile,
  SpillDirectory,
} from "../../src/store/spill_files.ts";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { WorkerNode } from "../../src/worker/worker_node.ts";
import { OPS } from "../cluster/_support.ts";
import { startLive } from "./_live.ts";

const SCHEMES = [
  "data:text/javascript,export const f = () => 1",
  "blob:http://127.0.0.1/0c1f",
  "javascript:globalThis.x=1",
  "node:fs",
  "npm:left-pad@1.3.0",
  "jsr:@std/path",
  "ftp://127.0.0.1/ops.js",
];

Deno.test("a raw submit naming a module of another scheme is refused by a live scheduler, and so is a malformed one, leaving no task behind", async () => {
  await using live = await startLive();
  await using peer = await connect(live.scheduler, {
    log: () => {},
    authToken: live.authToken,
    protocolVersion: PROTOCOL_VERSION,
  });
  const good = {
    key: "fuzz-good",
    module: OPS.href,
    exportName: "inc",
    args: [{ value: 1 }],
  };
  for (const module of SCHEMES) {
    const scheme = new URL(module).protocol;
    await assert.rejects(
      peer.request("submit", {
        // A good task first: nothing of the submit may stay.
        tasks: [good, { ...good, key: `fuzz-${scheme}`, module }],
        wanted: [good.key],
      }),
      (error: unknown) =>
        error instanceof RemoteError &&
        error.remoteMessage.includes(`task module refused: scheme ${scheme}`),
      module,
    );
  }
  const malformed: unknown[] = [
    undefined,
    [],
    { tasks: "x", wanted: [] },
    { tasks: [good], wanted: "fuzz-good" },
    { tasks: [{ ...good, key: 7 }], wanted: [] },
    { tasks: [{ ...good, args: [{ key: 1 }] }], wanted: [] },
    { tasks: [{ ...good, args: [{ value: 1, keys: [2] }] }], wanted: [] },
    { tasks: [{ ...good, priority: "high" }], wanted: [] },
  ];
  for (const body of malformed) {
    await assert.rejects(
      peer.request("submit", body),
      (error: unknown) =>
        error instanceof RemoteError && error.remoteName === "TypeError",
      JSON.stringify(body),
    );
  }
  const snapshot = await peer.request("snapshot") as SchedulerSnapshot;
  assert.equal(
    Object.values(snapshot.tasks).reduce((a, b) => a + b, 0),
    0,
    JSON.stringify(snapshot.tasks),
  );
  // A fake worker's registration without its address or threads, too.
  for (
    const body of [{}, { address: 5, nthreads: 1, host: "h" }, {
      address: "tcp://127.0.0.1:1",
      nthreads: 0,
      host: "h",
    }]
  ) {
    await assert.rejects(peer.request("register-worker", body), RemoteError);
  }
  assert.equal((await peer.request("workers") as unknown[]).length, 1);
});

Deno.test("a compute naming a module of another scheme fails on the worker with a clear error; nothing is imported", async () => {
  const erred: TaskErredMessage[] = [];
  let gotAll!: () => void;
  const all = new Promise<void>((resolve) => (gotAll = resolve));
  // A stand-in scheduler that sends the worker one task per scheme.
  await using scheduler = await RpcServer.listen({
    protocolVersion: PROTOCOL_VERSION,
    handlers: {
      "register-worker": (_body, peer) => {
        setTimeout(() => {
          peer.notify("compute", {
            tasks: SCHEMES.map((module, i) => ({
              key: `bad-${i}`,
              module,
              exportName: "f",
              args: [],
              who: {},
            })),
          }).catch(() => {});
        }, 0);
        return { ok: true };
      },
      "heartbeat": () => {},
      "task-finished": () => {
        throw new Error("no task may finish");
      },
      "task-erred": (body: unknown) => {
        erred.push(body as TaskErredMessage);
        if (erred.length === SCHEMES.length) gotAll();
      },
    },
    log: () => {},
  });
  const spillDir = await Deno.makeTempDir({ prefix: "spillway-refusals-" });
  await using _worker = await WorkerNode.start({
    scheduler: scheduler.url,
    memoryLimit: null,
    spillDir: join(spillDir, "w"),
    log: () => {},
  });
  await all;
  assert.deepEqual(
    erred.map((e) => e.key).sort(),
    SCHEMES.map((_, i) => `bad-${i}`).sort(),
  );
  for (const e of erred) {
    const module = SCHEMES[Number(e.key.slice(4))];
    assert.equal(e.error.name, "TypeError");
    assert.match(
      e.error.message,
      new RegExp(`^task module refused: scheme ${new URL(module).protocol}`),
    );
  }
  assert.equal((globalThis as { x?: unknown }).x, undefined);
  await Deno.remove(spillDir, { recursive: true });
});

Deno.test("keys of any characters round-trip through spill files that stay inside the spill directory", async () => {
  const parent = await Deno.makeTempDir({ prefix: "spillway-keys-" });
  const root = join(parent, "spill");
  const dir = new SpillDirectory(root);
  const keys = [
    "../../etc/x",
    "..",
    ".",
    "/",
    "/etc/passwd",
    "a/../../b",
    "\0",
    "a\0b",
    "\\..\\..\\x",
    "x".repeat(10_000),
    "../".repeat(1000),
    "ключ/💥/键",
    "\ud800", // a lone surrogate
    "",
    " ",
    "\n",
    "~",
    "$HOME",
    "name.spw.tmp",
  ];
  try {
    for (const [i, key] of keys.entries()) {
      const value = { key, i, data: new Float64Array([i, i + 0.5]) };
      const { path, bytes } = await dir.write(key, serialize(value));
      // The file is a direct child of the directory, of a bounded name.
      assert.equal(dirname(path), root, JSON.stringify(key));
      assert.ok(path.slice(root.length + 1).length <= 100, path);
      assert.ok(!path.slice(root.length + 1).includes("/"), path);
      const back = await dir.readAllocated(
        path,
        bytes,
        (n) => new Uint8Array(n),
      );
      assert.deepEqual(deserialize(decodeSpillFile(path, back)), value);
    }
    // Nothing was written anywhere but in the directory.
    const beside = [...Deno.readDirSync(parent)].map((e) => e.name);
    assert.deepEqual(beside, ["spill"]);
    const inside = [...Deno.readDirSync(root)];
    assert.equal(inside.length, keys.length);
    assert.ok(inside.every((e) => e.isFile && e.name.endsWith(".spw")));
  } finally {
    await dir.clear();
    await Deno.remove(parent, { recursive: true });
  }
});

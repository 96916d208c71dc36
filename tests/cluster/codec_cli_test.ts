/**
 * `spillway worker --codecs`: the codec modules are imported by the worker
 * at start (its executors know their classes whatever task runs; the nanny
 * lets its child read them), and one that cannot be imported stops the
 * worker at start with a message naming it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { CliProcess, FIXTURES, SRC } from "./_support.ts";
import { Tagged } from "./fixtures/tagged_codec.ts";

type CodecOps = typeof import("./fixtures/codec_ops.ts");

const fixtures = FIXTURES.pathname.replace(/\/$/, "");
const CODEC_OPS = join(fixtures, "codec_ops.ts");
const TAGGED = join(fixtures, "tagged_codec.ts");
const LISTENING = /^worker listening at (tcp:\/\/\S+)$/;

Deno.test("worker --codecs: every executor knows the codec module's classes", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-codecs-cli-" });
  try {
    await using s = new CliProcess(["--allow-net=127.0.0.1"], [
      "scheduler",
      "--port",
      "0",
    ]);
    const [, address] = await s.line(
      /^scheduler listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
    );
    // The child may read the task module (--modules, one file) and, only
    // through --codecs, the codec module.
    await using w = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${root},${fixtures},${SRC}`,
      `--allow-write=${root}`,
      "--allow-sys=hostname",
      `--allow-run=${Deno.execPath()},cat`,
    ], [
      "worker",
      address,
      "--spill-dir",
      root,
      "--nthreads",
      "2",
      "--modules",
      CODEC_OPS,
      "--codecs",
      TAGGED,
    ]);
    await w.line(LISTENING);
    await using client = await Client.connect(address, { log: () => {} });
    const ops = client.module<CodecOps>(new URL(`file://${CODEC_OPS}`));
    const names = await client.gather(
      [0, 1, 2, 3].map((i) => ops.className(new Tagged(`t${i}`))),
    );
    assert.deepEqual(names, ["Tagged", "Tagged", "Tagged", "Tagged"]);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("worker --codecs naming a module that cannot be imported stops the worker at start, naming it", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-codecs-cli-" });
  try {
    await using s = new CliProcess(["--allow-net=127.0.0.1"], [
      "scheduler",
      "--port",
      "0",
    ]);
    const [, address] = await s.line(
      /^scheduler listening at (tcp:\/\/127\.0\.0\.1:\d+)$/,
    );
    const missing = join(root, "no_such_codecs.ts");
    await using w = new CliProcess([
      "--allow-net=127.0.0.1",
      `--allow-read=${root},${SRC}`,
      `--allow-write=${root}`,
      "--allow-sys=hostname",
    ], [
      "worker",
      address,
      "--spill-dir",
      root,
      "--no-nanny",
      "--codecs",
      missing,
    ]);
    const status = await w.exited();
    assert.equal(status.code, 78);
    const said = w.stderr.join("\n");
    assert.match(said, /cannot import the codec module/);
    assert.ok(said.includes(`file://${missing}`), said);
    assert.match(said, /--codecs/);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

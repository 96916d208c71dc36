/**
 * User classes on a real cluster: a class with a codec (`registerCodec`)
 * travels intact as an argument and as a result, through the scheduler, the
 * workers' stores and spill files (target 0: every result is spilled at
 * once, and read back for the next task), between workers, and back to the
 * client; a class without one fails its task with a SerializationError
 * naming it; a codec a reader does not know is an error naming it; a codec
 * module named in `codecs:` is known to every executor. Also the errors for
 * a task module outside the workers' read grants and for a module given by
 * path or as a function.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL as toFileUrl } from "node:url";
import { Client } from "../../src/client/client.ts";
import { RemoteTaskError } from "../../src/client/future.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { registerCodec } from "../../src/serialize/codecs.ts";
import { FIXTURES, until } from "./_support.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { Matrix } from "./fixtures/codec_ops.ts";
import { Tagged } from "./fixtures/tagged_codec.ts";

type CodecOps = typeof import("./fixtures/codec_ops.ts");

const CODEC_OPS = new URL("./fixtures/codec_ops.ts", import.meta.url);
const SECRET_OPS = new URL("./fixtures/secret_ops.ts", import.meta.url);
const TAGGED = new URL("./fixtures/tagged_codec.ts", import.meta.url);

/** Registered in this process only: no executor knows it. */
class ClientOnly {
  constructor(readonly n: number) {}
}
registerCodec(ClientOnly, {
  name: "test.ClientOnly",
  encode: (c) => c.n,
  decode: (n: number) => new ClientOnly(n),
});

async function failure(promise: Promise<unknown>): Promise<RemoteTaskError> {
  const error = await promise.then(
    () => assert.fail("the task did not fail"),
    (e) => e,
  );
  assert.ok(error instanceof RemoteTaskError, String(error));
  return error;
}

Deno.test("user classes with a codec travel and spill intact on a real cluster; the errors say what to do", async (t) => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "256MiB",
    target: 0,
    modules: [FIXTURES],
    codecs: [TAGGED],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, {
    log: () => {},
  });
  const ops = client.module<CodecOps>(CODEC_OPS);

  await t.step("as argument and as result, spilled and read back", async () => {
    // An argument from the client, a result kept by a worker (spilled at
    // once, target 0) and read back as the next task's input.
    const m = new Matrix(2, 3, new Float64Array([1, 2, 3, 4, 5, 6]));
    assert.equal(await ops.total(m).result(), 21);
    const made = Array.from({ length: 4 }, (_, i) => ops.make(64, 64, i + 1));
    const scaled = made.map((f) => ops.scale(f, 10));
    const totals = scaled.map((f) => ops.total(f));
    assert.deepEqual(
      await client.gather(totals),
      [1, 2, 3, 4].map((i) => 64 * 64 * i * 10),
    );
    const back = await scaled[3].result();
    assert.ok(back instanceof Matrix, "a Matrix, not a plain object");
    assert.equal(back.rows, 64);
    assert.equal(back.total(), 64 * 64 * 40);
    const nest = await ops.nested(made[0]).result();
    assert.ok(nest.one instanceof Matrix && nest.list[0] instanceof Matrix);
    assert.equal(nest.list[0].total(), 64 * 64 * 2);
    // The workers wrote those results to disk and read them back
    // (figures come with heartbeats).
    await until(async () => {
      const workers = await client.workers();
      const sum = (f: (w: (typeof workers)[number]) => number) =>
        workers.reduce((n, w) => n + f(w), 0);
      return sum((w) => w.store?.spills.count ?? 0) > 0 &&
        sum((w) => w.store?.unspills.count ?? 0) > 0;
    }, "spills and reads back");
  });

  await t.step(
    "a codec module named in codecs: is known to every executor",
    async () => {
      // codec_ops.ts does not import tagged_codec.ts: only `codecs:` does.
      const names = await client.gather(
        Array.from({ length: 4 }, (_, i) => ops.className(new Tagged(`t${i}`))),
      );
      assert.deepEqual(names, ["Tagged", "Tagged", "Tagged", "Tagged"]);
    },
  );

  await t.step(
    "a result that is a class instance without a codec fails its task, naming the class",
    async () => {
      const error = await failure(ops.plainInstance().result());
      assert.equal(error.remoteName, "SerializationError");
      assert.match(error.message, /cannot serialize a Plain instance/);
      assert.match(error.message, /result\.inner\[0\]/);
      assert.match(error.message, /registerCodec/);
    },
  );

  await t.step(
    "a codec the reader does not know is an error naming it",
    async () => {
      // An executor does not know the client's class.
      const onWorker = await failure(
        ops.className(new ClientOnly(1) as unknown as object).result(),
      );
      assert.equal(onWorker.remoteName, "UnknownCodecError");
      assert.match(onWorker.message, /"test\.ClientOnly"/);
      assert.match(onWorker.message, /registerCodec/);
      // The client does not know a task module's class.
      const onClient = await client.submit(SECRET_OPS, "makeSecret", 7)
        .result().then(() => assert.fail("decoded"), (e) => e);
      assert.equal(onClient.name, "UnknownCodecError");
      assert.match(onClient.message, /"test\.Secret"/);
      // The cluster goes on.
      assert.equal(
        await ops.total(new Matrix(1, 1, new Float64Array([5]))).result(),
        5,
      );
    },
  );

  await t.step(
    "a task module outside the workers' read grants names the option that grants it",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "spillway-outside-" });
      try {
        const path = join(dir, "outside.ts");
        await Deno.writeTextFile(path, "export const f = () => 1;\n");
        const error = await failure(
          client.submit(toFileUrl(path), "f").result(),
        );
        assert.match(error.message, /cannot import/);
        assert.match(error.message, /`modules:` in LocalCluster\.start/);
        assert.match(error.message, /--modules/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  await t.step(
    "a module given by path or as a function says to use new URL(…, import.meta.url)",
    () => {
      for (
        const bad of [
          () => client.module("./fixtures/codec_ops.ts"),
          () => client.submit("fixtures/codec_ops.ts", "make"),
          () => client.module(ops.make as unknown as string),
          () => client.submit(ops.total as unknown as string, "total"),
        ]
      ) {
        assert.throws(bad, (e: unknown) => {
          assert.ok(e instanceof TypeError, String(e));
          assert.match(
            e.message,
            /new URL\("\.\/ops\.ts", import\.meta\.url\)/,
          );
          return true;
        });
      }
    },
  );
});

Deno.test({
  name:
    "shared memory: executors write a user class's value to its spill file and map it back as its class",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("256m");
    await using cluster = await LocalCluster.start({
      workers: 2,
      memoryLimit: "256MiB",
      sharedMemory: true,
      target: 0,
      spillDir: tmpfs.path,
      modules: [FIXTURES],
      log: () => {},
    });
    await using client = await Client.connect(cluster.address, {
      log: () => {},
    });
    const ops = client.module<CodecOps>(CODEC_OPS);
    // 2 MiB each: above the size executors write to spill files themselves.
    const made = [1, 2, 3].map((v) => ops.make(512, 512, v));
    const totals = made.map((m) => ops.total(ops.scale(m, 2)));
    assert.deepEqual(
      await client.gather(totals),
      [1, 2, 3].map((v) => 512 * 512 * v * 2),
    );
    const back = await made[2].result();
    assert.ok(back instanceof Matrix);
    assert.equal(back.total(), 512 * 512 * 3);
    // The values are on the tmpfs, not in the workers' memory.
    await until(async () => {
      const workers = await client.workers();
      return workers.reduce(
        (n, w) =>
          n + (w.store?.spilled.count ?? 0) + (w.store?.mapped.count ?? 0),
        0,
      ) >= 3;
    }, "values on disk");
  },
});

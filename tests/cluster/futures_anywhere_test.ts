/**
 * Futures anywhere in a task's arguments, a bad argument failing only its
 * own call, and `gather` of nested containers, on a real LocalCluster.
 */
import assert from "node:assert/strict";
import {
  Client,
  type Future,
  LocalCluster,
  SerializationError,
} from "../../mod.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { expectedDot, FIXTURES } from "./_support.ts";

const MANY_OPS = new URL("./fixtures/many_ops.ts", import.meta.url);
type ManyOps = typeof import("./fixtures/many_ops.ts");
const quiet = () => {};

class Point {
  constructor(readonly x: number) {}
}

Deno.test("futures inside arguments, bad arguments and nested gather on a LocalCluster", async (t) => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    modules: [FIXTURES],
    log: quiet,
  });
  await using client = await Client.connect(cluster.address, { log: quiet });
  const ops = client.module<ManyOps>(MANY_OPS);

  await t.step(
    "futures in arrays, objects, Maps and Sets, at any depth",
    async () => {
      const a = ops.inc(1); // 2
      const b = ops.inc(2); // 3
      assert.equal(await ops.total([a, b, 10]).result(), 15);
      // Two chunks computed on the workers, given in a plain object.
      const pair = { a: ops.chunk(0, 1000), b: ops.chunk(1, 1000) };
      assert.equal(await ops.dotPair(pair).result(), expectedDot(0, 1, 1000));
      // Every kind of container, the same future twice, a null-prototype
      // object, a Map key and a typed array beside the futures.
      const bare = Object.create(null) as Record<string, unknown>;
      bare.b = b;
      const shape = {
        list: [a, [b, [a]], 7],
        map: new Map<unknown, unknown>([[a, "a as key"], ["k", b]]),
        set: new Set<unknown>([b, "s"]),
        bare,
        bytes: new Uint8Array([1, 2]),
      };
      const echoed = await ops.echo(shape).result();
      assert.deepEqual(echoed, {
        list: [2, [3, [2]], 7],
        map: new Map<unknown, unknown>([[2, "a as key"], ["k", 3]]),
        set: new Set<unknown>([3, "s"]),
        // The executor's structured clone gives plain objects back, futures
        // or not.
        bare: { b: 3 },
        bytes: new Uint8Array([1, 2]),
      });
      // The argument itself is left as it was.
      assert.equal(shape.list[0], a);
      // 2000 levels deep.
      let deep: unknown = [a];
      for (let i = 0; i < 2000; i++) deep = [deep];
      let back = await ops.echo(deep).result();
      for (let i = 0; i < 2000; i++) back = (back as unknown[])[0];
      assert.deepEqual(back, [2]);
    },
  );

  await t.step(
    "the scheduler holds a nested future's key as a dependency",
    async () => {
      // The slow input is released at once: only the nested argument keeps it,
      // and the task waits for it instead of starting without it.
      const slow = ops.sleep(300, 40);
      const sum = ops.total([slow, 2]);
      slow.release();
      assert.equal(await sum.result(), 42);
      // A failed nested input fails the task, naming it.
      const bad = ops.fail("bad input");
      const erred = ops.total([1, bad]);
      await assert.rejects(erred.result(), (e: Error) => {
        assert.match(e.message, /dependency failed: .*bad input/);
        return true;
      });
    },
  );

  await t.step(
    "a bad argument fails its own call at once; the others of the same turn go ahead",
    async () => {
      const good = ops.inc(41);
      const a = ops.inc(0);
      assert.throws(
        () => ops.total([1, 2, 3, (() => 4) as unknown as number]),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError);
          assert.match(
            e.message,
            /^argument 1 of many_ops\.total: value\[3\] is a function/,
          );
          return true;
        },
      );
      assert.throws(
        () =>
          ops.add(a, { items: [0, 1, 2, new Point(1)] } as unknown as number),
        /^SerializationError: argument 2 of many_ops\.add: value\.items\[3\] is a Point instance/,
      );
      const cyclic: Record<string, unknown> = { f: a };
      cyclic.self = cyclic;
      assert.throws(
        () => ops.echo(cyclic),
        /argument 1 of many_ops\.echo: value\.self is a cyclic reference/,
      );
      assert.throws(
        () => ops.echo(new Map([["k", Symbol("s")]])),
        /argument 1 of many_ops\.echo: value<Map value for key "k"> is a symbol/,
      );
      assert.throws(
        () => client.submit(MANY_OPS, "echo", 1, [a, () => 0]),
        /argument 2 of many_ops\.echo: value\[1\] is a function/,
      );
      const after = ops.inc(a);
      assert.equal(await good.result(), 42);
      assert.equal(await after.result(), 2);
    },
  );

  await t.step(
    "gather returns the shape it is given, with values",
    async () => {
      const a = ops.inc(1);
      const b = client.submit<string>(MANY_OPS, "echo", "b");
      assert.equal(await client.gather(a), 2);
      const [x, y]: [number, string] = await client.gather([a, b]);
      assert.deepEqual([x, y], [2, "b"]);
      const got = await client.gather({
        a,
        list: [b, 3, [a]],
        map: new Map([["k", a]]),
        set: new Set([b]),
        plain: "p",
      });
      const typed: {
        a: number;
        list: [string, 3, [number]];
        map: Map<string, number>;
        set: Set<string>;
        plain: "p";
      } = got;
      assert.deepEqual(typed, {
        a: 2,
        list: ["b", 3, [2]],
        map: new Map([["k", 2]]),
        set: new Set(["b"]),
        plain: "p",
      });
      const failed: Future<number> = ops.fail("gathered");
      await assert.rejects(client.gather({ ok: a, no: [failed] }), /gathered/);
    },
  );
});

Deno.test({
  name:
    "shared-memory mode, results spilled at once: futures inside arguments get their values",
  ignore: tmpfsUnavailable !== null,
  fn: async () => {
    await using mount = await mountTmpfs("1g");
    await using cluster = await LocalCluster.start({
      workers: 2,
      memoryLimit: "512MiB",
      sharedMemory: true,
      target: 0,
      spillDir: mount.path,
      modules: [FIXTURES],
      log: quiet,
    });
    await using client = await Client.connect(cluster.address, { log: quiet });
    const ops = client.module<ManyOps>(MANY_OPS);
    const a = ops.chunk(0, 10_000);
    const b = ops.chunk(1, 10_000);
    // The same key both whole (which the executor may map) and nested.
    const viaObject = ops.dotPair({ a, b });
    const mixed = client.submit<[number, Float64Array[]]>(
      MANY_OPS,
      "echo",
      [ops.total([1, 2]), [a]],
    );
    assert.equal(await viaObject.result(), expectedDot(0, 1, 10_000));
    const [three, [chunk]] = await mixed.result();
    assert.equal(three, 3);
    assert.equal(chunk.length, 10_000);
    assert.equal(chunk[9_999], 9_999);
    const both = client.submit<number>(MANY_OPS, "dotPair", { a, b: a });
    assert.equal(await both.result(), expectedDot(0, 0, 10_000));
  },
});

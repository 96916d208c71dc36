import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DiskTier,
  KeyNotFoundError,
  SpillBuffer,
  type SpillTier,
  StoreClosedError,
} from "../../src/store/mod.ts";
import { FrameDecodeError } from "../../src/serialize/frames.ts";
import { serialize } from "../../src/serialize/serialize.ts";

const MiB = 1 << 20;

/** A Float64Array of `mib` MiB whose elements start at `seed`. */
function chunk(mib: number, seed: number): Float64Array {
  const a = new Float64Array((mib * MiB) / 8);
  for (let i = 0; i < a.length; i += 1024) a[i] = seed + i;
  return a;
}

/** Sum of the sizes of complete spill files in `dir` (none when it does not exist). */
async function filesOnDisk(
  dir: string,
): Promise<{ names: string[]; bytes: number }> {
  const names: string[] = [];
  let bytes = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      names.push(entry.name);
      bytes += (await Deno.stat(join(dir, entry.name))).size;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return { names, bytes };
}

async function newStore(
  target: number,
  extra: Partial<ConstructorParameters<typeof SpillBuffer>[0]> = {},
) {
  const root = await Deno.makeTempDir({ prefix: "spillway-test-" });
  const logs: string[] = [];
  const store = new SpillBuffer({
    directory: join(root, "spill"),
    target,
    log: (m) => logs.push(m),
    ...extra,
  });
  return {
    store,
    root,
    dir: join(root, "spill"),
    logs,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("set and get a live value; has and keys are synchronous", async () => {
  await using t = await newStore(10 * MiB);
  const value = { a: 1, b: [1, 2, 3], c: new Map([["x", new Date(0)]]) };
  t.store.set("k", value);
  assert.equal(t.store.has("k"), true);
  assert.equal(t.store.has("nope"), false);
  assert.deepEqual([...t.store.keys()], ["k"]);
  assert.equal(t.store.state("k"), "live");
  assert.equal(await t.store.get("k"), value); // the same object, no copy
  assert.equal(t.store.metrics().live.count, 1);
});

Deno.test("unknown keys reject with KeyNotFoundError", async () => {
  await using t = await newStore(MiB);
  await assert.rejects(t.store.get("missing"), KeyNotFoundError);
  await assert.rejects(t.store.getFrames("missing"), KeyNotFoundError);
  assert.equal(t.store.delete("missing"), false);
  assert.throws(() => t.store.pin("missing"), KeyNotFoundError);
});

Deno.test("over the target, least recently used keys are spilled and read back", async () => {
  await using t = await newStore(3.5 * MiB);
  const values = [
    chunk(1, 1),
    chunk(1, 2),
    chunk(1, 3),
    chunk(1, 4),
    chunk(1, 5),
  ];
  values.forEach((v, i) => t.store.set(`k${i}`, v));
  await t.store.idle();
  // 5 MiB against a 3.5 MiB target: the two oldest went to disk.
  assert.equal(t.store.state("k0"), "spilled");
  assert.equal(t.store.state("k1"), "spilled");
  assert.equal(t.store.state("k4"), "live");
  let m = t.store.metrics();
  assert.equal(m.spilled.count, 2);
  assert.ok(m.managed <= 3.5 * MiB);
  assert.equal(m.spilled.bytes, (await filesOnDisk(t.dir)).bytes);

  const back = await t.store.get("k0") as Float64Array;
  assert.deepEqual(back, values[0]);
  assert.notEqual(back, values[0]); // read from disk, not the original object
  assert.equal(t.store.state("k0"), "live");
  await t.store.idle();
  m = t.store.metrics();
  assert.equal(m.unspills.count, 1);
  assert.equal(m.deserializations.count, 1);
  // k0 kept its file, so the key evicted to make room was the next oldest,
  // and k0 itself costs no new write when it goes again.
  assert.equal(m.spilled.bytes, (await filesOnDisk(t.dir)).bytes);
});

Deno.test("each key is written at most once across read-back cycles", async () => {
  await using t = await newStore(2 * MiB);
  for (let i = 0; i < 8; i++) t.store.set(`k${i}`, chunk(1, i));
  await t.store.idle();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 8; i++) {
      const v = await t.store.get(`k${i}`) as Float64Array;
      assert.equal(v[0], i);
      await t.store.idle();
    }
  }
  const m = t.store.metrics();
  assert.ok(
    m.spills.count <= 8,
    `each of 8 keys written at most once, got ${m.spills.count} writes`,
  );
  assert.ok(m.spills.bytes <= 8 * (MiB + 4096));
  assert.ok(m.unspills.count >= 16);
});

Deno.test("concurrent gets of a spilled key share one read and one deserialization", async () => {
  await using t = await newStore(MiB / 2);
  t.store.set("k", chunk(1, 7));
  await t.store.idle();
  assert.equal(t.store.state("k"), "spilled");
  t.store.target = 4 * MiB;
  const [a, b, c] = await Promise.all([
    t.store.get("k"),
    t.store.get("k"),
    t.store.get("k"),
  ]);
  assert.equal(a, b);
  assert.equal(b, c);
  const m = t.store.metrics();
  assert.equal(m.unspills.count, 1);
  assert.equal(m.deserializations.count, 1);
});

Deno.test("at target 0, concurrent gets of a spilled key share one read and one deserialization", async () => {
  await using t = await newStore(0);
  t.store.set("k", chunk(1, 7));
  await t.store.idle();
  assert.equal(t.store.state("k"), "spilled");
  const before = t.store.metrics();
  const [a, b, c, d] = await Promise.all([
    t.store.get("k"),
    t.store.get("k"),
    t.store.get("k"),
    t.store.get("k"),
  ]);
  assert.equal(a, b);
  assert.equal(b, c);
  assert.equal(c, d);
  assert.deepEqual(a, chunk(1, 7));
  const m = t.store.metrics();
  assert.equal(m.unspills.count - before.unspills.count, 1);
  assert.equal(m.deserializations.count - before.deserializations.count, 1);
  // Target 0 drops the value again at once; its file stays, nothing is rewritten.
  assert.equal(t.store.state("k"), "spilled");
  assert.equal(m.managed, 0);
  assert.equal(m.spills.count, before.spills.count);
  // A later get reads it back anew.
  assert.deepEqual(await t.store.get("k"), a);
  assert.equal(t.store.metrics().unspills.count, m.unspills.count + 1);
});

Deno.test("load reads a spilled key back as frames, without deserializing; a pinned one stays for get", async () => {
  await using t = await newStore(0);
  t.store.set("k", chunk(1, 3));
  await t.store.idle();
  const before = t.store.metrics();
  t.store.pin("k");
  await Promise.all([t.store.load("k"), t.store.load("k")]);
  assert.equal(t.store.state("k"), "serialized");
  let m = t.store.metrics();
  assert.equal(m.unspills.count - before.unspills.count, 1);
  assert.equal(m.deserializations.count, before.deserializations.count);
  await t.store.load("k"); // in memory: nothing to read
  assert.equal(t.store.metrics().unspills.count, m.unspills.count);
  assert.deepEqual(await t.store.get("k"), chunk(1, 3));
  m = t.store.metrics();
  assert.equal(m.deserializations.count - before.deserializations.count, 1);
  assert.equal(m.spills.count, before.spills.count, "no second write");
  t.store.unpin("k");
  assert.equal(t.store.state("k"), "spilled");
  await assert.rejects(t.store.load("nope"), KeyNotFoundError);
});

Deno.test("at target 0, a key deleted or overwritten during a shared read back: every concurrent get sees it", async () => {
  await using t = await newStore(0);
  t.store.set("a", chunk(1, 1));
  t.store.set("b", chunk(1, 2));
  await t.store.idle();
  const readsA = [t.store.get("a"), t.store.get("a")];
  t.store.delete("a");
  for (const read of readsA) await assert.rejects(read, KeyNotFoundError);
  const readsB = [t.store.get("b"), t.store.get("b")];
  t.store.set("b", "new");
  assert.deepEqual(await Promise.all(readsB), ["new", "new"]);
  await t.store.idle();
  assert.equal((await filesOnDisk(t.dir)).names.length, 1); // b's new value
});

Deno.test("frames from a peer stay serialized; get deserializes once; getFrames never does", async () => {
  await using t = await newStore(10 * MiB);
  const frames = serialize({ x: chunk(1, 3), label: "peer" });
  t.store.setFrames("p", frames);
  assert.equal(t.store.state("p"), "serialized");
  assert.equal(await t.store.getFrames("p"), frames);
  assert.equal(t.store.metrics().deserializations.count, 0);
  assert.equal(t.store.metrics().framesServedWithoutDeserialize, 1);
  const [v1, v2] = await Promise.all([t.store.get("p"), t.store.get("p")]);
  assert.equal(v1, v2);
  assert.equal((v1 as { label: string }).label, "peer");
  assert.equal(t.store.state("p"), "live");
  assert.equal(t.store.metrics().deserializations.count, 1);
  assert.equal(t.store.metrics().serialized.count, 0);
});

Deno.test("getFrames of a spilled key answers from the file without deserializing", async () => {
  await using t = await newStore(MiB / 2);
  const value = chunk(1, 9);
  t.store.set("k", value);
  await t.store.idle();
  assert.equal(t.store.state("k"), "spilled");
  const frames = await t.store.getFrames("k");
  const m = t.store.metrics();
  assert.equal(m.deserializations.count, 0);
  assert.equal(m.framesServedWithoutDeserialize, 1);
  assert.equal(m.unspills.count, 1);
  // Over the target, the frames were not kept in memory.
  assert.equal(t.store.state("k"), "spilled");
  assert.equal(m.managed, 0);
  const payload = new Float64Array(
    frames.buffers[0].buffer,
    frames.buffers[0].byteOffset,
    frames.buffers[0].byteLength / 8,
  );
  assert.deepEqual(payload, value);
});

Deno.test("getFrames of a spilled key keeps the frames when memory allows", async () => {
  await using t = await newStore(MiB / 2);
  t.store.set("k", chunk(1, 9));
  await t.store.idle();
  t.store.target = 8 * MiB;
  await t.store.getFrames("k");
  assert.equal(t.store.state("k"), "serialized");
  await t.store.getFrames("k");
  assert.equal(t.store.metrics().unspills.count, 1);
  assert.equal(t.store.metrics().deserializations.count, 0);
});

Deno.test("getFrames of a live key serializes and does not keep the frames", async () => {
  await using t = await newStore(10 * MiB);
  t.store.set("k", { a: new Uint8Array([1, 2, 3]) });
  const frames = await t.store.getFrames("k");
  assert.equal(frames.buffers.length, 1);
  assert.equal(t.store.metrics().serializations.count, 1);
  assert.equal(t.store.state("k"), "live");
  assert.equal(t.store.metrics().serialized.count, 0);
});

Deno.test("delete works in every state and leaves no file", async () => {
  await using t = await newStore(MiB);
  t.store.set("live", { small: true });
  t.store.setFrames("ser", serialize([1, 2, 3]));
  t.store.set("spilled", chunk(2, 1));
  await t.store.idle();
  assert.equal(t.store.state("spilled"), "spilled");
  t.store.set("spilling", chunk(2, 2));
  assert.equal(t.store.state("spilling"), "spilling");
  for (const key of ["live", "ser", "spilled", "spilling"]) {
    assert.equal(t.store.delete(key), true, key);
    assert.equal(t.store.has(key), false, key);
  }
  await t.store.idle();
  assert.deepEqual((await filesOnDisk(t.dir)).names, []);
  const m = t.store.metrics();
  assert.equal(m.spilled.count, 0);
  assert.equal(m.managed, 0);
});

Deno.test("a get of a key deleted during its read rejects; overwrite during a read returns the new value", async () => {
  await using t = await newStore(MiB / 2);
  t.store.set("a", chunk(1, 1));
  t.store.set("b", chunk(1, 2));
  await t.store.idle();
  const readA = t.store.get("a");
  t.store.delete("a");
  await assert.rejects(readA, KeyNotFoundError);
  const readB = t.store.get("b");
  t.store.set("b", "new");
  assert.equal(await readB, "new");
  await t.store.idle();
  assert.equal((await filesOnDisk(t.dir)).names.length, 0);
});

Deno.test("overwriting a key while it is being spilled keeps the new value and removes the old file", async () => {
  await using t = await newStore(MiB);
  t.store.set("k", chunk(2, 1));
  assert.equal(t.store.state("k"), "spilling");
  t.store.set("k", chunk(2, 5));
  await t.store.idle();
  const v = await t.store.get("k") as Float64Array;
  assert.equal(v[0], 5);
  await t.store.idle();
  assert.equal(t.store.metrics().spilled.count, 1);
  assert.equal((await filesOnDisk(t.dir)).names.length, 1);
});

Deno.test("a value larger than the target goes straight to disk; a pinned one stays until unpinned", async () => {
  await using t = await newStore(2 * MiB);
  t.store.set("small", chunk(1, 1));
  t.store.set("big", chunk(4, 2));
  await t.store.idle();
  assert.equal(t.store.state("big"), "spilled");
  assert.equal(
    t.store.state("small"),
    "live",
    "the big value went first, not the older small one",
  );

  t.store.set("pinned", chunk(4, 3), { pinned: true });
  await t.store.idle();
  assert.equal(t.store.state("pinned"), "live");
  assert.equal((await t.store.get("pinned") as Float64Array)[0], 3);
  t.store.unpin("pinned");
  await t.store.idle();
  assert.equal(t.store.state("pinned"), "spilled");
  assert.equal(
    t.store.metrics().unspills.count,
    0,
    "no spill/unspill cycle for the pinned value",
  );
});

Deno.test("pin keeps a key in memory through eviction", async () => {
  await using t = await newStore(MiB);
  t.store.set("a", chunk(1, 1));
  t.store.pin("a");
  t.store.set("b", chunk(1, 2));
  await t.store.idle();
  assert.equal(t.store.state("a"), "live");
  assert.equal(t.store.state("b"), "spilled");
  t.store.unpin("a");
  await t.store.idle();
  assert.equal(t.store.state("a"), "spilled");
});

Deno.test("a value that cannot be serialized stays live and is reported once", async () => {
  await using t = await newStore(MiB);
  const bad = { data: chunk(1, 1), fn: () => 1 };
  t.store.set("bad", bad);
  t.store.set("good", chunk(1, 2));
  await t.store.idle();
  assert.equal(t.store.state("bad"), "live");
  assert.equal(await t.store.get("bad"), bad);
  const m = t.store.metrics();
  assert.equal(m.failures.serialize, 1);
  assert.equal(t.logs.filter((l) => l.includes("serialize")).length, 1);
  assert.match(t.logs[0], /value\.fn/);
  // a peer asking for it gets the serialization error, and the key stays
  await assert.rejects(t.store.getFrames("bad"), /value\.fn/);
  assert.equal(t.store.state("bad"), "live");
});

Deno.test("maxSpill is honoured: keys that would pass it stay in memory", async () => {
  await using t = await newStore(MiB / 2, { maxSpill: 3 * MiB });
  for (let i = 0; i < 5; i++) t.store.set(`k${i}`, chunk(1, i));
  await t.store.idle();
  const m = t.store.metrics();
  assert.ok(m.spilled.bytes <= 3 * MiB, `spilled ${m.spilled.bytes}`);
  assert.equal(m.spilled.count, 2);
  assert.ok(m.failures["max-spill"]! >= 1);
  for (let i = 0; i < 5; i++) {
    assert.equal(((await t.store.get(`k${i}`)) as Float64Array)[0], i);
  }
  // Room made on disk is used again.
  t.store.delete("k0");
  t.store.delete("k1");
  await t.store.idle();
  t.store.target = 0;
  await t.store.idle();
  assert.equal(t.store.metrics().spilled.count, 2);
  assert.equal(
    t.store.metrics().spilled.bytes,
    (await filesOnDisk(t.dir)).bytes,
  );
});

Deno.test("malformed frames are refused; undecodable frames stay serialized", async () => {
  await using t = await newStore(MiB);
  assert.throws(
    () => t.store.setFrames("x", { header: "no" } as never),
    TypeError,
  );
  t.store.setFrames("x", { header: new Uint8Array([0xc1, 0xff]), buffers: [] });
  await assert.rejects(t.store.get("x"), FrameDecodeError);
  assert.equal(t.store.state("x"), "serialized");
  assert.equal(t.store.metrics().failures.deserialize, 1);
});

Deno.test("evict() frees memory beyond the target, least recently used first", async () => {
  await using t = await newStore(100 * MiB);
  for (let i = 0; i < 4; i++) t.store.set(`k${i}`, chunk(1, i));
  const freed = await t.store.evict(2 * MiB);
  assert.ok(freed >= 2 * MiB, `freed ${freed}`);
  assert.equal(t.store.state("k0"), "spilled");
  assert.equal(t.store.state("k1"), "spilled");
  assert.equal(t.store.state("k3"), "live");
});

Deno.test("close removes every file and the directory; a closed store refuses use", async () => {
  const t = await newStore(MiB / 2);
  t.store.set("a", chunk(1, 1));
  t.store.set("b", chunk(1, 2));
  await t.store.close();
  assert.equal((await filesOnDisk(t.dir)).names.length, 0);
  await assert.rejects(Deno.stat(t.dir), Deno.errors.NotFound);
  assert.throws(() => t.store.set("c", 1), StoreClosedError);
  await assert.rejects(t.store.get("a"), StoreClosedError);
  await Deno.remove(t.root, { recursive: true });
});

Deno.test("await using closes the store", async () => {
  const root = await Deno.makeTempDir();
  {
    await using store = new SpillBuffer({
      directory: join(root, "s"),
      target: 0,
    });
    store.set("a", chunk(1, 1));
    await store.idle();
    assert.equal((await filesOnDisk(join(root, "s"))).names.length, 1);
  }
  await assert.rejects(Deno.stat(join(root, "s")), Deno.errors.NotFound);
  await Deno.remove(root, { recursive: true });
});

Deno.test("constructor options are validated", () => {
  assert.throws(
    () => new SpillBuffer({ directory: "/tmp/x", target: -1 }),
    RangeError,
  );
  assert.throws(
    () => new SpillBuffer({ directory: "/tmp/x", target: NaN }),
    RangeError,
  );
  assert.throws(
    () =>
      new SpillBuffer({
        directory: "/tmp/x",
        target: 1,
        maxConcurrentWrites: 0,
      }),
    RangeError,
  );
});

Deno.test("pressure reports bytes over the target and falls as the disk drains", async () => {
  await using t = await newStore(MiB, { maxConcurrentWrites: 1 });
  for (let i = 0; i < 4; i++) t.store.set(`k${i}`, chunk(1, i));
  assert.ok(t.store.pressure >= 2 * MiB);
  assert.equal(t.store.metrics().writesInFlight, 1);
  await t.store.idle();
  assert.equal(t.store.pressure, 0);
});

Deno.test("the spill tier is pluggable: the policy works through the SpillTier interface", async () => {
  const root = await Deno.makeTempDir();
  const disk = new DiskTier({ directory: join(root, "spill") });
  const puts: string[] = [];
  // A wrapper tier (as a compressing or remote tier would be) that records what goes through it.
  const recording: SpillTier = {
    name: "recording",
    get count() {
      return disk.count;
    },
    get bytes() {
      return disk.bytes;
    },
    has: (key) => disk.has(key),
    size: (key) => disk.size(key),
    keys: () => disk.keys(),
    get: (key) => disk.get(key),
    put: (key, frames, bytes) => {
      puts.push(key);
      return disk.put(key, frames, bytes);
    },
    delete: (key) => disk.delete(key),
    clear: () => disk.clear(),
  };
  const store = new SpillBuffer({ spillTier: recording, target: 0 });
  store.set("a", chunk(1, 4));
  await store.idle();
  assert.equal(puts.length, 1);
  assert.equal(store.state("a"), "spilled");
  assert.equal(((await store.get("a")) as Float64Array)[0], 4);
  await store.close();
  assert.equal(disk.count, 0);
  assert.throws(() => new SpillBuffer({ target: 0 }), /spill directory/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("close waits for a read in flight, then removes the files; later reads are refused", async () => {
  await using t = await newStore(0);
  t.store.set("k", chunk(1, 1));
  await t.store.idle();
  const read = t.store.get("k");
  await t.store.close();
  assert.equal(((await read) as Float64Array)[0], 1);
  await assert.rejects(t.store.get("k"), StoreClosedError);
  assert.deepEqual((await filesOnDisk(t.dir)).names, []);
});

Deno.test("nbytes reports a key's memory size, or its file size once spilled", async () => {
  await using t = await newStore(MiB / 2);
  assert.equal(t.store.nbytes("absent"), 0);
  t.store.set("small", { a: 1 });
  assert.ok(t.store.nbytes("small") > 0);
  t.store.set("big", chunk(1, 1));
  await t.store.idle();
  assert.equal(t.store.state("big"), "spilled");
  assert.equal(t.store.nbytes("big"), t.store.metrics().spilled.bytes);
});

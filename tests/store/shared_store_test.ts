/**
 * SpillBuffer in the shared-memory mode (a SharedTier on a real tmpfs):
 * the "mapped" state, write amplification, release of mappings, peer
 * transfer by hard link, and target 0.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeFrames } from "../../src/serialize/frames.ts";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { isMappedBuffer, mapFrames } from "../../src/store/mapping.ts";
import {
  LinkError,
  PeerSpillBuffer as SpillBuffer,
  SharedTier,
  type SpillBufferOptions,
} from "../../src/store/mod.ts";
import { writeSpillFileSync } from "../../src/store/spill_files.ts";
import { collectUntil, gcUnavailable } from "../_support/gc.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

const MiB = 1 << 20;
const ignore = tmpfsUnavailable !== null;

function ramp(mib: number, seed: number): Float64Array {
  const a = new Float64Array((mib * MiB) / 8);
  for (let i = 0; i < a.length; i++) a[i] = seed + i;
  return a;
}

/** Stores over a fresh tmpfs: `stores(n)` gives n workers' stores under one root. */
async function sharedHost(size = "64m") {
  const mount = await mountTmpfs(size);
  const root = join(mount.path, "root");
  const stores: SpillBuffer[] = [];
  const logs: string[] = [];
  return {
    root,
    logs,
    store(
      name: string,
      options: Partial<SpillBufferOptions> = {},
    ): SpillBuffer {
      const store = new SpillBuffer({
        spillTier: new SharedTier({ directory: join(root, name) }),
        target: MiB,
        log: (m) => logs.push(m),
        ...options,
      });
      stores.push(store);
      return store;
    },
    async [Symbol.asyncDispose]() {
      for (const store of stores) await store.close();
      await mount[Symbol.asyncDispose]();
    },
  };
}

Deno.test({
  name:
    "set, evict (spilled), get → mapped: values equal, managed bytes drop to the header, evicting again writes nothing",
  ignore,
  async fn() {
    await using host = await sharedHost();
    const store = host.store("w1");
    const original = { label: "a", x: ramp(4, 1), y: ramp(1, 2) };
    const headerBytes = serialize(original).header.byteLength;
    store.set("a", original); // 5 MiB over a 1 MiB target: spilled
    await store.idle();
    assert.equal(store.state("a"), "spilled");
    let m = store.metrics();
    assert.equal(m.spills.count, 1);
    const written = m.spills.bytes;
    assert.ok(written > 5 * MiB);
    assert.equal(m.managed, 0);

    const back = await store.get("a") as typeof original;
    assert.equal(store.state("a"), "mapped");
    assert.deepEqual(back, original);
    assert.notEqual(back.x, original.x);
    assert.ok(isMappedBuffer(back.x.buffer));
    assert.equal(back.x.buffer, back.y.buffer); // one mapping, two views
    m = store.metrics();
    assert.equal(m.managed, headerBytes);
    assert.deepEqual(m.mapped, { count: 1, bytes: headerBytes });
    assert.deepEqual(m.live, { count: 0, bytes: 0 });
    assert.equal(m.unspills.count, 1);
    assert.equal(m.unspills.bytes, written);
    assert.ok(m.mappings.live >= 1);
    assert.equal(store.nbytes("a"), written); // the data's size, not the header's
    assert.equal(await store.get("a"), back); // no new mapping, no new deserialization
    assert.equal(store.metrics().deserializations.count, 1);

    // Evicting a mapped key only drops the reference.
    assert.equal(await store.evict(store.managedBytes), headerBytes);
    assert.equal(store.state("a"), "spilled");
    await store.idle();
    m = store.metrics();
    assert.equal(m.spills.count, 1);
    assert.equal(m.spills.bytes, written);
    assert.equal(m.managed, 0);

    // Round and round: still one write.
    for (let i = 0; i < 3; i++) {
      const again = await store.get("a") as typeof original;
      assert.equal(again.x[12345], original.x[12345]);
      await store.evict(store.managedBytes);
    }
    await store.idle();
    m = store.metrics();
    assert.equal(m.spills.count, 1);
    assert.equal(m.spills.bytes, written);
    assert.equal(m.unspills.count, 4); // one map per get of a spilled key
  },
});

Deno.test({
  name:
    "getFrames of a mapped or spilled key serves mapped frames: no read into memory, no deserialization",
  ignore,
  async fn() {
    await using host = await sharedHost();
    const store = host.store("w1");
    const original = ramp(2, 7);
    store.set("k", original);
    await store.idle();
    assert.equal(store.state("k"), "spilled");

    const spilled = await store.getFrames("k");
    assert.ok(isMappedBuffer(spilled.buffers[0].buffer));
    assert.equal(store.state("k"), "spilled"); // nothing kept in memory
    assert.equal(store.managedBytes, 0);
    assert.deepEqual(deserialize(spilled), original);

    const value = await store.get("k");
    assert.equal(store.state("k"), "mapped");
    const mapped = await store.getFrames("k");
    assert.equal(mapped.buffers[0].buffer, (value as Float64Array).buffer);
    const m = store.metrics();
    assert.equal(m.framesServedWithoutDeserialize, 2);
    assert.equal(m.deserializations.count, 1);
    assert.equal(m.serializations.count, 1); // the one spill
  },
});

Deno.test({
  name:
    "a task writing into a mapped input changes neither the file nor a peer's mapping of it",
  ignore,
  async fn() {
    await using host = await sharedHost();
    const store = host.store("w1");
    store.set("k", ramp(2, 0));
    await store.idle();
    const x = await store.get("k") as Float64Array;
    x.fill(-1, 0, 1000);
    assert.equal(x[500], -1);
    const { path } = await store.spilledFile("k");
    const peer = deserialize(mapFrames(path)) as Float64Array; // another mapping
    assert.equal(peer[0], 0);
    assert.equal(peer[999], 999);
    const onDisk = deserialize(decodeFrames(await Deno.readFile(path)));
    assert.deepEqual(onDisk, ramp(2, 0));
    // Evicted and mapped again, the key reads the file, not the write.
    await store.evict(store.managedBytes);
    assert.equal((await store.get("k") as Float64Array)[500], 500);
  },
});

Deno.test({
  name:
    "mapped values dropped and keys deleted: gc + event-loop turns bring live mappings to 0",
  ignore: ignore || gcUnavailable !== null,
  async fn() {
    await using host = await sharedHost();
    const store = host.store("w1");
    assert.equal((await collectUntil(0)).live, 0);
    const keys = ["a", "b", "c"];
    keys.forEach((key, i) => store.set(key, ramp(2, i)));
    await store.idle();
    const checks = await (async () => {
      const out: number[] = [];
      for (const key of keys) {
        const value = await store.get(key) as Float64Array;
        out.push(value[100]);
        await store.getFrames(key); // a second mapping's frames, dropped at once
      }
      return out;
    })();
    assert.deepEqual(checks, [100, 101, 102]);
    assert.ok(store.metrics().mappings.live >= 3);
    for (const key of keys) store.delete(key);
    await store.idle();
    const after = await collectUntil(0);
    assert.equal(after.live, 0);
    assert.equal(after.bytes, 0);
    assert.deepEqual(store.metrics().mappings, after);
  },
});

Deno.test({
  name:
    "target 0: every value is spilled as soon as it can be; reads map and drop; each key written once",
  ignore,
  async fn() {
    await using host = await sharedHost();
    const store = host.store("w1", { target: 0 });
    const values = [
      ramp(1, 1),
      { small: true },
      "a string",
      ramp(0.5, 2),
      [1, 2, 3],
      new Map([["m", 1n]]),
    ];
    values.forEach((value, i) => store.set(`k${i}`, value));
    await store.idle();
    for (let i = 0; i < values.length; i++) {
      assert.equal(store.state(`k${i}`), "spilled", `k${i}`);
    }
    assert.equal(store.managedBytes, 0);
    assert.equal(store.metrics().spills.count, values.length);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < values.length; i++) {
        assert.deepEqual(await store.get(`k${i}`), values[i]);
        assert.deepEqual(
          deserialize(await store.getFrames(`k${i}`)),
          values[i],
        );
      }
    }
    await store.idle();
    assert.equal(store.managedBytes, 0);
    const m = store.metrics();
    assert.equal(m.spills.count, values.length);
    assert.equal(m.mapped.count, 0);

    // A pinned value stays until unpinned, then goes too.
    store.set("p", ramp(1, 3), { pinned: true });
    await store.idle();
    assert.equal(store.state("p"), "live");
    store.unpin("p");
    await store.idle();
    assert.equal(store.state("p"), "spilled");
  },
});

Deno.test({
  name:
    "peer transfer: spilledFile writes the key if needed, linkFrom adopts it as spilled; both read one file",
  ignore,
  async fn() {
    await using host = await sharedHost();
    const donor = host.store("w1", { target: 64 * MiB });
    const receiver = host.store("w2");
    const original = { x: ramp(3, 9), tag: "shared" };
    donor.set("k", original);
    assert.equal(donor.state("k"), "live");
    const file = await donor.spilledFile("k");
    assert.equal(donor.state("k"), "live"); // written for the peer, still in memory
    assert.equal(donor.metrics().spills.count, 1);
    assert.ok(file.path.startsWith(join(host.root, "w1") + "/"));
    assert.equal(file.bytes, (await Deno.stat(file.path)).size);
    assert.deepEqual(await donor.spilledFile("k"), file); // no second write
    assert.equal(donor.metrics().spills.count, 1);

    await receiver.linkFrom("k", file.path, host.root, { bytes: file.bytes });
    assert.equal(receiver.state("k"), "spilled");
    assert.equal(receiver.nbytes("k"), file.bytes);
    assert.equal((await Deno.stat(file.path)).nlink, 2);
    assert.equal(receiver.metrics().spills.count, 0); // nothing written
    const got = await receiver.get("k") as typeof original;
    assert.equal(receiver.state("k"), "mapped");
    assert.deepEqual(got, original);

    // The donor deletes its key: the receiver's link keeps the data.
    donor.delete("k");
    await donor.idle();
    const own = await receiver.spilledFile("k");
    assert.notEqual(own.path, file.path);
    assert.equal((await Deno.stat(own.path)).nlink, 1);
    await receiver.evict(receiver.managedBytes);
    assert.deepEqual(await receiver.get("k"), original);
  },
});

Deno.test({
  name:
    "a failed link (EXDEV: another tmpfs) leaves the receiving store unchanged, so the caller can fall back to bytes",
  ignore,
  async fn() {
    await using a = await sharedHost("16m");
    await using b = await sharedHost("16m");
    const donor = a.store("w1");
    const receiver = b.store("w2");
    donor.set("k", ramp(2, 1));
    receiver.set("k", "an older value");
    const { path } = await donor.spilledFile("k");
    await assert.rejects(
      () => receiver.linkFrom("k", path, a.root),
      (error: unknown) => error instanceof LinkError && error.code === "EXDEV",
    );
    assert.equal(receiver.state("k"), "live");
    assert.equal(await receiver.get("k"), "an older value");
    await assert.rejects(
      () => receiver.linkFrom("j", "/etc/passwd", b.root),
      (error: unknown) =>
        error instanceof LinkError && error.code === "OUTSIDE_ROOT",
    );
    assert.equal(receiver.has("j"), false);
  },
});

Deno.test("linkFrom and spilledFile need a SharedTier: a DiskTier store says so", async () => {
  const root = await Deno.makeTempDir();
  const store = new SpillBuffer({
    directory: join(root, "spill"),
    target: MiB,
  });
  try {
    store.set("k", 1);
    await assert.rejects(() => store.spilledFile("k"), /SharedTier/);
    await assert.rejects(() => store.linkFrom("k", "/x", "/"), /SharedTier/);
    await assert.rejects(() => store.prepareSpillFile("k"), /SharedTier/);
    assert.deepEqual(store.metrics().mapped, { count: 0, bytes: 0 });
    assert.equal(typeof store.metrics().mappings.live, "number");
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name:
    "at target 0, concurrent gets of a spilled key share one mapping and one deserialization (and one read under mapAbove)",
  ignore,
  async fn() {
    await using host = await sharedHost("16m");
    const store = host.store("w1", { target: 0 });
    const large = { label: "large", x: ramp(2, 1) };
    const small = new Float64Array(1024).fill(3); // 8 KiB: read, not mapped
    store.set("large", large);
    store.set("small", small);
    await store.idle();
    assert.equal(store.state("large"), "spilled");
    assert.equal(store.state("small"), "spilled");
    const cases: [string, unknown][] = [["large", large], ["small", small]];
    for (const [key, original] of cases) {
      const before = store.metrics();
      const [a, b, c, d] = await Promise.all([
        store.get(key),
        store.get(key),
        store.get(key),
        store.get(key),
      ]);
      assert.equal(a, b, key);
      assert.equal(b, c, key);
      assert.equal(c, d, key);
      assert.deepEqual(a, original);
      const m = store.metrics();
      assert.equal(m.unspills.count - before.unspills.count, 1, key);
      assert.equal(
        m.deserializations.count - before.deserializations.count,
        1,
        key,
      );
      assert.equal(store.state(key), "spilled", key); // dropped again at once
      assert.equal(m.managed, 0, key);
      assert.equal(m.spills.count, before.spills.count, key);
    }
  },
});

Deno.test({
  name:
    "prepareSpillFile: a file the producer wrote is adopted as spilled (one spill, no serialization here), then mapped",
  ignore,
  async fn() {
    await using host = await sharedHost("16m");
    const store = host.store("w1", { target: 0 });
    const value = ramp(2, 5);
    const prepared = await store.prepareSpillFile("k");
    // What an executor thread does: write, then the control thread adopts.
    const bytes = writeSpillFileSync(prepared.path, serialize(value));
    await prepared.adopt();
    assert.equal(store.state("k"), "spilled");
    assert.equal(store.nbytes("k"), bytes);
    const m = store.metrics();
    assert.equal(m.spills.count, 1);
    assert.equal(m.spills.bytes, bytes);
    assert.equal(m.serializations.count, 0);
    assert.equal(m.managed, 0);
    assert.equal((await store.spilledFile("k")).path, prepared.path);
    const back = await store.get("k") as Float64Array;
    assert.ok(isMappedBuffer(back.buffer));
    assert.deepEqual(back, value);
    await assert.rejects(() => prepared.adopt(), /already settled/);
  },
});

Deno.test({
  name:
    "prepareSpillFile: abandon removes what was written; adopting a file never written rejects and leaves the key as it was",
  ignore,
  async fn() {
    await using host = await sharedHost("16m");
    const store = host.store("w1");
    store.set("k", "an older value");
    const abandoned = await store.prepareSpillFile("k");
    writeSpillFileSync(abandoned.path, serialize(ramp(1, 1)));
    await Deno.writeFile(`${abandoned.path}.tmp`, new Uint8Array(8)); // a partial write
    await abandoned.abandon();
    await assert.rejects(() => Deno.stat(abandoned.path), Deno.errors.NotFound);
    await assert.rejects(
      () => Deno.stat(`${abandoned.path}.tmp`),
      Deno.errors.NotFound,
    );
    const unwritten = await store.prepareSpillFile("k");
    await assert.rejects(() => unwritten.adopt(), Deno.errors.NotFound);
    assert.equal(store.state("k"), "live");
    assert.equal(await store.get("k"), "an older value");
    assert.equal(store.metrics().spills.count, 0);
  },
});

Deno.test({
  name:
    "a spilled file under mapAbove is read, not mapped: no mapping is left behind, and its bytes count as managed",
  ignore,
  async fn() {
    await using host = await sharedHost("16m");
    const store = host.store("w1");
    const small = new Float64Array(1024).fill(2); // 8 KiB
    store.set("small", small);
    await store.evict(store.managedBytes);
    await store.idle();
    assert.equal(store.state("small"), "spilled");
    const mappingsBefore = store.metrics().mappings.live;
    const back = await store.get("small") as Float64Array;
    assert.deepEqual(back, small);
    assert.equal(isMappedBuffer(back.buffer), false);
    assert.equal(store.metrics().mappings.live, mappingsBefore);
    assert.ok(store.managedBytes >= small.byteLength, "counted in full");
    // Served to a peer: read too.
    await store.evict(store.managedBytes);
    await store.idle();
    const frames = await store.getFrames("small");
    assert.equal(isMappedBuffer(frames.header.buffer), false);
    // A large one is mapped, as before, and costs only its header.
    store.set("large", ramp(2, 3)); // over the 1 MiB target: spilled
    await store.idle();
    const large = await store.get("large") as Float64Array;
    assert.equal(store.state("large"), "mapped");
    assert.ok(isMappedBuffer(large.buffer));
  },
});

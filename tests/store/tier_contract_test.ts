/**
 * The checks every tier must pass (zict's shared mapping checks): the
 * memory tier and the disk tier are run through the same contract.
 */
import assert from "node:assert/strict";
import type { Frames } from "../../src/serialize/frames.ts";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { DiskTier } from "../../src/store/disk_tier.ts";
import { MemoryTier } from "../../src/store/memory_tier.ts";
import { SharedTier } from "../../src/store/shared_tier.ts";
import type { Tier } from "../../src/store/tier.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

interface Subject {
  name: string;
  /** Why the subject cannot run here, if it cannot. */
  unavailable?: string | null;
  make(): Promise<
    { tier: Tier<Frames>; [Symbol.asyncDispose](): Promise<void> }
  >;
}

const subjects: Subject[] = [
  {
    name: "MemoryTier",
    make: () =>
      Promise.resolve({
        tier: new MemoryTier<Frames>("serialized"),
        [Symbol.asyncDispose]: () => Promise.resolve(),
      }),
  },
  {
    name: "DiskTier",
    async make() {
      const root = await Deno.makeTempDir();
      const tier = new DiskTier({
        directory: `${root}/nested/spill`,
        ioChunk: 1000,
      });
      return {
        tier,
        async [Symbol.asyncDispose]() {
          await tier.clear();
          await Deno.remove(root, { recursive: true });
        },
      };
    },
  },
  {
    name: "SharedTier",
    unavailable: tmpfsUnavailable,
    async make() {
      const mount = await mountTmpfs("16m");
      const tier = new SharedTier({
        directory: `${mount.path}/nested/spill`,
        ioChunk: 1000,
      });
      return {
        tier,
        async [Symbol.asyncDispose]() {
          await tier.clear();
          await mount[Symbol.asyncDispose]();
        },
      };
    },
  },
];

const sample = (n: number) =>
  serialize({ n, data: new Float64Array(1000).fill(n) });
const valueOf = async (tier: Tier<Frames>, key: string) =>
  (deserialize(await tier.get(key)) as { n: number }).n;

for (const subject of subjects) {
  Deno.test({
    name: `${subject.name}: put, get, has, size, keys, bytes, count`,
    ignore: (subject.unavailable ?? null) !== null,
  }, async () => {
    await using t = await subject.make();
    const { tier } = t;
    assert.equal(tier.has("a"), false);
    assert.equal(tier.size("a"), 0);
    await tier.put("a", sample(1), 8100);
    await tier.put("b", sample(2), 8100);
    assert.equal(tier.has("a"), true);
    assert.deepEqual([...tier.keys()].sort(), ["a", "b"]);
    assert.equal(tier.count, 2);
    assert.ok(tier.size("a") >= 8000);
    assert.equal(tier.bytes, tier.size("a") + tier.size("b"));
    assert.equal(await valueOf(tier, "a"), 1);
    assert.equal(await valueOf(tier, "b"), 2);
  });

  Deno.test({
    name:
      `${subject.name}: put replaces, delete removes, a missing key is an error`,
    ignore: (subject.unavailable ?? null) !== null,
  }, async () => {
    await using t = await subject.make();
    const { tier } = t;
    await tier.put("a", sample(1), 8100);
    const before = tier.bytes;
    await tier.put("a", sample(3), 8100);
    assert.equal(tier.count, 1);
    assert.equal(tier.bytes, before);
    assert.equal(await valueOf(tier, "a"), 3);
    await tier.delete("a");
    await tier.delete("never there");
    assert.equal(tier.has("a"), false);
    assert.equal(tier.bytes, 0);
    assert.equal(tier.count, 0);
    await assert.rejects(async () => await tier.get("a"));
  });
}

Deno.test("DiskTier: files are renamed into place when whole; clear removes them and the directory it made", async () => {
  const root = await Deno.makeTempDir();
  const tier = new DiskTier({ directory: `${root}/spill` });
  await tier.put("key/with odd:chars", sample(5), 0);
  const names = [...Deno.readDirSync(`${root}/spill`)].map((e) => e.name);
  assert.equal(names.length, 1);
  assert.match(names[0], /^1-key_with_odd_chars\.spw$/);
  assert.equal(
    Deno.statSync(`${root}/spill/${names[0]}`).size,
    tier.size("key/with odd:chars"),
  );
  await tier.clear();
  assert.throws(() => Deno.statSync(`${root}/spill`), Deno.errors.NotFound);
  await Deno.remove(root, { recursive: true });
});

Deno.test("DiskTier: clear leaves a directory it did not create", async () => {
  const root = await Deno.makeTempDir();
  Deno.writeTextFileSync(`${root}/other.txt`, "not ours");
  const tier = new DiskTier({ directory: root });
  await tier.put("a", sample(1), 0);
  await tier.clear();
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), [
    "other.txt",
  ]);
  await Deno.remove(root, { recursive: true });
});

/**
 * SharedTier on real tmpfs mounts: files shared between two tiers by hard
 * link, accounting by link count, and every path a peer could send that
 * must be refused (with nothing outside the root touched).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { LinkError } from "../../src/store/link.ts";
import { SharedTier } from "../../src/store/shared_tier.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

const ignore = tmpfsUnavailable !== null;

function data(seed: number): { seed: number; x: Float64Array } {
  return { seed, x: new Float64Array(10_000).fill(seed) };
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** A shared root on a fresh tmpfs with two workers' tiers in it. */
async function sharedRoot() {
  const mount = await mountTmpfs("32m");
  const root = join(mount.path, "root");
  await Deno.mkdir(root);
  const w1 = new SharedTier({ directory: join(root, "w1") });
  const w2 = new SharedTier({ directory: join(root, "w2") });
  return {
    mount,
    root,
    w1,
    w2,
    async [Symbol.asyncDispose]() {
      await w1.clear();
      await w2.clear();
      await mount[Symbol.asyncDispose]();
    },
  };
}

Deno.test({
  name:
    "linkFrom: one file, two links; both tiers read it; bytes are size/2 each; deleting one keeps the other",
  ignore,
  async fn() {
    await using t = await sharedRoot();
    await t.w1.put("x", serialize(data(3)), 0);
    const path = t.w1.pathOf("x")!;
    const size = t.w1.size("x");
    assert.equal((await Deno.stat(path)).nlink, 1);
    assert.equal(t.w1.bytes, size);

    await t.w2.linkFrom("y", path, t.root, { bytes: size });
    const linked = t.w2.pathOf("y")!;
    assert.notEqual(linked, path);
    assert.ok(linked.startsWith(join(t.root, "w2") + "/"));
    assert.equal((await Deno.stat(path)).nlink, 2);
    assert.equal((await Deno.stat(linked)).ino, (await Deno.stat(path)).ino);
    assert.equal(t.w2.size("y"), size);
    assert.equal(t.w2.bytes, size / 2); // learned from the link itself
    assert.equal(await t.w1.refresh(), size / 2); // learned by re-stat
    assert.equal(t.w1.bytes + t.w2.bytes, size); // = what the tmpfs holds
    assert.deepEqual(deserialize(await t.w1.get("x")), data(3));
    assert.deepEqual(deserialize(await t.w2.get("y")), data(3));

    await t.w1.delete("x");
    assert.equal(t.w1.has("x"), false);
    assert.equal(t.w1.bytes, 0);
    await assert.rejects(() => t.w1.get("x"));
    assert.deepEqual(deserialize(await t.w2.get("y")), data(3));
    assert.equal(await t.w2.refresh(), size);
    assert.equal((await Deno.stat(linked)).nlink, 1);
  },
});

Deno.test({
  name:
    "linkFrom refuses paths outside the root, with '..', through a symlink leading out, or not a regular file; nothing is touched",
  ignore,
  async fn() {
    await using t = await sharedRoot();
    // A file on the same tmpfs but outside the shared root: a link would work.
    const outsideDir = join(t.mount.path, "outside");
    await Deno.mkdir(outsideDir);
    const outside = join(outsideDir, "secret.spw");
    await Deno.writeTextFile(outside, "not yours");
    await Deno.mkdir(join(t.root, "w1"));
    const evil = join(t.root, "w1", "evil.spw");
    await Deno.symlink(outside, evil);
    const dirInside = join(t.root, "w1", "dir.spw");
    await Deno.mkdir(dirInside);

    const cases: [string, string][] = [
      [outside, "OUTSIDE_ROOT"],
      [`${t.root}/w1/../../outside/secret.spw`, "BAD_PATH"],
      [`${t.root}/w1/../w1/evil.spw`, "BAD_PATH"], // even when it stays inside
      [evil, "OUTSIDE_ROOT"],
      [dirInside, "NOT_A_FILE"],
      ["w1/evil.spw", "BAD_PATH"],
      [t.root, "OUTSIDE_ROOT"],
      [join(t.root, "w1", "gone.spw"), "ENOENT"],
    ];
    for (const [path, code] of cases) {
      await assert.rejects(
        () => t.w2.linkFrom("k", path, t.root),
        (error: unknown) => {
          assert.ok(error instanceof LinkError, String(error));
          assert.equal(error.code, code, `${path}: ${error.message}`);
          return true;
        },
      );
    }
    assert.equal(t.w2.has("k"), false);
    assert.equal(t.w2.count, 0);
    assert.deepEqual(await listing(join(t.root, "w2")), []);
    assert.equal((await Deno.stat(outside)).nlink, 1);
    assert.equal(await Deno.readTextFile(outside), "not yours");
    assert.deepEqual(await listing(outsideDir), ["secret.spw"]);
  },
});

Deno.test({
  name:
    "linkFrom follows a symlink that stays inside the root and links the real file; a size the peer did not announce is refused",
  ignore,
  async fn() {
    await using t = await sharedRoot();
    await t.w1.put("x", serialize(data(5)), 0);
    const path = t.w1.pathOf("x")!;
    const alias = join(t.root, "w1", "alias.spw");
    await Deno.symlink(path, alias);
    await t.w2.linkFrom("x", alias, t.root);
    assert.equal((await Deno.lstat(t.w2.pathOf("x")!)).isFile, true);
    assert.equal((await Deno.stat(path)).nlink, 2);
    assert.deepEqual(deserialize(await t.w2.get("x")), data(5));

    await assert.rejects(
      () => t.w2.linkFrom("z", path, t.root, { bytes: 1 }),
      (error: unknown) =>
        error instanceof LinkError && error.code === "SIZE_MISMATCH",
    );
    assert.equal(t.w2.has("z"), false);
    assert.equal((await Deno.stat(path)).nlink, 2);
    await Deno.remove(alias);
  },
});

Deno.test({
  name:
    "linkFrom across two tmpfs mounts (different st_dev) fails with code EXDEV, so the caller can send bytes instead",
  ignore,
  async fn() {
    await using a = await mountTmpfs("8m");
    await using b = await mountTmpfs("8m");
    assert.notEqual(
      (await Deno.stat(a.path)).dev,
      (await Deno.stat(b.path)).dev,
    );
    const donor = new SharedTier({ directory: join(a.path, "w1") });
    const receiver = new SharedTier({ directory: join(b.path, "w2") });
    try {
      await donor.put("x", serialize(data(1)), 0);
      await assert.rejects(
        () => receiver.linkFrom("x", donor.pathOf("x")!, a.path),
        (error: unknown) => {
          assert.ok(error instanceof LinkError);
          assert.equal(error.code, "EXDEV");
          assert.match(error.message, /cross-device/);
          return true;
        },
      );
      assert.equal(receiver.has("x"), false);
      assert.equal(receiver.count, 0);
      assert.equal((await Deno.stat(donor.pathOf("x")!)).nlink, 1);
    } finally {
      await donor.clear();
      await receiver.clear();
    }
  },
});

Deno.test({
  name:
    "SharedTier: overwriting a linked key removes only this tier's old link",
  ignore,
  async fn() {
    await using t = await sharedRoot();
    await t.w1.put("x", serialize(data(1)), 0);
    const path = t.w1.pathOf("x")!;
    await t.w2.linkFrom("x", path, t.root);
    await t.w2.put("x", serialize(data(2)), 0);
    assert.equal((await Deno.stat(path)).nlink, 1);
    assert.deepEqual(deserialize(await t.w1.get("x")), data(1));
    assert.deepEqual(deserialize(await t.w2.get("x")), data(2));
    assert.equal((await listing(join(t.root, "w2"))).length, 1);
  },
});

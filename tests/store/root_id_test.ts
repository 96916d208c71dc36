/**
 * The shared spill root's id: written once into the root, read by every
 * later worker (also in other processes racing to be first), different on
 * another root even where `st_dev` is the same; and what it changes for
 * links (`sameSpillRoot`) and placement (`localityGroup`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT_ID_DIR, spillRootId } from "../../src/store/root_id.ts";
import { sameSpillRoot } from "../../src/worker/mode.ts";
import { localityGroup } from "../../src/scheduler/placement.ts";

Deno.test("spillRootId: made on first use, the same ever after, one file left in the root", () => {
  const root = Deno.makeTempDirSync();
  try {
    const id = spillRootId(root);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(spillRootId(root), id);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name),
      [ROOT_ID_DIR],
    );
    assert.deepEqual(
      [...Deno.readDirSync(join(root, ROOT_ID_DIR))].map((e) => e.name),
      [id],
      "the id is the name of an empty directory: no file in the root",
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("spillRootId: two roots on one filesystem (the same st_dev) get different ids", () => {
  const a = Deno.makeTempDirSync();
  const b = Deno.makeTempDirSync();
  try {
    assert.equal(Deno.statSync(a).dev, Deno.statSync(b).dev);
    assert.notEqual(spillRootId(a), spillRootId(b));
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});

Deno.test("spillRootId: processes racing to use a fresh root all read one id", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const code = `import { spillRootId } from ${
      JSON.stringify(
        new URL("../../src/store/root_id.ts", import.meta.url).href,
      )
    }; console.log(spillRootId(${JSON.stringify(root)}));`;
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Deno.Command(Deno.execPath(), {
          args: ["eval", "--quiet", code],
          stdout: "piped",
        }).output()),
    );
    const ids = new Set(
      runs.map((r) => {
        assert.ok(r.success);
        return new TextDecoder().decode(r.stdout).trim();
      }),
    );
    assert.equal(ids.size, 1);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((e) => e.name),
      [ROOT_ID_DIR],
      "no temporary file left",
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("spillRootId: an id directory that holds no id is an error naming it, not a silent new id", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(join(root, ROOT_ID_DIR, "garbage"), { recursive: true });
    assert.throws(() => spillRootId(root), /does not hold a spill root id/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("sameSpillRoot: host, dev and root id must all match; a peer without an id matches on host and dev", () => {
  const own = { host: "h", dev: 40, rootId: "a".repeat(32) };
  assert.equal(sameSpillRoot({ ...own }, own), true);
  assert.equal(
    sameSpillRoot({ ...own, rootId: "b".repeat(32) }, own),
    false,
    "same hostname and st_dev, another tmpfs",
  );
  assert.equal(sameSpillRoot({ ...own, host: "g" }, own), false);
  assert.equal(sameSpillRoot({ ...own, dev: 41 }, own), false);
  assert.equal(sameSpillRoot({ host: "h", dev: 40 }, own), true);
  assert.equal(sameSpillRoot(undefined, own), false);
});

Deno.test("localityGroup: same hostname and st_dev but another spill root id is another group", () => {
  const w = (port: number, rootId?: string) =>
    localityGroup({
      address: `tcp://10.0.0.${port}:1`,
      host: "h",
      shared: { dev: 7, ...(rootId === undefined ? {} : { rootId }) },
    });
  assert.equal(w(1, "a"), w(2, "a"));
  assert.notEqual(w(1, "a"), w(2, "b"));
});

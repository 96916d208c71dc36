/**
 * Failure paths of the store on real disks: a full tmpfs (ENOSPC), a
 * read-only remount (EROFS), a spill file removed behind the store's back.
 * In each case the key stays in memory (or reports its loss clearly), the
 * failure is counted and logged once, and the store recovers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SpillBuffer } from "../../src/store/mod.ts";
import { classifyWriteError, FailurePolicy } from "../../src/store/failures.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

const MiB = 1 << 20;

function filled(mib: number, value: number): Float64Array {
  return new Float64Array((mib * MiB) / 8).fill(value);
}

async function until(
  condition: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

Deno.test({
  name:
    "a full disk leaves keys in memory, logs once, backs off, and recovers when space returns",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using disk = await mountTmpfs("2m");
    const logs: string[] = [];
    const dir = join(disk.path, "spill");
    const store = new SpillBuffer({
      directory: dir,
      target: MiB / 4,
      log: (m) => logs.push(m),
      backoff: { initial: 50, max: 200 },
    });
    try {
      store.set("a", filled(1.5, 1)); // fits: 1.5 MiB of 2 MiB
      await store.idle();
      assert.equal(store.state("a"), "spilled");

      store.set("b", filled(1, 2)); // does not fit
      await store.idle();
      assert.equal(store.state("b"), "live");
      assert.equal((await store.get("b") as Float64Array)[0], 2);
      assert.equal(store.metrics().failures["disk-full"], 1);
      assert.deepEqual(
        (await names(dir)).filter((n) => n.endsWith(".tmp")),
        [],
        "the partial file was removed",
      );
      store.set("c", filled(1, 3)); // still full: counted, not logged again
      await until(
        () => (store.metrics().failures["disk-full"] ?? 0) >= 2,
        "a second failure",
      );
      assert.equal(logs.filter((l) => l.includes("disk-full")).length, 1);
      assert.match(logs[0], /No space left on device/);
      assert.match(logs[0], /"b"/);

      store.delete("a"); // frees 1.5 MiB
      await until(
        () => store.state("b") === "spilled" || store.state("c") === "spilled",
        "a retry",
      );
      await store.idle();
      const values = [
        await store.get("b"),
        await store.get("c"),
      ] as Float64Array[];
      assert.deepEqual(values.map((v) => v[0]), [2, 3], "nothing was lost");
    } finally {
      await store.close();
    }
    assert.deepEqual(
      await names(disk.path),
      [],
      "close removed the spill directory",
    );
  },
});

Deno.test({
  name:
    "a read-only spill directory leaves keys in memory until it is writable again",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using disk = await mountTmpfs("8m");
    const logs: string[] = [];
    const store = new SpillBuffer({
      directory: join(disk.path, "spill"),
      target: MiB / 4,
      log: (m) => logs.push(m),
      backoff: { initial: 50, max: 100 },
    });
    try {
      store.set("warmup", filled(1, 0)); // creates the directory
      await store.idle();
      await disk.remount({ ro: true });
      store.set("k", filled(1, 7));
      await store.idle();
      assert.equal(store.state("k"), "live");
      assert.equal(store.metrics().failures["read-only"], 1);
      assert.match(logs.join("\n"), /read-only/);
      await disk.remount({ ro: false });
      await until(
        () => store.state("k") === "spilled",
        "the retry after remount",
      );
      assert.equal((await store.get("k") as Float64Array)[0], 7);
    } finally {
      await disk.remount({ ro: false });
      await store.close();
    }
  },
});

Deno.test("a spill file removed behind the store's back is a clear error, counted", async () => {
  const root = await Deno.makeTempDir();
  const logs: string[] = [];
  const store = new SpillBuffer({
    directory: root,
    target: 0,
    log: (m) => logs.push(m),
  });
  try {
    store.set("k", filled(1, 1));
    await store.idle();
    for await (const entry of Deno.readDir(root)) {
      await Deno.remove(join(root, entry.name));
    }
    await assert.rejects(store.get("k"), /could not read spilled key "k"/);
    await assert.rejects(
      store.getFrames("k"),
      /could not read spilled key "k"/,
    );
    assert.equal(store.metrics().failures.read, 2);
    assert.equal(
      store.has("k"),
      true,
      "the key is still known; deleting it is the caller's call",
    );
    assert.equal(store.delete("k"), true);
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("write errors are classified by errno", () => {
  assert.equal(
    classifyWriteError(new Error("No space left on device (os error 28)")),
    "disk-full",
  );
  assert.equal(
    classifyWriteError(Object.assign(new Error("x"), { code: "ENOSPC" })),
    "disk-full",
  );
  assert.equal(
    classifyWriteError(new Error("Read-only file system (os error 30)")),
    "read-only",
  );
  assert.equal(
    classifyWriteError(new Error("Input/output error (os error 5)")),
    "io",
  );
  assert.equal(
    classifyWriteError(new Deno.errors.PermissionDenied("no")),
    "permission",
  );
  assert.equal(classifyWriteError(new Error("something else")), "other");
});

Deno.test("the failure policy backs off exponentially and logs each kind once per episode", () => {
  let now = 0;
  const logs: string[] = [];
  const policy = new FailurePolicy({
    log: (m) => logs.push(m),
    backoff: { initial: 100, max: 300 },
    now: () => now,
  });
  policy.writeFailed("io", "a", new Error("EIO"));
  assert.equal(policy.restRemaining(), 100);
  now = 100;
  assert.equal(policy.diskResting(), false);
  policy.writeFailed("io", "b", new Error("EIO"));
  assert.equal(policy.restRemaining(), 200);
  now = 300;
  policy.writeFailed("io", "c", new Error("EIO"));
  assert.equal(policy.restRemaining(), 300, "capped at max");
  assert.equal(logs.length, 1);
  assert.deepEqual(policy.counts(), { io: 3 });
  policy.writeSucceeded();
  assert.equal(policy.diskResting(), false);
  policy.writeFailed("io", "d", new Error("EIO"));
  assert.equal(logs.length, 2, "a new episode logs again");
});

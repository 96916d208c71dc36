/**
 * checkSharedSpillRoot on real filesystems (a tmpfs, the disk under /tmp, a
 * tiny tmpfs, /dev/shm) and under real permission sets (child processes
 * with scoped grants or no FFI), and the setup commands it suggests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { statfs } from "../../src/platform/libc.ts";
import {
  checkSharedSpillRoot,
  filesystemName,
  SharedSpillRootError,
  TMPFS_MAGIC,
  tmpfsSetupCommands,
} from "../../src/store/tmpfs.ts";
import { runDeno } from "../_support/run.ts";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";

const MiB = 1 << 20;
const CHILD = new URL("./_shared_child.ts", import.meta.url).pathname;
const LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6";

interface ChildAnswer {
  ok: boolean;
  name?: string;
  message?: string;
  codes?: string[];
  warnings?: string[];
  dev?: number;
  bytes?: number;
}

/** Runs the child script with `flags` (permissions) and `args`; returns its JSON line. */
async function child(flags: string[], args: string[]): Promise<ChildAnswer> {
  const out = await runDeno(["--no-prompt", ...flags], CHILD, args);
  const text = out.stdout.trim();
  assert.ok(out.code === 0 && text !== "", `child failed: ${out.stderr}`);
  return JSON.parse(text);
}

function problemsOf(fn: () => unknown): SharedSpillRootError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SharedSpillRootError) return error;
    throw error;
  }
  assert.fail("expected a SharedSpillRootError");
}

Deno.test({
  name: "a tmpfs big enough is accepted; its st_dev is returned",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("64m");
    const root = checkSharedSpillRoot(mount.path, 16 * MiB);
    assert.equal(root.path, await Deno.realPath(mount.path));
    assert.equal(root.dev, (await Deno.stat(mount.path)).dev);
    assert.equal(root.sizeBytes, 64 * MiB);
    assert.ok(root.availableBytes <= 64 * MiB && root.availableBytes > 0);
    assert.deepEqual(root.warnings, []);
  },
});

Deno.test({
  name:
    "a tmpfs without huge pages is accepted with a warning that says how to remount it",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("64m", "/tmp", "never");
    const root = checkSharedSpillRoot(mount.path, 16 * MiB);
    assert.equal(root.warnings.length, 1, root.warnings.join("\n"));
    assert.match(
      root.warnings[0],
      /has no huge pages: tasks read mapped values/,
    );
    assert.ok(
      root.warnings[0].endsWith(
        `mount -o remount,huge=within_size ${await Deno.realPath(mount.path)}`,
      ),
      root.warnings[0],
    );
  },
});

const tmpIsTmpfs = statfs("/tmp").type === TMPFS_MAGIC;

Deno.test({
  name:
    "/tmp on this machine's disk: 'not a tmpfs', naming the filesystem, with the mount commands",
  ignore: tmpIsTmpfs,
  fn() {
    const error = problemsOf(() => checkSharedSpillRoot("/tmp", MiB));
    assert.deepEqual(error.problems.map((p) => p.code), ["not-tmpfs"]);
    const message = error.problems[0].message;
    assert.match(message, /\/tmp is not a tmpfs/);
    assert.ok(message.includes(filesystemName(statfs("/tmp").type)), message);
    assert.match(
      message,
      /empty directory outside \/dev, e\.g\. mkdir -p \/mnt\/spillway && mount -t tmpfs -o size=1048576,huge=within_size,mode=1777 tmpfs \/mnt\/spillway/,
    );
    assert.match(error.message, /cannot be the shared spill root/);
  },
});

Deno.test({
  name:
    "a tmpfs smaller than the memory limit is 'too small', with the remount command for its mount point",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("1m");
    // The root is a directory inside the mount, as LocalCluster makes it.
    const root = join(mount.path, "cluster");
    await Deno.mkdir(root);
    const error = problemsOf(() => checkSharedSpillRoot(root, 16 * MiB));
    assert.deepEqual(error.problems.map((p) => p.code), ["too-small"]);
    assert.match(
      error.message,
      /holds 1\.00 MiB, less than the memory limit 16\.00 MiB/,
    );
    assert.ok(
      error.message.endsWith(
        `mount -o remount,size=16777216 ${Deno.realPathSync(mount.path)}`,
      ),
      error.message,
    );
  },
});

Deno.test("a missing directory or a file is reported as such", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let error = problemsOf(() => checkSharedSpillRoot(join(dir, "nope"), MiB));
    assert.deepEqual(error.problems.map((p) => p.code), ["not-found"]);
    assert.match(
      error.message,
      /does not exist: mount a tmpfs there: mkdir -p /,
    );
    await Deno.writeTextFile(join(dir, "file"), "x");
    error = problemsOf(() => checkSharedSpillRoot(join(dir, "file"), MiB));
    assert.deepEqual(error.problems.map((p) => p.code), ["not-a-directory"]);
    assert.throws(() => checkSharedSpillRoot(dir, -1), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/dev/shm: works with -A but warns that it needs -A; with scoped grants it is refused, saying -A", async () => {
  const dir = await Deno.makeTempDir({
    dir: "/dev/shm",
    prefix: "spillway-check-",
  });
  try {
    const root = checkSharedSpillRoot(dir, MiB); // this process has -A
    // /dev/shm may also lack huge pages: that is a second warning.
    assert.ok(root.warnings.length >= 1, root.warnings.join("\n"));
    assert.match(root.warnings[0], /under \/dev.*works only with -A/);
    for (const w of root.warnings.slice(1)) assert.match(w, /no huge pages/);

    const scoped = await child(
      [`--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-ffi"],
      ["check", dir, String(MiB)],
    );
    assert.equal(scoped.ok, false);
    assert.deepEqual(scoped.codes, ["under-dev"]);
    assert.match(
      scoped.message!,
      /under \/dev.*run with -A, or mount a tmpfs on an empty directory outside \/dev/s,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "without unscoped --allow-ffi the check says --allow-ffi is needed; a scoped grant is not enough",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using mount = await mountTmpfs("8m");
    const fs = [`--allow-read=${mount.path}`, `--allow-write=${mount.path}`];
    const none = await child(fs, ["check", mount.path, String(MiB)]);
    assert.equal(none.ok, false);
    assert.deepEqual(none.codes, ["missing-ffi"]);
    assert.match(none.message!, /needs --allow-ffi, unscoped/);

    const scoped = await child([...fs, `--allow-ffi=${LIBC}`], [
      "check",
      mount.path,
      String(MiB),
    ]);
    assert.deepEqual(scoped.codes, ["missing-ffi"]); // statfs ran; mapping could not

    const full = await child([...fs, "--allow-ffi"], [
      "check",
      mount.path,
      String(MiB),
    ]);
    assert.equal(full.ok, true, full.message);
    assert.equal(full.dev, (await Deno.stat(mount.path)).dev);
  },
});

Deno.test("mapping a file without --allow-ffi is a clear error naming --allow-ffi; importing the store needs none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "f");
    await Deno.writeTextFile(file, "hello");
    const answer = await child([`--allow-read=${dir}`], ["map", file]);
    assert.equal(answer.ok, false);
    assert.equal(answer.name, "FfiUnavailableError");
    assert.match(answer.message!, /--allow-ffi/);
    const mapped = await child([`--allow-read=${dir}`, "--allow-ffi"], [
      "map",
      file,
    ]);
    assert.deepEqual(mapped, { ok: true, bytes: 5 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tmpfsSetupCommands: mkdir, mount with size and mode, optional owner and swap; quoting; bad input", () => {
  assert.deepEqual(tmpfsSetupCommands("/mnt/spillway", 8 * 2 ** 30), [
    "mkdir -p /mnt/spillway",
    "mount -t tmpfs -o size=8589934592,huge=within_size,mode=1777 tmpfs /mnt/spillway",
  ]);
  assert.deepEqual(
    tmpfsSetupCommands("/srv/spill root", 2 ** 30, {
      uid: 1000,
      gid: 100,
      swapBytes: 4 * 2 ** 30,
      swapFile: "/var/swap/spill.swap",
    }),
    [
      "mkdir -p '/srv/spill root'",
      "mount -t tmpfs -o size=1073741824,huge=within_size,mode=0700,uid=1000,gid=100 tmpfs '/srv/spill root'",
      "fallocate -l 4294967296 /var/swap/spill.swap",
      "chmod 600 /var/swap/spill.swap",
      "mkswap /var/swap/spill.swap",
      "swapon /var/swap/spill.swap",
    ],
  );
  assert.equal(
    tmpfsSetupCommands("/x/it's", 4096, { mode: "0750" })[1],
    "mount -t tmpfs -o size=4096,huge=within_size,mode=0750 tmpfs '/x/it'\\''s'",
  );
  assert.throws(() => tmpfsSetupCommands("relative", 4096), /absolute/);
  assert.throws(() => tmpfsSetupCommands("/x", 0), RangeError);
  assert.throws(() => tmpfsSetupCommands("/x", 1.5), RangeError);
  assert.throws(() => tmpfsSetupCommands("/x", 4096, { mode: "rwx" }), /octal/);
  assert.throws(() => tmpfsSetupCommands("/x", 4096, { uid: -1 }), RangeError);
});

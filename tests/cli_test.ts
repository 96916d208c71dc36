/** The `spillway` command as a user runs it: a real subprocess. */
import assert from "node:assert/strict";
import { mountTmpfs, tmpfsUnavailable } from "./_support/tmpfs.ts";
import { runDeno, type RunResult } from "./_support/run.ts";

const CLI = new URL("../cli.ts", import.meta.url);

function spillway(...args: string[]): Promise<RunResult> {
  return runDeno(["--allow-read", "--allow-write"], CLI, args);
}

/** `spillway demo` with the permissions of `deno task start`. */
async function demo(...args: string[]) {
  const out = await runDeno(
    [
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      "--allow-run",
      "--allow-sys=hostname,systemMemoryInfo",
    ],
    CLI,
    ["demo", ...args],
  );
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
}

Deno.test("store-demo spills a data set larger than the store's memory and reads it back intact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await spillway(
      "store-demo",
      "--data",
      "64MiB",
      "--chunk",
      "8MiB",
      "--memory",
      "16MiB",
      "--dir",
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /8\/8 chunks read back intact/);
    assert.match(r.stdout, /spilled \(on disk\)\s+8\s+64\.00 MiB/);
    assert.match(r.stdout, /with getFrames: 0 deserializations/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "spill files removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad value or an unknown flag prints a one-line error and the usage, exit 2", async () => {
  for (
    const args of [
      ["store-demo", "--memory", "banana"],
      ["demo", "--bogus"],
      ["demo", "--chunks", "0"],
      ["demo", "--shared-memory"],
      ["demo", "--target", "2"],
      ["frobnicate"],
    ]
  ) {
    const r = await spillway(...args);
    assert.equal(r.code, 2, args.join(" "));
    const [first] = r.stderr.split("\n");
    assert.match(first, /^spillway: /);
    assert.match(r.stderr, /usage: spillway/);
  }
  const bad = await spillway("store-demo", "--memory", "banana");
  assert.match(bad.stderr, /--memory: invalid byte size "banana"/);
  const shared = await spillway("demo", "--shared-memory");
  assert.match(shared.stderr, /--shared-memory needs --spill-dir/);
});

Deno.test("demo --target takes the worker command's rule: an empty fraction is refused, as the worker refuses it", async () => {
  const worker = await spillway(
    "worker",
    "tcp://127.0.0.1:8786",
    "--target",
    "",
  );
  const demo = await spillway("demo", "--target", "");
  assert.equal(worker.code, 2, worker.stderr);
  assert.equal(demo.code, 2, demo.stderr);
  const [workerError] = worker.stderr.split("\n");
  const [demoError] = demo.stderr.split("\n");
  assert.equal(
    demoError,
    'spillway: --target must be a fraction from 0 to 1, got ""',
  );
  assert.equal(demoError, workerError);
  assert.match(demo.stderr, /usage: spillway <command>/);
});

Deno.test("--help prints the usage", async () => {
  const r = await spillway("--help");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: spillway <command>/);
});

Deno.test("demo runs all pairs on a local cluster and checks the total", async () => {
  const stdout = await demo(
    "--chunks",
    "6",
    "--chunk",
    "32MiB",
    "--memory-limit",
    "384MiB",
  );
  assert.match(stdout, /All pairs: 6 chunks of 32\.00 MiB/);
  assert.match(stdout, /wall time \d/);
  assert.match(stdout, /: correct/);
});

Deno.test({
  name:
    "demo --shared-memory runs all pairs on a tmpfs: values move by hard link, none over sockets, the total is right",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("600m");
    const stdout = await demo(
      "--chunks",
      "6",
      "--chunk",
      "16MiB",
      "--memory-limit",
      "384MiB",
      "--shared-memory",
      "--spill-dir",
      tmpfs.path,
    );
    assert.match(stdout, /: correct/);
    // The "all" row: fetched from peers 0 B, something linked.
    const all = stdout.split("\n").find((l) => l.startsWith("all "))!;
    const cells = all.split(/\s{2,}/);
    assert.equal(cells[3], "0 B", all);
    assert.notEqual(cells[4], "0 B", all);
  },
});

Deno.test("shm-setup prints the commands that mount a tmpfs (and swap) of the given size; a bad size exits 2", async () => {
  const ok = await spillway(
    "shm-setup",
    "--size",
    "2GiB",
    "--dir",
    "/mnt/spw",
    "--swap",
    "1GiB",
  );
  assert.equal(ok.code, 0);
  const lines = ok.stdout.trim().split("\n");
  assert.ok(lines.includes("mkdir -p /mnt/spw"), ok.stdout);
  assert.ok(
    lines.some((l) =>
      l.startsWith("mount -t tmpfs -o size=2147483648") &&
      l.endsWith(" tmpfs /mnt/spw")
    ),
    ok.stdout,
  );
  assert.ok(lines.some((l) => l.startsWith("swapon ")), ok.stdout);
  const bad = await spillway("shm-setup", "--size", "banana");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--size: invalid byte size "banana"/);
});

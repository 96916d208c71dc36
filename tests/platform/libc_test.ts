/**
 * The libc layer: which platforms the shared-memory mode knows the struct
 * layouts of, the clear refusal elsewhere, and that nothing opens libc
 * unless the shared-memory mode is used.
 */
import assert from "node:assert/strict";
import { FfiUnavailableError, libcLayoutFor } from "../../src/platform/libc.ts";
import { runDeno } from "../_support/run.ts";

Deno.test("libcLayoutFor: the layouts of Linux x86_64 and aarch64", () => {
  const x86 = libcLayoutFor("linux", "x86_64");
  assert.equal(x86.platform, "linux x86_64");
  assert.equal(x86.candidates[0], "/usr/lib/x86_64-linux-gnu/libc.so.6");
  assert.deepEqual(
    { ...x86.stat },
    {
      size: 144,
      dev: 0,
      ino: 8,
      nlink: 16,
      nlinkBits: 64,
      mode: 24,
      fileSize: 48,
    },
  );
  assert.deepEqual({ ...x86.statfs }, {
    size: 120,
    type: 0,
    bsize: 8,
    blocks: 16,
    bavail: 32,
  });

  const arm = libcLayoutFor("linux", "aarch64");
  assert.equal(arm.candidates[0], "/usr/lib/aarch64-linux-gnu/libc.so.6");
  assert.deepEqual(
    { ...arm.stat },
    {
      size: 128,
      dev: 0,
      ino: 8,
      nlink: 20,
      nlinkBits: 32,
      mode: 16,
      fileSize: 48,
    },
  );
  assert.deepEqual(arm.statfs, x86.statfs);
});

Deno.test("libcLayoutFor: a platform whose layouts are not known is refused, naming it", () => {
  for (
    const [os, arch] of [
      ["darwin", "aarch64"],
      ["darwin", "x86_64"],
      ["windows", "x86_64"],
      ["android", "aarch64"],
      ["freebsd", "x86_64"],
    ]
  ) {
    assert.throws(
      () => libcLayoutFor(os, arch),
      (error: unknown) => {
        assert.ok(error instanceof FfiUnavailableError);
        assert.equal(
          error.message,
          "the shared-memory mode needs libc struct layouts, which are known " +
            `on linux x86_64 and linux aarch64 only; this is ${os} ${arch}`,
        );
        return true;
      },
    );
  }
});

Deno.test("importing the store, worker, scheduler and nanny, and a private-mode store at work, never open libc", async () => {
  const output = await runDeno(
    ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
    new URL("./_no_libc_child.ts", import.meta.url),
  );
  assert.equal(output.code, 0, output.stderr);
  assert.deepEqual(JSON.parse(output.stdout), {
    opens: 0,
    state: "spilled",
    sum: 7 * 1024,
  });
});

/**
 * Mounting a real tmpfs (root only), with no side effect at import: tests
 * use it through `tmpfs.ts` (which also probes whether mounting works
 * here), benchmarks directly.
 *
 * @module
 */

/** A mounted tmpfs; disposing it unmounts it and removes the mount point. */
export interface TmpfsMount extends AsyncDisposable {
  /** The mount point. */
  path: string;
  /** Remounts read-only (`ro: true`) or read-write. */
  remount(options: { ro: boolean }): Promise<void>;
}

async function run(args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/**
 * Mounts a tmpfs of `size` (e.g. "2m", or a number of bytes) on a fresh
 * directory under `parent` (default /tmp), with huge pages as the README
 * advises (`huge` says otherwise).
 */
export async function mountTmpfs(
  size: string | number,
  parent = "/tmp",
  huge: "within_size" | "never" = "within_size",
): Promise<TmpfsMount> {
  const path = await Deno.makeTempDir({
    dir: parent,
    prefix: "spillway-tmpfs-",
  });
  try {
    await run([
      "mount",
      "-t",
      "tmpfs",
      "-o",
      `size=${size},huge=${huge}`,
      "tmpfs",
      path,
    ]);
  } catch (error) {
    await Deno.remove(path);
    throw error;
  }
  return {
    path,
    remount: ({ ro }) =>
      run(["mount", "-o", `remount,${ro ? "ro" : "rw"}`, path]),
    async [Symbol.asyncDispose]() {
      await run(["umount", "-l", path]);
      await Deno.remove(path);
    },
  };
}

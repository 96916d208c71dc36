/**
 * Real tmpfs mounts for tests that need a full or read-only disk. Mounting
 * needs root (and a kernel that lets this process mount); where that is not
 * so, `tmpfsUnavailable` says why and the test is skipped with that message.
 */

/** Why a tmpfs cannot be mounted here, or null when it can. */
export const tmpfsUnavailable: string | null = await probe();

async function probe(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "tmpfs mounts need Linux";
  if (Deno.uid() !== 0) {
    return "mounting a tmpfs needs root (run the tests as root to include this)";
  }
  try {
    await using mount = await mountTmpfs("64k");
    void mount;
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here: ${(error as Error).message}`;
  }
}

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

/** Mounts a tmpfs of `size` (e.g. "2m") on a fresh directory under /tmp. */
export async function mountTmpfs(size: string): Promise<TmpfsMount> {
  const path = await Deno.makeTempDir({ prefix: "spillway-tmpfs-" });
  try {
    await run(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path]);
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

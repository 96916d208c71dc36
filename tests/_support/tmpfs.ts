/**
 * Real tmpfs mounts for tests that need a full or read-only disk, or a
 * shared spill root. Mounting needs root (and a kernel that lets this
 * process mount); where that is not so, `tmpfsUnavailable` says why and the
 * test is skipped with that message.
 */
import { mountTmpfs } from "./mount.ts";

export { mountTmpfs, type TmpfsMount } from "./mount.ts";

/** Why a tmpfs cannot be mounted here, or null when it can. */
export const tmpfsUnavailable: string | null = await probe();

if (tmpfsUnavailable !== null) {
  console.warn(
    `[tests] skipping tests that mount a tmpfs: ${tmpfsUnavailable}`,
  );
}

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

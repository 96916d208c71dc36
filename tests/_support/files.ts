/** Walking the files a test's cluster or store left on disk. */

/** A file found by {@linkcode filesUnder}, with its stat. */
export interface FoundFile {
  path: string;
  info: Deno.FileInfo;
}

/**
 * Every file under `root` (recursively), with its stat. Workers delete
 * files (and nannies directories) while this walks: what is gone by the
 * time it is looked at is not counted, and a missing `root` has no files.
 */
export async function filesUnder(root: string): Promise<FoundFile[]> {
  const found: FoundFile[] = [];
  const walk = async (dir: string) => {
    const entries = await unlessRemoved(Array.fromAsync(Deno.readDir(dir)));
    for (const entry of entries ?? []) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else {
        const info = await unlessRemoved(Deno.stat(path));
        if (info !== null) found.push({ path, info });
      }
    }
  };
  await walk(root);
  return found;
}

/** `work`'s value, or null if what it looks at was removed meanwhile. */
async function unlessRemoved<T>(work: Promise<T>): Promise<T | null> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

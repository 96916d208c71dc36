/**
 * The identity of a shared spill root: a random id written into it by the
 * first worker that uses it, read by every later one. Workers link each
 * other's spill files only when host, `st_dev` and this id all match:
 * `st_dev` numbers collide across hosts (and between network namespaces,
 * which also share the hostname and machine id), an id in the root does
 * not.
 *
 * The id is the name of the one empty directory inside
 * `.spillway-root-id/`: a directory (not a file) so that the root holds no
 * file that is not a spill file, and made by an atomic rename so that
 * workers starting together agree on one id.
 *
 * @module
 */
import { join } from "node:path";

/**
 * Name of the directory holding a shared spill root's id, in the root itself.
 *
 * @example
 * ```ts
 * import { ROOT_ID_DIR } from "./root_id.ts";
 * ROOT_ID_DIR; // ".spillway-root-id"
 * ```
 */
export const ROOT_ID_DIR = ".spillway-root-id";

const VALID = /^[0-9a-f]{32}$/;

function readId(path: string): string | null {
  let names: string[];
  try {
    names = [...Deno.readDirSync(path)].map((e) => e.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  if (names.length !== 1 || !VALID.test(names[0])) {
    throw new Error(
      `${path} does not hold a spill root id (one directory named by 32 hex digits): ` +
        `remove it and restart the workers`,
    );
  }
  return names[0];
}

/**
 * The id of the shared spill root `root` (an existing directory), made
 * and written there when first used. Concurrent first uses agree: each
 * makes its id in a temporary directory and renames it into place, which
 * fails for all but the first (the target is then not empty), and the
 * others read the first's id.
 *
 * @example
 * ```ts
 * import { spillRootId } from "./root_id.ts";
 * const root = Deno.makeTempDirSync();
 * spillRootId(root) === spillRootId(root); // true: written once, then read
 * ```
 */
export function spillRootId(root: string): string {
  const path = join(root, ROOT_ID_DIR);
  const found = readId(path);
  if (found !== null) return found;
  const id = crypto.randomUUID().replaceAll("-", "");
  const temp = `${path}.${id}`;
  Deno.mkdirSync(join(temp, id), { recursive: true });
  try {
    Deno.renameSync(temp, path);
    return id;
  } catch (error) {
    // Another worker was first (ENOTEMPTY or EEXIST): read its id.
    const winner = readId(path);
    if (winner === null) throw error;
    Deno.removeSync(temp, { recursive: true });
    return winner;
  }
}

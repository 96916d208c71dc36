/**
 * Hard-linking a same-host peer's spill file into this worker's directory,
 * after checking that the path it sent really lies inside the shared spill
 * root (docs/architecture.md#a-peer-asking-for-data). The peer is trusted to be a peer,
 * not to send only good paths: a path with `..`, a symlink leading out of
 * the root, or anything but a regular file is refused before any link is
 * made, and nothing outside the root is touched.
 *
 * @module
 */
import { testStopAt } from "../platform/test_stop.ts";
import { isAbsolute, normalize, resolve } from "node:path";
import type { LinkOptions } from "./tier.ts";
import { removeQuietly } from "./spill_files.ts";

/**
 * Why a link was refused or failed. OS failures carry the errno name
 * (`EXDEV`: other filesystem; `EPERM`/`EACCES`; `ENOENT`: the peer's file is
 * gone; `EMLINK`; `ENOSPC`; ...), `NOT_CAPABLE` a Deno permission refusal.
 * Refusals of the path: `BAD_PATH` (relative, or a `..` segment),
 * `OUTSIDE_ROOT` (it, or the symlink it goes through, leads out of the
 * shared root), `NOT_A_FILE`, `SIZE_MISMATCH` (not the size the peer
 * announced), `CHANGED` (replaced while being linked). In every case the
 * caller can fall back to a byte transfer.
 *
 * @example
 * ```ts
 * import { LinkError } from "./link.ts";
 * const error = new LinkError("EXDEV", "/mnt/a/1-x.spw", "other filesystem");
 * error.code; // "EXDEV"
 * ```
 */
export class LinkError extends Error {
  /** Why: an errno name or one of the refusal codes above. */
  readonly code: string;
  /** The path the peer sent. */
  readonly sourcePath: string;

  /** An error for `sourcePath` with `code` and `reason`. */
  constructor(
    code: string,
    sourcePath: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `cannot hard-link ${JSON.stringify(sourcePath)} (${code}): ${reason}`,
      options,
    );
    this.name = "LinkError";
    this.code = code;
    this.sourcePath = sourcePath;
  }
}

/** Whether `path` lies strictly inside directory `root` (both normalized, absolute). */
function isInside(path: string, root: string): boolean {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return path.startsWith(prefix) && path.length > prefix.length;
}

function fromOsError(error: unknown, sourcePath: string, what: string): never {
  if (error instanceof LinkError) throw error;
  const code = error instanceof Deno.errors.NotCapable
    ? "NOT_CAPABLE"
    : (error as { code?: unknown })?.code;
  throw new LinkError(
    typeof code === "string" ? code : "OTHER",
    sourcePath,
    `${what}: ${(error as Error)?.message ?? String(error)}`,
    { cause: error },
  );
}

/**
 * Runs a metadata call synchronously, turning its error into a
 * {@linkcode LinkError}. These calls touch only the tmpfs's inodes and take
 * microseconds; each async call cost a hop through Deno's thread pool
 * (0.2–0.4 ms here), which made a link several times slower.
 */
function attempt<T>(call: () => T, sourcePath: string, what: string): T {
  try {
    return call();
  } catch (error) {
    fromOsError(error, sourcePath, what);
  }
}

/**
 * Checks `sourcePath` and returns its real path and file info: it must be
 * absolute, have no `..` segment, lie inside `sharedRoot` both as written
 * and once symlinks are resolved, and be a regular file (of `options.bytes`
 * bytes when given). Throws a {@linkcode LinkError} otherwise.
 *
 * @example
 * ```ts
 * import { checkSourcePath } from "./link.ts";
 * const { realPath } = checkSourcePath("/mnt/spill/w1/1-x.spw", "/mnt/spill");
 * ```
 */
export function checkSourcePath(
  sourcePath: string,
  sharedRoot: string,
  options: LinkOptions = {},
): { realPath: string; info: Deno.FileInfo } {
  if (typeof sourcePath !== "string" || !isAbsolute(sourcePath)) {
    throw new LinkError("BAD_PATH", String(sourcePath), "not an absolute path");
  }
  if (sourcePath.split("/").includes("..")) {
    throw new LinkError("BAD_PATH", sourcePath, 'it has a ".." segment');
  }
  const root = resolve(sharedRoot);
  const realRoot = attempt(
    () => Deno.realPathSync(root),
    sourcePath,
    `shared root ${root}`,
  );
  const written = normalize(sourcePath);
  if (!isInside(written, root) && !isInside(written, realRoot)) {
    throw new LinkError(
      "OUTSIDE_ROOT",
      sourcePath,
      `not inside the shared spill root ${root}`,
    );
  }
  const realPath = attempt(
    () => Deno.realPathSync(written),
    sourcePath,
    "resolving it",
  );
  if (!isInside(realPath, realRoot)) {
    throw new LinkError(
      "OUTSIDE_ROOT",
      sourcePath,
      `it resolves through a symlink to ${realPath}, outside the shared spill root ${realRoot}`,
    );
  }
  const info = attempt(() => Deno.lstatSync(realPath), sourcePath, "stat");
  if (!info.isFile) {
    throw new LinkError("NOT_A_FILE", sourcePath, "not a regular file");
  }
  if (options.bytes !== undefined && info.size !== options.bytes) {
    throw new LinkError(
      "SIZE_MISMATCH",
      sourcePath,
      `it has ${info.size} bytes, the peer announced ${options.bytes}`,
    );
  }
  return { realPath, info };
}

/**
 * Hard-links the peer file `sourcePath` (checked by
 * {@linkcode checkSourcePath}) to `targetPath`, then checks that the new
 * link is the very inode that was checked (a file swapped meanwhile is
 * unlinked again and refused). Resolves with the new link's info (its
 * `nlink` counts every link). Rejects with a {@linkcode LinkError}; no link
 * is left behind.
 *
 * @example
 * ```ts
 * import { hardLinkFromPeer } from "./link.ts";
 * const info = await hardLinkFromPeer("/mnt/spill/w1/1-x.spw", "/mnt/spill", "/mnt/spill/w2/1-x.spw");
 * info.nlink; // 2
 * ```
 */
export async function hardLinkFromPeer(
  sourcePath: string,
  sharedRoot: string,
  targetPath: string,
  options: LinkOptions = {},
): Promise<Deno.FileInfo> {
  const { realPath, info } = checkSourcePath(
    sourcePath,
    sharedRoot,
    options,
  );
  testStopAt("link"); // tests only: killed while linking
  attempt(() => Deno.linkSync(realPath, targetPath), sourcePath, "link");
  let linked: Deno.FileInfo;
  try {
    linked = Deno.lstatSync(targetPath);
  } catch (error) {
    await removeQuietly(targetPath);
    fromOsError(error, sourcePath, "stat of the new link");
  }
  if (!linked.isFile || linked.ino !== info.ino || linked.dev !== info.dev) {
    await removeQuietly(targetPath);
    throw new LinkError(
      "CHANGED",
      sourcePath,
      "the file was replaced while it was being linked",
    );
  }
  return linked;
}

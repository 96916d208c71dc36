/**
 * The Deno permission flags each cluster role runs with, and the checks
 * around them.
 *
 * | role             | needs                                                                  |
 * | ---------------- | ---------------------------------------------------------------------- |
 * | every role       | `--allow-env=SPILLWAY_AUTH_TOKEN` (the cluster's auth token, if any)     |
 * | scheduler        | `--allow-net=<host>` (listen; workers and clients connect in); for the  |
 * |                  | dashboard, read on its page's files and sys systemMemoryInfo            |
 * | worker process   | net to the cluster's hosts; read+write on its spill dir; read on the   |
 * |                  | task modules and spillway's `src/worker` (executor entry); sys hostname |
 * | nanny            | what it hands its child, plus `--allow-run=<deno>,cat` (spawn the child; |
 * |                  | read `/proc/<pid>/status`, which Deno only allows `-A` to read itself)   |
 *
 * Deno refuses scoped grants anywhere under `/dev` (`/dev/shm` included,
 * denoland/deno#30979; docs/platform.md#permissions-under-dev), so a spill directory there needs
 * `-A`: {@linkcode checkSpillPath} says so up front.
 *
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerConfig } from "../worker/config.ts";
import { AUTH_TOKEN_ENV } from "./spawn.ts";
import { TEST_STOP_AT_ENV } from "../platform/test_stop.ts";
import { grantList, type TaskPermissions } from "../worker/task_permissions.ts";

/**
 * Every role may read the cluster's auth token from this one environment
 * variable (and removes it once read).
 */
export const TOKEN_ENV_FLAG: string = `--allow-env=${AUTH_TOKEN_ENV}`;

/** Deno's `--allow-sys` kinds used here. */
export type SysKind = "hostname" | "systemMemoryInfo";

/**
 * Raised when a spill directory cannot be granted to a role.
 *
 * @example
 * ```ts
 * import { LocalCluster, SpillPathError } from "@spillway/spillway";
 * try {
 *   await LocalCluster.start({ spillDir: "/dev/shm/spillway" }); // refused without allowAll
 * } catch (error) {
 *   if (error instanceof SpillPathError) console.error(error.message);
 * }
 * ```
 */
export class SpillPathError extends Error {
  /** Always `"SpillPathError"`. */
  override name = "SpillPathError";
}

/** Whether `path` (absolute) is `/dev` or inside it. */
export function isUnderDev(path: string): boolean {
  return path === "/dev" || path.startsWith("/dev/");
}

/**
 * Rejects a spill directory Deno will not grant with scoped flags: one
 * under `/dev` (after resolving symlinks, when the path exists), unless the
 * roles run with `-A`. Also rejects a comma, which Deno's flag lists cannot
 * carry.
 *
 * @param path The spill directory or root.
 * @param allowAll Whether the roles run with `-A` (then `/dev` is fine).
 * @param remedy How the user grants `-A` (`"pass allowAll: true"`, `"run with -A"`).
 * @throws {SpillPathError} With what is wrong and what to do instead.
 */
export async function checkSpillPath(
  path: string,
  allowAll: boolean,
  remedy: string,
): Promise<void> {
  const absolute = resolve(path);
  if (absolute.includes(",")) {
    throw new SpillPathError(
      `spill directory ${absolute} contains a comma, which Deno's --allow-read/--allow-write lists cannot carry`,
    );
  }
  if (allowAll) return;
  const refuse = (shown: string) =>
    new SpillPathError(
      `spill directory ${shown} is under /dev, where Deno refuses scoped ` +
        `--allow-read/--allow-write grants (denoland/deno#30979): use a tmpfs ` +
        `mounted elsewhere (mount -t tmpfs tmpfs /mnt/spill), or ${remedy}`,
    );
  if (isUnderDev(absolute)) throw refuse(absolute);
  // A symlink into /dev (e.g. /run/shm) is refused too: resolve the deepest
  // existing ancestor.
  let probe = absolute;
  for (;;) {
    try {
      const real = await Deno.realPath(probe);
      if (isUnderDev(real)) throw refuse(`${absolute} (${real})`);
      return;
    } catch (error) {
      if (error instanceof SpillPathError) throw error;
      if (
        error instanceof Deno.errors.NotCapable &&
        /all access/.test(error.message)
      ) {
        throw refuse(absolute);
      }
      if (!(error instanceof Deno.errors.NotFound)) return; // cannot tell; Deno will say
      const parent = resolve(probe, "..");
      if (parent === probe) return;
      probe = parent;
    }
  }
}

function list(paths: readonly string[]): string {
  for (const path of paths) {
    if (path.includes(",")) {
      throw new SpillPathError(
        `path ${path} contains a comma, which Deno's permission lists cannot carry`,
      );
    }
  }
  return [...new Set(paths)].join(",");
}

/**
 * The files a worker must read to import its codec modules (`codecs:`,
 * `--codecs`): the `file:` ones among their URLs (remote ones are
 * imported, not read).
 *
 * @param codecs The codec modules' URLs.
 * @returns Their paths.
 *
 * @example
 * ```ts
 * import { codecReadPaths } from "./permissions.ts";
 * codecReadPaths(["file:///srv/app/codecs.ts", "https://example.com/geo.ts"]);
 * // ["/srv/app/codecs.ts"]
 * ```
 */
export function codecReadPaths(codecs: readonly string[] = []): string[] {
  return codecs.flatMap((url) =>
    url.startsWith("file:") ? [fileURLToPath(url)] : []
  );
}

/**
 * The files of the dashboard's page (`src/dashboard/static`), which the
 * scheduler serves; null when spillway's code is not on the local file
 * system (compiled, or imported from `https:`).
 */
export function dashboardStaticPath(): string | null {
  const url = new URL("../dashboard/static", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url) : null;
}

/**
 * The scheduler's flags: it listens on `host` (the scheduler's port and
 * the dashboard's); with the dashboard, it also reads the page's files and
 * the host's memory (`--allow-sys=systemMemoryInfo`).
 *
 * @param host The interface it binds (and clients and workers reach).
 * @param dashboard Whether it serves the dashboard. Default true.
 * @returns Deno flags.
 */
export function schedulerFlags(host: string, dashboard = true): string[] {
  if (!dashboard) return [`--allow-net=${host}`, TOKEN_ENV_FLAG];
  const statics = dashboardStaticPath();
  return [
    `--allow-net=${host}`,
    TOKEN_ENV_FLAG,
    ...(statics !== null ? [`--allow-read=${list([statics])}`] : []),
    "--allow-sys=systemMemoryInfo",
  ];
}

/**
 * What a worker process needs, for {@linkcode workerFlags}: read and write
 * on its spill directory (in shared-memory mode the host's shared spill
 * root, which peers' files are linked from), and in shared-memory mode
 * `--allow-ffi` (mmap through libc; FFI lifts Deno's sandbox for that
 * process).
 */
export interface WorkerNeeds
  extends
    Pick<WorkerConfig, "spillDir">,
    Partial<Pick<WorkerConfig, "sharedMemory">> {
  /** Hosts it listens on and connects to (scheduler, peers). */
  netHosts: readonly string[];
  /** Directories or files task modules are read from, and spillway's own executor code. */
  read: readonly string[];
  /**
   * What the worker grants its tasks (`taskPermissions`): it must hold
   * that itself (Deno keeps a Web Worker within its parent's permissions).
   */
  tasks?: TaskPermissions;
}

/**
 * One `--allow-<name>` flag for `base` and the tasks' grant of `name`: bare
 * when the grant is all of it, none when both are empty. One flag per
 * permission: Deno takes a list after a bare flag as the whole grant.
 */
function grantFlag(
  name: "net" | "read" | "write" | "env" | "run",
  base: readonly string[],
  tasks: TaskPermissions | undefined,
): string[] {
  const granted = grantList(tasks?.[name]);
  if (granted === true) return [`--allow-${name}`];
  const all = [...base, ...granted];
  return all.length > 0 ? [`--allow-${name}=${list(all)}`] : [];
}

/**
 * A worker process's flags when its parent decides them (LocalCluster):
 * exactly what it needs.
 *
 * @param needs Hosts, spill directory, readable paths.
 * @returns Deno flags.
 */
export function workerFlags(needs: WorkerNeeds): string[] {
  return [
    ...grantFlag("net", needs.netHosts, needs.tasks),
    ...grantFlag("read", [needs.spillDir, ...needs.read], needs.tasks),
    ...grantFlag("write", [needs.spillDir], needs.tasks),
    "--allow-sys=hostname",
    ...(needs.sharedMemory ? ["--allow-ffi"] : []),
    // The cluster's auth token (removed from the environment once read).
    ...grantFlag("env", [AUTH_TOKEN_ENV, ...testStopGrant()], needs.tasks),
    ...grantFlag("run", [], needs.tasks),
  ];
}

/**
 * The nanny's flags (LocalCluster): what its worker process needs (it hands
 * on no more than it holds) plus running Deno (its child) and `cat` (the
 * child's RSS: Deno lets only `-A` read `/proc` itself).
 *
 * @param needs The worker's needs, with the spill root the nanny makes
 *   each child's directory in.
 * @returns Deno flags.
 */
export function nannyFlags(needs: WorkerNeeds): string[] {
  return [
    ...workerFlags({ ...needs, tasks: { ...needs.tasks, run: false } }),
    ...grantFlag("run", [Deno.execPath(), "cat"], needs.tasks),
  ];
}

/**
 * The test-only stop hook's variable (`testStopAt`), when it is set here:
 * a worker may read it then, and only then.
 */
function testStopGrant(): string[] {
  const variable = TEST_STOP_AT_ENV;
  if (
    Deno.permissions.querySync({ name: "env", variable }).state !== "granted"
  ) {
    return [];
  }
  return Deno.env.get(variable) !== undefined ? [variable] : [];
}

/** Whether this process holds a permission (never prompts). */
export type PermissionQuery = (
  descriptor: Deno.PermissionDescriptor,
) => boolean;

/** The default {@linkcode PermissionQuery}: `Deno.permissions.querySync`. */
export const holds: PermissionQuery = (descriptor) =>
  Deno.permissions.querySync(descriptor).state === "granted";

/** Whether this process runs with every permission (`-A`). */
export function holdsAll(query: PermissionQuery = holds): boolean {
  const names = [
    "read",
    "write",
    "net",
    "env",
    "sys",
    "run",
    "ffi",
  ] as const;
  return names.every((name) => query({ name }));
}

/** What a nanny's child needs, for {@linkcode childFlags}. */
export interface ChildNeeds extends WorkerNeeds {
  /**
   * Whether the child may read anything its parent may (no task module
   * directories were named, so they could be anywhere).
   */
  anyRead: boolean;
}

/**
 * The flags a nanny gives its worker process: what the child needs, and
 * only what the nanny itself holds (so never more than the nanny's). Where
 * the nanny holds a whole category (`--allow-net`), the child gets all of
 * it when it may need any of it (peers on any host; task modules anywhere
 * unless named); writes are always only its spill directory. A spill
 * directory under `/dev` needs `-A` (see {@linkcode checkSpillPath}).
 *
 * @param needs What the child needs.
 * @param query Permission lookup (for tests).
 * @returns Deno flags.
 */
export function childFlags(
  needs: ChildNeeds,
  query: PermissionQuery = holds,
): string[] {
  if (isUnderDev(resolve(needs.spillDir)) && holdsAll(query)) return ["-A"];
  const flags: string[] = [];
  // The tasks' grants, as far as the nanny holds them (the worker command
  // refuses to start without them).
  const tasks = needs.tasks;
  const all = (name: "net" | "read" | "write" | "env" | "run") =>
    grantList(tasks?.[name]) === true && query({ name });
  const granted = (name: "net" | "read" | "write" | "env" | "run") => {
    const g = grantList(tasks?.[name]);
    return g === true ? [] : g;
  };
  if (query({ name: "net" })) flags.push("--allow-net");
  else {
    const hosts = [...needs.netHosts, ...granted("net")].filter((host) =>
      query({ name: "net", host })
    );
    if (hosts.length > 0) flags.push(`--allow-net=${list(hosts)}`);
  }
  if ((needs.anyRead || all("read")) && query({ name: "read" })) {
    flags.push("--allow-read");
  } else {
    const paths = [needs.spillDir, ...needs.read, ...granted("read")].filter((
      path,
    ) => query({ name: "read", path }));
    if (paths.length > 0) flags.push(`--allow-read=${list(paths)}`);
  }
  if (all("write")) flags.push("--allow-write");
  else {
    const paths = [needs.spillDir, ...granted("write")].filter((path) =>
      query({ name: "write", path })
    );
    if (paths.length > 0) flags.push(`--allow-write=${list(paths)}`);
  }
  if (query({ name: "sys", kind: "hostname" })) {
    flags.push("--allow-sys=hostname");
  }
  if (needs.sharedMemory && query({ name: "ffi" })) flags.push("--allow-ffi");
  if (all("env")) flags.push("--allow-env");
  else {
    // The cluster's auth token, and what tasks are granted.
    const names = [AUTH_TOKEN_ENV, TEST_STOP_AT_ENV, ...granted("env")].filter((
      variable,
    ) => query({ name: "env", variable }));
    if (names.length > 0) flags.push(`--allow-env=${list(names)}`);
  }
  if (all("run")) flags.push("--allow-run");
  else {
    const commands = granted("run").filter((command) =>
      query({ name: "run", command })
    );
    if (commands.length > 0) flags.push(`--allow-run=${list(commands)}`);
  }
  return flags;
}

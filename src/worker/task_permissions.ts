/**
 * The sandbox tasks run in: what an executor may do (Deno's
 * `deno.permissions` on its Web Worker), the grants a worker is started
 * with for its tasks (`--task-allow-*` on `spillway worker`,
 * `taskPermissions` on `LocalCluster.start`), and the hint a task's
 * permission error carries.
 *
 * By default a task may read its modules' directories, the codec modules,
 * spillway's own code and Deno's cache of `npm:` and remote modules, and
 * import remote modules from the hosts its worker process may import from;
 * nothing else: no other reads, no writes, no network, no subprocesses, no
 * FFI, no environment, no system information. In shared-memory mode an
 * executor also holds FFI (it maps its inputs) and read and write on its
 * worker's spill directory: FFI lifts the sandbox there.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExecutorPermissions } from "./executor_pool.ts";

/** The permissions a worker may grant its tasks. */
export type TaskPermissionName = "read" | "write" | "net" | "env" | "run";

/** Every {@linkcode TaskPermissionName}, in the order flags are written. */
export const TASK_PERMISSION_NAMES: readonly TaskPermissionName[] = [
  "read",
  "write",
  "net",
  "env",
  "run",
];

/**
 * What tasks may do beyond the sandbox's defaults, in Deno's own permission
 * shape: per permission a list (paths, `host[:port]`, variable names,
 * commands) or `true` for all of it; absent or `false`, none. On the
 * command line, `--task-allow-read[=<list>]` and its siblings, which take
 * their values as Deno's own `--allow-*` flags do.
 *
 * @example
 * ```ts
 * import type { TaskPermissions } from "./task_permissions.ts";
 * const grants: TaskPermissions = { read: ["/srv/data"], net: ["api.example.com:443"] };
 * ```
 */
export interface TaskPermissions {
  /** Paths tasks may read (besides their modules and Deno's cache). */
  read?: string[] | boolean;
  /** Paths tasks may write. */
  write?: string[] | boolean;
  /** Hosts (`host` or `host:port`) tasks may connect to or listen on. */
  net?: string[] | boolean;
  /** Environment variables tasks may read. */
  env?: string[] | boolean;
  /** Programs tasks may run. */
  run?: string[] | boolean;
}

/** The entries of a grant: `true` for all, a list, or none (`[]`). */
export function grantList(
  grant: string[] | boolean | undefined,
): string[] | true {
  if (grant === true) return true;
  return Array.isArray(grant) ? [...grant] : [];
}

/**
 * The `--task-allow-*` arguments that give `grants` to a worker's tasks
 * (what `spillway worker` reads back).
 *
 * @param grants The grants.
 * @returns Command line arguments, one per granted permission.
 *
 * @example
 * ```ts
 * import { taskGrantArgs } from "./task_permissions.ts";
 * taskGrantArgs({ read: ["/srv/data"], net: true });
 * // ["--task-allow-read=/srv/data", "--task-allow-net"]
 * ```
 */
export function taskGrantArgs(grants: TaskPermissions | undefined): string[] {
  if (grants === undefined) return [];
  const args: string[] = [];
  for (const name of TASK_PERMISSION_NAMES) {
    const list = grantList(grants[name]);
    if (list === true) args.push(`--task-allow-${name}`);
    else if (list.length > 0) {
      for (const entry of list) {
        if (entry.includes(",")) {
          throw new RangeError(
            `taskPermissions.${name} entry ${entry} contains a comma, which Deno's permission lists cannot carry`,
          );
        }
      }
      args.push(`--task-allow-${name}=${[...new Set(list)].join(",")}`);
    }
  }
  return args;
}

/**
 * The Deno permission descriptors a process must hold to grant `grants`
 * (Deno requires a worker's permissions to be within its parent's), each
 * with the flag that gives it.
 */
function descriptors(
  grants: TaskPermissions,
): { descriptor: Deno.PermissionDescriptor; flag: string }[] {
  const out: { descriptor: Deno.PermissionDescriptor; flag: string }[] = [];
  for (const name of TASK_PERMISSION_NAMES) {
    const list = grantList(grants[name]);
    if (list === true) {
      out.push({ descriptor: { name }, flag: `--allow-${name}` });
      continue;
    }
    for (const entry of list) {
      const descriptor: Deno.PermissionDescriptor = name === "read"
        ? { name, path: entry }
        : name === "write"
        ? { name, path: entry }
        : name === "net"
        ? { name, host: entry }
        : name === "env"
        ? { name, variable: entry }
        : { name, command: entry };
      out.push({ descriptor, flag: `--allow-${name}=${entry}` });
    }
  }
  return out;
}

/**
 * The grants this process cannot hand on to its tasks because it does not
 * hold them itself, as the Deno flags that would give them.
 *
 * @param grants What tasks are to be granted.
 * @param query Whether this process holds a permission (never prompts).
 * @returns The missing flags; empty when every grant is held.
 *
 * @example
 * ```ts
 * import { missingGrants } from "./task_permissions.ts";
 * const missing = missingGrants({ write: ["/srv/out"] });
 * if (missing.length > 0) console.error(`run with ${missing.join(" ")}`);
 * ```
 */
export function missingGrants(
  grants: TaskPermissions | undefined,
  query: (descriptor: Deno.PermissionDescriptor) => boolean = held,
): string[] {
  if (grants === undefined) return [];
  return descriptors(grants).filter(({ descriptor }) => !query(descriptor))
    .map(({ flag }) => flag);
}

function held(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Spillway's own code (`src/`), which task modules and codec modules may
 * import (`registerCodec`) and the executors import in shared-memory mode;
 * null when not on the local file system.
 *
 * @returns Its directory, or null.
 */
export function spillwaySource(): string | null {
  const url = new URL("../", import.meta.url);
  return url.protocol === "file:"
    ? fileURLToPath(url).replace(/\/$/, "")
    : null;
}

/**
 * Deno's cache of `npm:` packages and remote modules under `denoDir`,
 * which tasks may read (a package reading its own files at run time).
 *
 * @param denoDir Deno's directory (`deno info --json` → `denoDir`).
 * @returns The two cache directories.
 *
 * @example
 * ```ts
 * import { denoCachePaths } from "./task_permissions.ts";
 * denoCachePaths("/home/me/.cache/deno");
 * // ["/home/me/.cache/deno/npm", "/home/me/.cache/deno/remote"]
 * ```
 */
export function denoCachePaths(denoDir: string | null | undefined): string[] {
  if (denoDir === null || denoDir === undefined || denoDir === "") return [];
  return [join(denoDir, "npm"), join(denoDir, "remote")];
}

let denoDirFound: Promise<string | null> | undefined;

/**
 * Deno's directory (its caches): `DENO_DIR` when this process may read it,
 * else what `deno info --json` says (when this process may run Deno); null
 * when neither is allowed or it fails. Asked once per process.
 *
 * @returns The directory, or null.
 *
 * @example
 * ```ts
 * import { findDenoDir } from "./task_permissions.ts";
 * console.log(await findDenoDir()); // "/home/me/.cache/deno"
 * ```
 */
export function findDenoDir(): Promise<string | null> {
  denoDirFound ??= (async () => {
    if (held({ name: "env", variable: "DENO_DIR" })) {
      const dir = Deno.env.get("DENO_DIR");
      if (dir !== undefined && dir !== "") return resolve(dir);
    }
    if (Deno.build.standalone === true) return null;
    try {
      const deno = Deno.execPath();
      if (!held({ name: "run", command: deno })) return null;
      const out = await new Deno.Command(deno, {
        args: ["info", "--json"],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      if (!out.success) return null;
      const info = JSON.parse(new TextDecoder().decode(out.stdout));
      return typeof info.denoDir === "string" ? info.denoDir : null;
    } catch {
      return null;
    }
  })();
  return denoDirFound;
}

/** What {@linkcode executorSandbox} builds the executors' permissions from. */
export interface SandboxOptions {
  /** Directories or files task modules are read from. */
  modules: readonly string[];
  /** URLs of the codec modules (`--codecs`); the `file:` ones are read. */
  codecs?: readonly string[];
  /** Deno's directory, whose `npm:` and remote caches tasks may read. */
  denoDir?: string | null;
  /** What the worker grants its tasks beyond the defaults. */
  grants?: TaskPermissions;
  /**
   * Shared-memory mode: the worker's own spill directory, which its
   * executors write results to (and read, and map inputs from, with FFI).
   */
  sharedSpillDir?: string;
}

/**
 * The permissions of a worker's executors: the sandbox's defaults (read on
 * the task modules, codec modules, spillway's code and Deno's caches, as
 * far as this process may read them itself), the grants, and in
 * shared-memory mode FFI and the spill directory. Remote imports follow the
 * worker process's own (`--allow-import`, or Deno's default hosts).
 *
 * @param options Modules, codecs, Deno's directory, grants, shared mode.
 * @param query Whether this process holds a permission (for tests).
 * @returns The executors' permissions, for `ExecutorPool`'s `permissions`.
 *
 * @example
 * ```ts
 * import { executorSandbox } from "./task_permissions.ts";
 * import { ExecutorPool } from "./executor_pool.ts";
 * const permissions = executorSandbox({ modules: ["/srv/tasks"], grants: { net: ["db:5432"] } });
 * // Needs the process to run with --unstable-worker-options.
 * await using pool = new ExecutorPool({ permissions });
 * ```
 */
export function executorSandbox(
  options: SandboxOptions,
  query: (descriptor: Deno.PermissionDescriptor) => boolean = held,
): ExecutorPermissions {
  const grants = options.grants ?? {};
  const own = spillwaySource();
  const defaults = [
    ...options.modules.map((path) => resolve(path)),
    ...(options.codecs ?? []).flatMap((url) =>
      url.startsWith("file:") ? [fileURLToPath(url)] : []
    ),
    ...(own !== null ? [own] : []),
    ...denoCachePaths(options.denoDir),
    ...(options.sharedSpillDir !== undefined ? [options.sharedSpillDir] : []),
  ].filter((path) => query({ name: "read", path }));
  const list = (name: TaskPermissionName, extra: string[] = []) => {
    const granted = grantList(grants[name]);
    if (granted === true) return true;
    const all = [...new Set([...extra, ...granted])];
    return all.length > 0 ? all : false;
  };
  const shared = options.sharedSpillDir;
  return {
    read: list("read", defaults),
    write: list("write", shared !== undefined ? [shared] : []),
    net: list("net"),
    env: list("env"),
    run: list("run"),
    ffi: shared !== undefined,
    import: "inherit",
  };
}

/**
 * Whether `error` is Deno's refusal of a permission (`NotCapable` in Deno 2,
 * `PermissionDenied` before).
 */
export function isPermissionError(error: unknown): error is Error {
  return error instanceof Deno.errors.NotCapable ||
    (error instanceof Deno.errors.PermissionDenied &&
      /Requires \w+ access/.test(error.message));
}

/**
 * A task's permission error's message, with the grant that allows it in
 * place of Deno's advice to run again with a Deno flag (which would widen
 * the worker process, not its tasks); null when `error` is no permission
 * error.
 *
 * @param error What the task threw.
 * @returns The message to report, or null.
 *
 * @example
 * ```ts
 * import { sandboxMessage } from "./task_permissions.ts";
 * try {
 *   Deno.readTextFileSync("/etc/passwd");
 * } catch (error) {
 *   console.log(sandboxMessage(error) ?? String(error));
 * }
 * ```
 */
export function sandboxMessage(error: unknown): string | null {
  const hint = sandboxHint(error);
  if (hint === "") return null;
  const message = (error as Error).message.replace(
    /, run again with the --allow-\w+ flag$/,
    "",
  );
  return `${message}${hint}`;
}

/**
 * What to add to a task's permission error: which grant lets the task do
 * it, since Deno's own message names a Deno flag, not spillway's. Empty
 * when `error` is no permission error.
 *
 * @param error What the task threw.
 * @returns The hint, starting with a space, or `""`.
 *
 * @example
 * ```ts
 * import { sandboxHint } from "./task_permissions.ts";
 * try {
 *   Deno.readTextFileSync("/etc/passwd");
 * } catch (error) {
 *   console.log(`${(error as Error).message}${sandboxHint(error)}`);
 * }
 * ```
 */
export function sandboxHint(error: unknown): string {
  if (!isPermissionError(error)) return "";
  const kind = /Requires (\w+) access/.exec(error.message)?.[1];
  switch (kind) {
    case "read":
    case "write":
    case "net":
    case "env":
    case "run":
      return ` (tasks run in a sandbox: grant ${kind} access to them with ` +
        `--task-allow-${kind} on \`spillway worker\`, or ` +
        `taskPermissions.${kind} on LocalCluster.start)`;
    case "ffi":
      return " (tasks run in a sandbox without FFI; only shared-memory " +
        "mode's executors hold it)";
    case "sys":
      return " (tasks run in a sandbox without system information; no " +
        "grant lifts that)";
    case "import":
      return " (tasks import remote modules only from the hosts their " +
        "worker process may import from: its --allow-import)";
    default:
      return " (tasks run in a sandbox; see --task-allow-* on " +
        "`spillway worker`, or taskPermissions on LocalCluster.start)";
  }
}

/**
 * Checks grants given in code (`taskPermissions`) and makes their paths
 * absolute: each permission is `true`, `false` or a list of strings
 * without commas (Deno's flags cannot carry one).
 *
 * @param grants The grants as given.
 * @param what How the caller names them in errors.
 * @returns The grants, `read` and `write` paths resolved.
 * @throws {TypeError} For an unknown permission or a value of the wrong type.
 * @throws {RangeError} For an entry with a comma, or an empty one.
 *
 * @example
 * ```ts
 * import { checkTaskPermissions } from "./task_permissions.ts";
 * checkTaskPermissions({ read: ["data"], net: true }); // { read: ["/cwd/data"], net: true }
 * ```
 */
export function checkTaskPermissions(
  grants: TaskPermissions,
  what = "taskPermissions",
): TaskPermissions {
  if (grants === null || typeof grants !== "object") {
    throw new TypeError(`${what} must be an object, got ${grants}`);
  }
  const out: TaskPermissions = {};
  for (const [name, value] of Object.entries(grants)) {
    if (!(TASK_PERMISSION_NAMES as readonly string[]).includes(name)) {
      throw new TypeError(
        `${what}.${name}: tasks may be granted only ${
          TASK_PERMISSION_NAMES.join(", ")
        }`,
      );
    }
    const key = name as TaskPermissionName;
    if (value === undefined || typeof value === "boolean") {
      if (value !== undefined) out[key] = value;
      continue;
    }
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
      throw new TypeError(
        `${what}.${name} must be true, false or a list of strings, got ${
          JSON.stringify(value)
        }`,
      );
    }
    for (const entry of value as string[]) {
      if (entry === "" || entry.includes(",")) {
        throw new RangeError(
          `${what}.${name}: ${
            JSON.stringify(entry)
          } is empty or holds a comma, which Deno's permission lists cannot carry`,
        );
      }
    }
    out[key] = key === "read" || key === "write"
      ? (value as string[]).map((p) => resolve(p))
      : [...value as string[]];
  }
  return out;
}

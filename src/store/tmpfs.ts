/**
 * Whether a directory can hold the shared spill root (the tmpfs directory
 * under which same-host workers' spill files are mapped and hard-linked),
 * and the commands that make one.
 *
 * The root must be a tmpfs (files on a disk would be written back to it,
 * and mapping them would page from it), large enough for the worker's
 * memory limit, usable under Deno's permissions (which refuse scoped grants
 * anywhere under /dev: docs/platform.md#permissions-under-dev), and the process needs unscoped
 * `--allow-ffi` to map files. {@linkcode checkSharedSpillRoot} reports every
 * problem it finds at once, each with what to do about it.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { formatBytes } from "../memory/bytes.ts";
import { FfiUnavailableError, statfs } from "../platform/libc.ts";
import { mountOf } from "../platform/mountinfo.ts";

/**
 * `f_type` of a tmpfs (`TMPFS_MAGIC` in linux/magic.h).
 *
 * @example
 * ```ts
 * import { TMPFS_MAGIC } from "./tmpfs.ts";
 * import { statfs } from "../platform/libc.ts";
 * statfs("/dev/shm").type === TMPFS_MAGIC; // true
 * ```
 */
export const TMPFS_MAGIC = 0x01021994;

const FILESYSTEMS: Record<number, string> = {
  [TMPFS_MAGIC]: "tmpfs",
  0xef53: "ext2/ext3/ext4",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x794c7630: "overlayfs",
  0x2fc12fc1: "zfs",
  0x6969: "nfs",
  0xff534d42: "cifs",
  0xfe534d42: "smb2",
  0x01021997: "9p",
  0x65735546: "fuse",
  0x858458f6: "ramfs",
  0x958458f6: "hugetlbfs",
  0x73717368: "squashfs",
  0xf2f52010: "f2fs",
  0x4d44: "vfat",
  0x2011bab0: "exfat",
  0x5346544e: "ntfs",
  0x9fa0: "proc",
  0x62656572: "sysfs",
  0xcafe4a11: "bpf",
};

/**
 * The name of a filesystem from its `statfs` `f_type`, e.g. `"xfs"`, or
 * `"unknown"` with the number in hex.
 *
 * @example
 * ```ts
 * import { filesystemName } from "./tmpfs.ts";
 * filesystemName(0xef53); // "ext2/ext3/ext4"
 * ```
 */
export function filesystemName(type: number): string {
  return FILESYSTEMS[type] ?? `unknown (f_type 0x${type.toString(16)})`;
}

/**
 * What can be wrong with a shared spill root.
 *
 * @example
 * ```ts
 * import type { SharedSpillRootProblemCode } from "./tmpfs.ts";
 * const code: SharedSpillRootProblemCode = "not-tmpfs";
 * ```
 */
export type SharedSpillRootProblemCode =
  | "missing-ffi"
  | "under-dev"
  | "no-permission"
  | "not-found"
  | "not-a-directory"
  | "not-tmpfs"
  | "too-small"
  | "unchecked";

/**
 * One thing wrong with a shared spill root, and what to do about it.
 *
 * @example
 * ```ts
 * import type { SharedSpillRootProblem } from "./tmpfs.ts";
 * const problem: SharedSpillRootProblem = {
 *   code: "too-small",
 *   message: "the tmpfs at /mnt/spillway holds 1.00 MiB, less than the memory limit",
 * };
 * ```
 */
export interface SharedSpillRootProblem {
  /** Which check failed. */
  code: SharedSpillRootProblemCode;
  /** What is wrong and how to fix it, in a sentence or two. */
  message: string;
}

/**
 * Thrown by {@linkcode checkSharedSpillRoot}: its message lists every
 * problem found, one per line.
 *
 * @example
 * ```ts
 * import { checkSharedSpillRoot, SharedSpillRootError } from "./tmpfs.ts";
 * try {
 *   checkSharedSpillRoot("/tmp", 1 << 30);
 * } catch (error) {
 *   if (error instanceof SharedSpillRootError) {
 *     console.log(error.problems.map((p) => p.code)); // ["not-tmpfs"] on a disk
 *   }
 * }
 * ```
 */
export class SharedSpillRootError extends Error {
  /** The directory checked. */
  readonly path: string;
  /** Every problem found. */
  readonly problems: readonly SharedSpillRootProblem[];

  /** An error for `path` listing `problems`. */
  constructor(path: string, problems: readonly SharedSpillRootProblem[]) {
    super(
      `${path} cannot be the shared spill root:\n` +
        problems.map((p) => `  - ${p.message}`).join("\n"),
    );
    this.name = "SharedSpillRootError";
    this.path = path;
    this.problems = problems;
  }
}

/**
 * A usable shared spill root, as {@linkcode checkSharedSpillRoot} found it.
 *
 * @example
 * ```ts
 * import { checkSharedSpillRoot, type SharedSpillRoot } from "./tmpfs.ts";
 * const root: SharedSpillRoot = checkSharedSpillRoot("/mnt/spillway", 2 ** 30);
 * console.log(root.dev);
 * ```
 */
export interface SharedSpillRoot {
  /** The root's real path (symlinks resolved). */
  path: string;
  /** `st_dev` of the root: workers whose roots have equal `dev` (and host) can hard-link. */
  dev: number;
  /** Size of the tmpfs in bytes (Infinity when it has no size limit). */
  sizeBytes: number;
  /** Bytes free on it now. */
  availableBytes: number;
  /** Things that work but deserve a line in the log. */
  warnings: string[];
}

/** Where the messages suggest mounting a tmpfs when the given directory will not do. */
const SUGGESTED_ROOT = "/mnt/spillway";

const FFI_NOTE =
  "(FFI lifts Deno's sandbox for the process that holds it: grant it only to workers)";

function underDev(path: string): boolean {
  return path === "/dev" || path.startsWith("/dev/");
}

/**
 * Checks that `dir` can be the shared spill root of a worker whose memory
 * limit is `memoryLimitBytes`, and returns its real path and `st_dev`.
 * Throws a {@linkcode SharedSpillRootError} naming every problem: no
 * unscoped `--allow-ffi`; a path under /dev that Deno refuses without `-A`;
 * missing read/write permission; not found; not a directory; not a tmpfs
 * (naming the filesystem found); a tmpfs smaller than the memory limit.
 * Synchronous (a few stat calls), for a worker's start.
 *
 * @example
 * ```ts
 * import { checkSharedSpillRoot } from "./tmpfs.ts";
 * const root = checkSharedSpillRoot("/mnt/spillway", 4 * 2 ** 30);
 * console.log(root.dev, root.warnings);
 * ```
 */
export function checkSharedSpillRoot(
  dir: string,
  memoryLimitBytes: number,
): SharedSpillRoot {
  if (!(memoryLimitBytes >= 0 && Number.isFinite(memoryLimitBytes))) {
    throw new RangeError(
      `memoryLimitBytes must be a finite number of bytes >= 0, got ${memoryLimitBytes}`,
    );
  }
  const path = resolve(dir);
  const problems: SharedSpillRootProblem[] = [];
  const warnings: string[] = [];
  const fail = (code: SharedSpillRootProblemCode, message: string) => {
    problems.push({ code, message });
    return new SharedSpillRootError(path, problems);
  };
  const size = suggestedSize(memoryLimitBytes);
  const mountHere = `mount a tmpfs there: ${
    tmpfsSetupCommands(path, size).join(" && ")
  }`;
  // Never suggest mounting over a directory that exists: it would hide its files.
  const mountElsewhere =
    `mount a tmpfs on an empty directory outside /dev, e.g. ${
      tmpfsSetupCommands(SUGGESTED_ROOT, size).join(" && ")
    }`;

  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    fail(
      "missing-ffi",
      `the shared-memory mode needs --allow-ffi, unscoped: files are mapped through libc, ` +
        `and Deno refuses UnsafePointerView.getArrayBuffer under --allow-ffi=<path> ${FFI_NOTE}`,
    );
  }

  let real: string;
  let dev: number;
  try {
    real = Deno.realPathSync(path);
    const info = Deno.statSync(real);
    if (!info.isDirectory) {
      throw fail("not-a-directory", `${path} is not a directory`);
    }
    dev = info.dev;
  } catch (error) {
    if (error instanceof SharedSpillRootError) throw error;
    if (error instanceof Deno.errors.NotCapable) {
      if (underDev(path)) {
        throw fail(
          "under-dev",
          `${path} is under /dev, where Deno refuses scoped --allow-read/--allow-write ` +
            `grants (denoland/deno#30979): run with -A, or ${mountElsewhere}`,
        );
      }
      throw fail(
        "no-permission",
        `no access to ${path} (${
          (error as Error).message
        }): grant --allow-read=${path} --allow-write=${path}` +
          (underDev(path)
            ? ""
            : " (if it is a symlink into /dev, run with -A)"),
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw fail("not-found", `${path} does not exist: ${mountHere}`);
    }
    throw fail("unchecked", `cannot stat ${path}: ${(error as Error).message}`);
  }

  if (underDev(real)) {
    warnings.push(
      `${real} is under /dev: Deno refuses scoped --allow-read/--allow-write grants there, ` +
        `so this works only with -A; for least privilege, ${mountElsewhere}`,
    );
  } else {
    for (const name of ["read", "write"] as const) {
      if (
        Deno.permissions.querySync({ name, path: real }).state !== "granted"
      ) {
        fail(
          "no-permission",
          `no ${name} permission for ${real}: grant --allow-read=${real} --allow-write=${real}`,
        );
      }
    }
  }

  let sizeBytes = Infinity;
  let availableBytes = Infinity;
  try {
    const fs = statfs(real);
    if (fs.type !== TMPFS_MAGIC) {
      fail(
        "not-tmpfs",
        `${real} is not a tmpfs: it is on ${
          filesystemName(fs.type)
        }, so spilled data would go to a disk and mapped values would page from it; ${mountElsewhere}`,
      );
    } else {
      // A tmpfs mounted with size=0 has no limit and reports 0 blocks.
      sizeBytes = fs.blocks === 0 ? Infinity : fs.blocks * fs.blockSize;
      availableBytes = fs.blocks === 0
        ? Infinity
        : fs.availableBlocks * fs.blockSize;
      if (sizeBytes < memoryLimitBytes) {
        fail(
          "too-small",
          `the tmpfs at ${real} holds ${
            formatBytes(sizeBytes)
          }, less than the memory limit ` +
            `${formatBytes(memoryLimitBytes)}: grow it with ` +
            `mount -o remount,size=${memoryLimitBytes} ${
              shellQuote(mountPointOf(real))
            }`,
        );
      } else if (sizeBytes === Infinity) {
        warnings.push(
          `the tmpfs at ${real} has no size limit: spilled data can use all memory and swap`,
        );
      }
      const mount = mountOf(real);
      if (
        mount !== null &&
        !mount.options.some((o) => /^huge=(always|within_size)$/.test(o))
      ) {
        warnings.push(
          `the tmpfs at ${real} has no huge pages: tasks read mapped values 4–8× slower ` +
            `(every 4 KiB page is a fault); remount it with ` +
            `mount -o remount,huge=within_size ${shellQuote(mount.point)}`,
        );
      }
    }
  } catch (error) {
    if (!(error instanceof FfiUnavailableError)) {
      fail(
        "unchecked",
        `cannot statfs ${real}: ${(error as Error).message}`,
      );
    } else if (!problems.some((p) => p.code === "missing-ffi")) {
      fail("missing-ffi", `${error.message} ${FFI_NOTE}`);
    }
    // Without FFI the filesystem type is unknown; missing-ffi says why.
  }

  if (problems.length > 0) throw new SharedSpillRootError(path, problems);
  return { path: real, dev, sizeBytes, availableBytes, warnings };
}

/**
 * The mount point `real` (a resolved path) is under, from
 * `/proc/self/mountinfo` (read through libc: Deno refuses `/proc` without
 * `-A`): `mount -o remount` takes the mount point, not a directory inside
 * it. `real` itself where that cannot be read.
 */
function mountPointOf(real: string): string {
  return mountOf(real)?.point ?? real;
}

/**
 * The tmpfs size the fix-it commands suggest: the memory limit, or without
 * one half the host's memory (the kernel's default for a tmpfs), or 1 GiB
 * where that cannot be read. In whole MiB.
 */
function suggestedSize(memoryLimitBytes: number): number {
  let bytes = memoryLimitBytes;
  if (bytes === 0) {
    try {
      bytes = Deno.systemMemoryInfo().total / 2;
    } catch {
      bytes = 2 ** 30;
    }
  }
  return Math.max(1, Math.ceil(bytes / 2 ** 20)) * 2 ** 20;
}

/**
 * Options of {@linkcode tmpfsSetupCommands}.
 *
 * @example
 * ```ts
 * import { tmpfsSetupCommands, type TmpfsSetupOptions } from "./tmpfs.ts";
 * const options: TmpfsSetupOptions = { uid: 1000, gid: 1000, swapBytes: 2 ** 34 };
 * tmpfsSetupCommands("/mnt/spillway", 2 ** 33, options);
 * ```
 */
export interface TmpfsSetupOptions {
  /** Owner of the mount's root directory (the workers' user); with it the default mode is 0700. */
  uid?: number;
  /** Group of the mount's root directory. */
  gid?: number;
  /** Mode of the mount's root directory. Default "0700" with `uid`, else "1777" (like /dev/shm). */
  mode?: string;
  /**
   * Bytes of swap to add behind the tmpfs, for spilled data larger than
   * RAM (tmpfs pages go to swap under memory pressure). Default none.
   */
  swapBytes?: number;
  /** The swap file, on a disk (not on the tmpfs). Default "/var/spillway.swap". */
  swapFile?: string;
}

/** `text` quoted for a POSIX shell when it needs quoting. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text)
    ? text
    : `'${text.replaceAll("'", `'\\''`)}'`;
}

function wholeBytes(bytes: number, name: string): number {
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
    throw new RangeError(
      `${name} must be a whole number of bytes > 0, got ${bytes}`,
    );
  }
  return bytes;
}

/**
 * The shell commands (to run as root, in order) that mount a tmpfs of
 * `sizeBytes` at `dir`, and optionally put swap behind it. Pure: it runs
 * nothing. For a CLI command and the README.
 *
 * @example
 * ```ts
 * import { tmpfsSetupCommands } from "./tmpfs.ts";
 * tmpfsSetupCommands("/mnt/spillway", 8 * 2 ** 30, { uid: 1000, gid: 1000 });
 * // [
 * //   "mkdir -p /mnt/spillway",
 * //   "mount -t tmpfs -o size=8589934592,huge=within_size,mode=0700,uid=1000,gid=1000 tmpfs /mnt/spillway",
 * // ]
 * ```
 */
export function tmpfsSetupCommands(
  dir: string,
  sizeBytes: number,
  options: TmpfsSetupOptions = {},
): string[] {
  if (!isAbsolute(dir)) {
    throw new TypeError(
      `the mount point must be an absolute path, got ${JSON.stringify(dir)}`,
    );
  }
  wholeBytes(sizeBytes, "sizeBytes");
  const mode = options.mode ?? (options.uid !== undefined ? "0700" : "1777");
  if (!/^[0-7]{3,4}$/.test(mode)) {
    throw new TypeError(
      `mode must be octal like "0700", got ${JSON.stringify(mode)}`,
    );
  }
  // Huge pages: a task reading a mapped value then takes a fault per 2 MiB,
  // not per 4 KiB (4–8× faster reads here).
  const mountOptions = [
    `size=${sizeBytes}`,
    "huge=within_size",
    `mode=${mode}`,
  ];
  for (const id of ["uid", "gid"] as const) {
    const value = options[id];
    if (value === undefined) continue;
    if (!(Number.isSafeInteger(value) && value >= 0)) {
      throw new RangeError(`${id} must be an integer >= 0, got ${value}`);
    }
    mountOptions.push(`${id}=${value}`);
  }
  const target = shellQuote(dir);
  const commands = [
    `mkdir -p ${target}`,
    `mount -t tmpfs -o ${mountOptions.join(",")} tmpfs ${target}`,
  ];
  if (options.swapBytes !== undefined) {
    const swapBytes = wholeBytes(options.swapBytes, "swapBytes");
    const swap = shellQuote(options.swapFile ?? "/var/spillway.swap");
    commands.push(
      `fallocate -l ${swapBytes} ${swap}`,
      `chmod 600 ${swap}`,
      `mkswap ${swap}`,
      `swapon ${swap}`,
    );
  }
  return commands;
}

/**
 * The few libc calls the shared-memory mode needs (open, close, read,
 * fstat, statfs, mmap, munmap), through `Deno.dlopen`.
 *
 * Nothing happens at import: libc is opened on the first call, because most
 * processes never use the shared mode and may run without `--allow-ffi`.
 * Without it, the first call throws an {@linkcode FfiUnavailableError} that
 * says `--allow-ffi` is needed.
 *
 * Where libc lives and the layouts of `struct stat` and `struct statfs`
 * depend on the platform: {@linkcode libcLayoutFor} gives them for the
 * platforms whose layouts are known (Linux x86_64 and aarch64), and
 * refuses the others with an {@linkcode FfiUnavailableError} naming the
 * platform. The first call uses `Deno.build.os` and `Deno.build.arch`.
 *
 * A failed call throws a {@linkcode LibcError} carrying the errno name
 * (`ENOENT`, `EACCES`, ...) and the path. errno is read with libc `memcpy`
 * rather than `UnsafePointerView`, so that it works under a scoped
 * `--allow-ffi=<libc path>` too (Deno refuses every `UnsafePointer*` call
 * without unscoped `--allow-ffi`).
 *
 * @module
 */

/**
 * Where `fstat` puts the fields read from `struct stat`: byte offsets, and
 * the struct's size.
 *
 * @example
 * ```ts
 * import { libcLayoutFor, type StatLayout } from "./libc.ts";
 * const stat: StatLayout = libcLayoutFor("linux", "x86_64").stat;
 * stat.size; // 144
 * ```
 */
export interface StatLayout {
  /** `sizeof(struct stat)`. */
  readonly size: number;
  /** Offset of `st_dev` (64 bits). */
  readonly dev: number;
  /** Offset of `st_ino` (64 bits). */
  readonly ino: number;
  /** Offset of `st_nlink`. */
  readonly nlink: number;
  /** Width of `st_nlink` in bits: 64 on x86_64, 32 on aarch64. */
  readonly nlinkBits: 32 | 64;
  /** Offset of `st_mode` (32 bits). */
  readonly mode: number;
  /** Offset of `st_size` (64 bits, signed). */
  readonly fileSize: number;
}

/**
 * Where `statfs` reads the fields of `struct statfs` (all 64 bits): byte
 * offsets, and the struct's size.
 *
 * @example
 * ```ts
 * import { libcLayoutFor, type StatfsLayout } from "./libc.ts";
 * const statfs: StatfsLayout = libcLayoutFor("linux", "aarch64").statfs;
 * statfs.bavail; // 32
 * ```
 */
export interface StatfsLayout {
  /** `sizeof(struct statfs)`. */
  readonly size: number;
  /** Offset of `f_type`. */
  readonly type: number;
  /** Offset of `f_bsize`. */
  readonly bsize: number;
  /** Offset of `f_blocks`. */
  readonly blocks: number;
  /** Offset of `f_bavail`. */
  readonly bavail: number;
}

/**
 * What this module needs to know of a platform's libc: where to look for
 * it, and the layouts of the structs it reads.
 *
 * @example
 * ```ts
 * import { type LibcLayout, libcLayoutFor } from "./libc.ts";
 * const layout: LibcLayout = libcLayoutFor("linux", "x86_64");
 * layout.candidates[0]; // "/usr/lib/x86_64-linux-gnu/libc.so.6"
 * ```
 */
export interface LibcLayout {
  /** The platform, as `"<os> <arch>"` (`"linux x86_64"`). */
  readonly platform: string;
  /**
   * Where libc is looked for, in order. With a scoped `--allow-ffi=<path>`,
   * Deno allows `dlopen` of that exact string only, so the first entry is
   * the one to grant.
   */
  readonly candidates: readonly string[];
  /** The layout of `struct stat`. */
  readonly stat: StatLayout;
  /** The layout of `struct statfs`. */
  readonly statfs: StatfsLayout;
}

/** `struct statfs` of 64-bit Linux (x86_64 and aarch64 alike): 120 bytes. */
const LINUX_64_STATFS: StatfsLayout = Object.freeze({
  size: 120,
  type: 0,
  bsize: 8,
  blocks: 16,
  bavail: 32,
});

function libcCandidates(triplet: string): readonly string[] {
  return Object.freeze([
    `/usr/lib/${triplet}/libc.so.6`,
    `/lib/${triplet}/libc.so.6`,
    "/usr/lib64/libc.so.6",
    "/lib64/libc.so.6",
    "libc.so.6",
  ]);
}

/** The layouts known, by `"<os> <arch>"`. */
const LAYOUTS: Readonly<Record<string, LibcLayout>> = Object.freeze({
  "linux x86_64": Object.freeze({
    platform: "linux x86_64",
    candidates: libcCandidates("x86_64-linux-gnu"),
    // st_dev 0, st_ino 8, st_nlink 8 bytes at 16, st_mode 24, st_size 48.
    stat: Object.freeze({
      size: 144,
      dev: 0,
      ino: 8,
      nlink: 16,
      nlinkBits: 64,
      mode: 24,
      fileSize: 48,
    }),
    statfs: LINUX_64_STATFS,
  }),
  "linux aarch64": Object.freeze({
    platform: "linux aarch64",
    candidates: libcCandidates("aarch64-linux-gnu"),
    // The generic layout: st_mode at 16 before a 4-byte st_nlink at 20.
    stat: Object.freeze({
      size: 128,
      dev: 0,
      ino: 8,
      nlink: 20,
      nlinkBits: 32,
      mode: 16,
      fileSize: 48,
    }),
    statfs: LINUX_64_STATFS,
  }),
});

/**
 * The libc layout of the platform `os` `arch` (as `Deno.build` names them).
 * Throws an {@linkcode FfiUnavailableError} naming the platform when its
 * layouts are not known: the shared-memory mode cannot run there, while
 * the private mode never needs libc.
 *
 * @example
 * ```ts
 * import { libcLayoutFor } from "./libc.ts";
 * libcLayoutFor("linux", "x86_64").stat.size; // 144
 * libcLayoutFor("darwin", "aarch64"); // throws: "... this is darwin aarch64"
 * ```
 */
export function libcLayoutFor(os: string, arch: string): LibcLayout {
  const layout = LAYOUTS[`${os} ${arch}`];
  if (layout === undefined) {
    throw new FfiUnavailableError(
      `the shared-memory mode needs libc struct layouts, which are known on ` +
        `${Object.keys(LAYOUTS).join(" and ")} only; this is ${os} ${arch}`,
    );
  }
  return layout;
}

/**
 * The names of {@linkcode LIBC_FLAGS}.
 *
 * @example
 * ```ts
 * import { LIBC_FLAGS, type LibcFlag } from "./libc.ts";
 * const name: LibcFlag = "MAP_PRIVATE";
 * LIBC_FLAGS[name]; // 2
 * ```
 */
export type LibcFlag =
  | "O_RDONLY"
  | "O_NONBLOCK"
  | "O_CLOEXEC"
  | "PROT_READ"
  | "PROT_WRITE"
  | "MAP_SHARED"
  | "MAP_PRIVATE";

/**
 * Flags of `open` and `mmap` (Linux values, the same on x86_64 and aarch64):
 * - `O_RDONLY` read only; `O_NONBLOCK` do not block (opening a FIFO would
 *   wait for a writer); `O_CLOEXEC` no fd leaks into spawned processes;
 * - `PROT_READ`, `PROT_WRITE`: pages may be read, written;
 * - `MAP_SHARED`: writes go to the file and every mapping sees them;
 *   `MAP_PRIVATE`: copy-on-write, the file never changes.
 *
 * @example
 * ```ts
 * import { LIBC_FLAGS } from "./libc.ts";
 * const { PROT_READ, PROT_WRITE } = LIBC_FLAGS;
 * const prot = PROT_READ | PROT_WRITE; // 3
 * ```
 */
export const LIBC_FLAGS: Readonly<Record<LibcFlag, number>> = Object.freeze({
  O_RDONLY: 0,
  O_NONBLOCK: 0o4000,
  O_CLOEXEC: 0x80000,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  MAP_PRIVATE: 2,
});
const { O_RDONLY, O_CLOEXEC } = LIBC_FLAGS;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  statfs: { parameters: ["buffer", "buffer"], result: "i32" },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let opened: { symbols: Libc; path: string; layout: LibcLayout } | null = null;

/**
 * Thrown when libc cannot be opened: FFI is not permitted (the message says
 * `--allow-ffi`), the platform's layouts are not known (the message names
 * the platform), or no candidate loads.
 *
 * @example
 * ```ts
 * import { FfiUnavailableError, libcPath } from "./libc.ts";
 * try {
 *   libcPath();
 * } catch (error) {
 *   if (error instanceof FfiUnavailableError) console.error(error.message);
 * }
 * ```
 */
export class FfiUnavailableError extends Error {
  /** An error with `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FfiUnavailableError";
  }
}

function libc(): Libc {
  return (opened ??= openLibc()).symbols;
}

/** The layout of the libc opened (opening it if not yet done). */
function layout(): LibcLayout {
  libc();
  return opened!.layout;
}

function openLibc(): { symbols: Libc; path: string; layout: LibcLayout } {
  const layout = libcLayoutFor(Deno.build.os, Deno.build.arch);
  const [grant] = layout.candidates;
  const failures: string[] = [];
  for (const path of layout.candidates) {
    try {
      return { symbols: Deno.dlopen(path, SYMBOLS).symbols, path, layout };
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable && path === grant) {
        throw new FfiUnavailableError(
          `the shared-memory mode needs --allow-ffi (mmap through libc); ` +
            `Deno refused to open ${grant}: ${error.message}`,
          { cause: error },
        );
      }
      failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  throw new FfiUnavailableError(
    `cannot open libc (needs --allow-ffi): ${failures.join("; ")}`,
  );
}

/**
 * The path libc was opened from (opening it if not yet done).
 *
 * @example
 * ```ts
 * import { libcPath } from "./libc.ts";
 * console.log(libcPath()); // "/usr/lib/x86_64-linux-gnu/libc.so.6" (needs --allow-ffi)
 * ```
 */
export function libcPath(): string {
  libc();
  return opened!.path;
}

const ERRNO_NAMES: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  4: ["EINTR", "interrupted system call"],
  5: ["EIO", "input/output error"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "cannot allocate memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  18: ["EXDEV", "invalid cross-device link"],
  19: ["ENODEV", "no such device (this file cannot be mapped)"],
  20: ["ENOTDIR", "not a directory"],
  21: ["EISDIR", "is a directory"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "too many open files in system"],
  24: ["EMFILE", "too many open files"],
  26: ["ETXTBSY", "text file busy"],
  27: ["EFBIG", "file too large"],
  28: ["ENOSPC", "no space left on device"],
  30: ["EROFS", "read-only file system"],
  31: ["EMLINK", "too many links"],
  36: ["ENAMETOOLONG", "file name too long"],
  38: ["ENOSYS", "function not implemented"],
  40: ["ELOOP", "too many levels of symbolic links"],
  75: ["EOVERFLOW", "value too large for defined data type"],
  95: ["EOPNOTSUPP", "operation not supported"],
  122: ["EDQUOT", "disk quota exceeded"],
};

/**
 * The symbolic name of a Linux errno (`2` → `"ENOENT"`), or `"E<n>"` for
 * one this module does not name.
 *
 * @example
 * ```ts
 * import { errnoName } from "./libc.ts";
 * errnoName(18); // "EXDEV"
 * ```
 */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno]?.[0] ?? `E${errno}`;
}

/**
 * A failed libc call: `code` is the errno name, `errno` its number,
 * `syscall` the call and `path` the file, when there is one.
 *
 * @example
 * ```ts
 * import { LibcError, open } from "./libc.ts";
 * try {
 *   open("/no/such/file");
 * } catch (error) {
 *   if (error instanceof LibcError) console.log(error.code); // "ENOENT"
 * }
 * ```
 */
export class LibcError extends Error {
  /** The errno name, e.g. `"ENOENT"`. */
  readonly code: string;
  /** The errno number. */
  readonly errno: number;
  /** The libc function that failed. */
  readonly syscall: string;
  /** The path the call was about, if any. */
  readonly path: string | undefined;

  /** An error for `syscall` failing with `errno` (on `path`). */
  constructor(syscall: string, errno: number, path?: string) {
    const code = errnoName(errno);
    const text = ERRNO_NAMES[errno]?.[1] ?? "unknown error";
    super(
      `${syscall}${
        path === undefined ? "" : `(${JSON.stringify(path)})`
      }: ${code} (${text})`,
    );
    this.name = "LibcError";
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

/** errno of the calling thread, copied out with libc `memcpy`. */
function lastErrno(): number {
  const lib = libc();
  const out = new Int32Array(1);
  lib.memcpy(out, lib.__errno_location(), 4n);
  return out[0];
}

function fail(syscall: string, path?: string): never {
  throw new LibcError(syscall, lastErrno(), path);
}

const encoder = new TextEncoder();

function cString(path: string): Uint8Array<ArrayBuffer> {
  if (path.includes("\0")) {
    throw new TypeError(`a path cannot contain NUL: ${JSON.stringify(path)}`);
  }
  return encoder.encode(`${path}\0`);
}

/**
 * Opens `path` (default read-only, close-on-exec) and returns the fd.
 * FFI bypasses Deno's file permissions: the caller decides what may be opened.
 *
 * @example
 * ```ts
 * import { close, open } from "./libc.ts";
 * const fd = open("/etc/hostname");
 * close(fd);
 * ```
 */
export function open(
  path: string,
  flags: number = O_RDONLY | O_CLOEXEC,
): number {
  const fd = libc().open(cString(path), flags, 0);
  if (fd < 0) fail("open", path);
  return fd;
}

/**
 * Closes `fd`.
 *
 * @example
 * ```ts
 * import { close, open } from "./libc.ts";
 * close(open("/etc/hostname"));
 * ```
 */
export function close(fd: number): void {
  if (libc().close(fd) !== 0) fail("close");
}

/**
 * Reads a small file whole through libc (up to `maxBytes`), as text. FFI
 * reads are not subject to Deno's file permissions: this is how a worker in
 * shared-memory mode reads `/proc/self/status`, which Deno refuses without
 * `-A`.
 *
 * @example
 * ```ts
 * import { readText } from "./libc.ts";
 * const status = readText("/proc/self/status");
 * ```
 */
export function readText(path: string, maxBytes = 64 * 1024): string {
  const fd = open(path);
  try {
    const buffer = new Uint8Array(maxBytes);
    let at = 0;
    while (at < maxBytes) {
      const n = Number(
        libc().read(fd, buffer.subarray(at), BigInt(maxBytes - at)),
      );
      if (n < 0) fail("read", path);
      if (n === 0) break;
      at += n;
    }
    return new TextDecoder().decode(buffer.subarray(0, at));
  } finally {
    close(fd);
  }
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * What {@linkcode fstat} reports of a file.
 *
 * @example
 * ```ts
 * import { close, type FileStatus, fstat, open } from "./libc.ts";
 * const fd = open("/etc/hostname");
 * const status: FileStatus = fstat(fd);
 * close(fd);
 * ```
 */
export interface FileStatus {
  /** Device of the filesystem holding the file (`st_dev`). */
  dev: number;
  /** Inode number (`st_ino`). */
  ino: number;
  /** Hard links to the inode (`st_nlink`). */
  nlink: number;
  /** Size in bytes (`st_size`). */
  size: number;
  /** Whether it is a regular file (`S_ISREG(st_mode)`). */
  isFile: boolean;
}

/**
 * `fstat(fd)`: device, inode, link count and size, read from `struct stat`
 * at the offsets of this platform's {@linkcode StatLayout}.
 *
 * @example
 * ```ts
 * import { close, fstat, open } from "./libc.ts";
 * const fd = open("/etc/hostname");
 * console.log(fstat(fd).size);
 * close(fd);
 * ```
 */
export function fstat(fd: number, path?: string): FileStatus {
  const at = layout().stat;
  const st = new Uint8Array(at.size);
  if (libc().fstat(fd, st) !== 0) fail("fstat", path);
  const view = new DataView(st.buffer);
  return {
    dev: Number(view.getBigUint64(at.dev, true)),
    ino: Number(view.getBigUint64(at.ino, true)),
    nlink: at.nlinkBits === 64
      ? Number(view.getBigUint64(at.nlink, true))
      : view.getUint32(at.nlink, true),
    size: Number(view.getBigInt64(at.fileSize, true)),
    isFile: (view.getUint32(at.mode, true) & S_IFMT) === S_IFREG,
  };
}

/**
 * What {@linkcode statfs} reports of a filesystem.
 *
 * @example
 * ```ts
 * import { type FilesystemStatus, statfs } from "./libc.ts";
 * const fs: FilesystemStatus = statfs("/dev/shm");
 * const bytes = fs.blocks * fs.blockSize;
 * ```
 */
export interface FilesystemStatus {
  /** Filesystem magic number (`f_type`), e.g. 0x01021994 for tmpfs. */
  type: number;
  /** Block size in bytes (`f_bsize`). */
  blockSize: number;
  /** Total blocks (`f_blocks`). */
  blocks: number;
  /** Blocks free for unprivileged users (`f_bavail`). */
  availableBlocks: number;
}

/**
 * `statfs(path)`, read from `struct statfs` at the offsets of this
 * platform's {@linkcode StatfsLayout}.
 *
 * @example
 * ```ts
 * import { statfs } from "./libc.ts";
 * const fs = statfs("/dev/shm");
 * console.log(fs.type === 0x01021994, fs.blocks * fs.blockSize);
 * ```
 */
export function statfs(path: string): FilesystemStatus {
  const at = layout().statfs;
  const buf = new Uint8Array(at.size);
  if (libc().statfs(cString(path), buf) !== 0) fail("statfs", path);
  const view = new DataView(buf.buffer);
  return {
    type: Number(view.getBigUint64(at.type, true)),
    blockSize: Number(view.getBigUint64(at.bsize, true)),
    blocks: Number(view.getBigUint64(at.blocks, true)),
    availableBlocks: Number(view.getBigUint64(at.bavail, true)),
  };
}

const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/**
 * `mmap(NULL, length, prot, flags, fd, offset)`; throws a
 * {@linkcode LibcError} on `MAP_FAILED`. A length of 0 is `EINVAL`.
 *
 * @example
 * ```ts
 * import { close, fstat, LIBC_FLAGS, mmap, munmap, open } from "./libc.ts";
 * const { MAP_PRIVATE, PROT_READ } = LIBC_FLAGS;
 * const fd = open("/etc/hostname");
 * const { size } = fstat(fd);
 * const pointer = mmap(size, PROT_READ, MAP_PRIVATE, fd);
 * close(fd); // the mapping stays valid
 * munmap(pointer, size);
 * ```
 */
export function mmap(
  length: number,
  prot: number,
  flags: number,
  fd: number,
  offset = 0,
  path?: string,
): Deno.PointerObject {
  const pointer = libc().mmap(
    null,
    BigInt(length),
    prot,
    flags,
    fd,
    BigInt(offset),
  );
  if (pointer === null || Deno.UnsafePointer.value(pointer) === MAP_FAILED) {
    fail("mmap", path);
  }
  return pointer;
}

/**
 * `munmap(pointer, length)`. Never call it while a view of the range can
 * still be reached: reading it afterwards kills the process.
 *
 * @example
 * ```ts
 * import { close, fstat, LIBC_FLAGS, mmap, munmap, open } from "./libc.ts";
 * const { MAP_PRIVATE, PROT_READ } = LIBC_FLAGS;
 * const fd = open("/etc/hostname");
 * const { size } = fstat(fd);
 * const pointer = mmap(size, PROT_READ, MAP_PRIVATE, fd);
 * close(fd);
 * munmap(pointer, size);
 * ```
 */
export function munmap(pointer: Deno.PointerObject, length: number): void {
  if (libc().munmap(pointer, BigInt(length)) !== 0) fail("munmap");
}

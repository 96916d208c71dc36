/**
 * A process's own memory as a memory limit should count it, from the text
 * of `/proc/<pid>/status`.
 *
 * @module
 */
import { readText } from "./libc.ts";

const VM_RSS = /^VmRSS:\s+(\d+)\s+kB/m;
const RSS_SHMEM = /^RssShmem:\s+(\d+)\s+kB/m;
const RSS_FILE = /^RssFile:\s+(\d+)\s+kB/m;

/**
 * Resident memory that is the process's own (`VmRSS − RssFile − RssShmem`,
 * which is `RssAnon`), in bytes, or `null` if `status` has no `VmRSS` line.
 *
 * Left out:
 * - file pages (`RssFile`): chiefly the code of the `deno` binary that the
 *   process touched, about 40 MiB here, shared by every Deno process on the
 *   host and dropped by the kernel when memory is short;
 * - pages of tmpfs files a process maps (`RssShmem`, shared-memory mode):
 *   resident in every process that maps them, counted once by the tmpfs.
 *
 * Pages a process writes to in a private mapping become its own
 * (anonymous) and stay counted.
 *
 * @example
 * ```ts
 * import { privateResidentBytes } from "./proc_status.ts";
 * privateResidentBytes("VmRSS:\t 300 kB\nRssFile:\t 50 kB\nRssShmem:\t 100 kB\n"); // 153600
 * ```
 */
export function privateResidentBytes(status: string): number | null {
  const rss = VM_RSS.exec(status);
  if (rss === null) return null;
  const kib = (re: RegExp) => Number(re.exec(status)?.[1] ?? 0);
  return (Number(rss[1]) - kib(RSS_FILE) - kib(RSS_SHMEM)) * 1024;
}

/**
 * This process's own resident memory ({@linkcode privateResidentBytes} of
 * `/proc/self/status`), read through libc: Deno refuses `/proc` reads
 * without `-A`, while FFI reads are not subject to its file permissions.
 * Null when the status has no `VmRSS` line; throws when libc cannot be
 * used (no `--allow-ffi`, or a platform whose layouts are not known).
 *
 * @example
 * ```ts
 * import { ownPrivateResidentBytes } from "./proc_status.ts";
 * ownPrivateResidentBytes()! <= Deno.memoryUsage().rss; // true (needs --allow-ffi)
 * ```
 */
export function ownPrivateResidentBytes(): number | null {
  return privateResidentBytes(readText("/proc/self/status"));
}

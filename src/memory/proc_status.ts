/**
 * A process's own memory as a memory limit should count it, from the text
 * of `/proc/<pid>/status`.
 *
 * @module
 */

const VM_RSS = /^VmRSS:\s+(\d+)\s+kB/m;
const RSS_SHMEM = /^RssShmem:\s+(\d+)\s+kB/m;

/**
 * Resident memory minus resident shared-memory pages (`VmRSS − RssShmem`),
 * in bytes, or `null` if `status` has no `VmRSS` line.
 *
 * Pages of tmpfs files a process maps (shared-memory mode) are resident in
 * every process that maps them, and counted once by the tmpfs: they are not
 * this process's to limit. Pages it writes to in a private mapping become
 * its own (anonymous) and stay counted.
 *
 * @example
 * ```ts
 * import { privateResidentBytes } from "./proc_status.ts";
 * privateResidentBytes("VmRSS:\t 300 kB\nRssShmem:\t 100 kB\n"); // 204800
 * ```
 */
export function privateResidentBytes(status: string): number | null {
  const rss = VM_RSS.exec(status);
  if (rss === null) return null;
  const shmem = RSS_SHMEM.exec(status);
  return (Number(rss[1]) - (shmem ? Number(shmem[1]) : 0)) * 1024;
}

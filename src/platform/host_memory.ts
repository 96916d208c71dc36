/**
 * The host's memory as `/proc/meminfo` says it: `MemTotal` and
 * `MemAvailable`, through `Deno.systemMemoryInfo()` (which reads that file
 * on Linux and needs `--allow-sys=systemMemoryInfo`), or the file itself
 * when only reading it is allowed.
 *
 * @module
 */

/**
 * The host's memory in bytes.
 *
 * @example
 * ```ts
 * import type { HostMemory } from "./host_memory.ts";
 * const host: HostMemory = { memTotal: 16 * 2 ** 30, memAvailable: 9 * 2 ** 30 };
 * const inUse = host.memTotal - host.memAvailable;
 * ```
 */
export interface HostMemory {
  /** `MemTotal`. */
  memTotal: number;
  /** `MemAvailable`: what can be had without swapping. */
  memAvailable: number;
}

/**
 * Parses the text of `/proc/meminfo` (values in kB).
 *
 * @param text The file's text.
 * @returns Total and available bytes, or null when either is missing.
 *
 * @example
 * ```ts
 * import { parseMeminfo } from "./host_memory.ts";
 * parseMeminfo("MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 600 kB\n");
 * // { memTotal: 1024000, memAvailable: 614400 }
 * ```
 */
export function parseMeminfo(text: string): HostMemory | null {
  const field = (name: string): number | null => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    return match === null ? null : Number(match[1]) * 1024;
  };
  const memTotal = field("MemTotal");
  const memAvailable = field("MemAvailable");
  return memTotal === null || memAvailable === null
    ? null
    : { memTotal, memAvailable };
}

/**
 * The host's memory now, or null when this process may not know it
 * (neither `--allow-sys=systemMemoryInfo` nor read access to
 * `/proc/meminfo`).
 *
 * @returns Total and available bytes, or null.
 *
 * @example
 * ```ts
 * import { hostMemory } from "./host_memory.ts";
 * const host = hostMemory();
 * if (host !== null) console.log(host.memTotal - host.memAvailable, "bytes in use");
 * ```
 */
export function hostMemory(): HostMemory | null {
  try {
    const info = Deno.systemMemoryInfo();
    return { memTotal: info.total, memAvailable: info.available };
  } catch {
    // No --allow-sys=systemMemoryInfo: the file, if it may be read.
  }
  try {
    return parseMeminfo(Deno.readTextFileSync("/proc/meminfo"));
  } catch {
    return null;
  }
}

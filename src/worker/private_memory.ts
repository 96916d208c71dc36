/**
 * The worker's own memory in shared-memory mode.
 *
 * @module
 */
import { ownPrivateResidentBytes } from "../platform/proc_status.ts";

/**
 * This process's resident memory without the tmpfs pages it maps
 * (`RssAnon`: neither file nor tmpfs pages), read through libc: Deno refuses `/proc` reads
 * without `-A`, and a shared-memory worker holds `--allow-ffi` anyway.
 * Falls back to `Deno.memoryUsage().rss`.
 *
 * @example
 * ```ts
 * import { privateMemory } from "./private_memory.ts";
 * privateMemory() <= Deno.memoryUsage().rss; // true
 * ```
 */
export function privateMemory(): number {
  try {
    return ownPrivateResidentBytes() ?? Deno.memoryUsage().rss;
  } catch {
    return Deno.memoryUsage().rss;
  }
}

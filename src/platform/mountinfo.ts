/**
 * Which mount a path is under, from `/proc/self/mountinfo`.
 *
 * @module
 */
import { readText } from "./libc.ts";

/**
 * A mount: where it is and its filesystem's options.
 *
 * @example
 * ```ts
 * import type { Mount } from "./mountinfo.ts";
 * const shm: Mount = { point: "/dev/shm", options: ["rw", "size=8g"] };
 * ```
 */
export interface Mount {
  /** The mount point, with mountinfo's octal escapes decoded. */
  point: string;
  /** The filesystem's options (the last field of the line), split at commas. */
  options: string[];
}

/**
 * The mount `real` (a resolved path) is under, from `/proc/self/mountinfo`
 * read through libc (Deno refuses `/proc` reads without `-A`): its mount
 * point and its filesystem's options (`size=…,huge=…` for a tmpfs); null
 * where that cannot be read.
 *
 * @example
 * ```ts
 * import { mountOf } from "./mountinfo.ts";
 * mountOf("/dev/shm/spillway"); // { point: "/dev/shm", options: ["rw", "nosuid", ...] } (needs --allow-ffi)
 * ```
 */
export function mountOf(real: string): Mount | null {
  let best: Mount | null = null;
  try {
    for (const line of readText("/proc/self/mountinfo", 1 << 20).split("\n")) {
      const fields = line.split(" ");
      const field = fields[4];
      if (field === undefined) continue;
      // Spaces and other odd characters are octal escapes (\040).
      const point = field.replace(
        /\\([0-7]{3})/g,
        (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
      );
      const inside = point === "/" || real === point ||
        real.startsWith(point + "/");
      if (!inside || (best !== null && point.length <= best.point.length)) {
        continue;
      }
      // After the optional fields: "-", the type, the source, the options.
      const dash = fields.indexOf("-", 6);
      best = {
        point,
        options: dash === -1 ? [] : (fields[dash + 3] ?? "").split(","),
      };
    }
  } catch {
    // FFI or /proc unavailable.
  }
  return best;
}

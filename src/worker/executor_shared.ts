/**
 * The shared-memory mode's part of an executor: mapping inputs from spill
 * files and writing results to them. `executor_entry.ts` imports it on the
 * first task that needs it, so that executors in the private mode do not
 * load the codec, the libc bindings and the mapping registry (about 10 MiB
 * of memory per executor here).
 *
 * @module
 */
import { reachableBuffers } from "./lend.ts";
import {
  collectMappings,
  isMappedBuffer,
  mapFrames,
} from "../store/mapping.ts";
import { deserialize, serialize } from "../serialize/serialize.ts";
import { writeSpillFileSync } from "../store/spill_files.ts";

export { collectMappings, isMappedBuffer };

/**
 * The value in the spill file at `path`, deserialized over a private
 * mapping of it (no copy).
 *
 * @example
 * ```ts
 * import { mapInput } from "./executor_shared.ts";
 * const chunk = mapInput("/mnt/spillway/worker-0/1-1_chunk-0.spw");
 * ```
 */
export function mapInput(path: string): unknown {
  return deserialize(mapFrames(path));
}

/**
 * Writes `value` to the spill file `path` when its buffers hold at least
 * `above` bytes, then frees them at once (the file holds the value now, and
 * V8 would free them only at this isolate's next collection). Returns the
 * bytes written, or null to send the value back instead: small, not
 * serializable, or not writable here (the control thread's store then says
 * what is wrong, and nothing is lost).
 *
 * @example
 * ```ts
 * import { spillResult } from "./executor_shared.ts";
 * spillResult(new Float64Array(1 << 20), [], "/mnt/spillway/worker-0/tmp.spw", 2 ** 20);
 * ```
 */
export function spillResult(
  value: unknown,
  lent: readonly ArrayBuffer[],
  path: string,
  above: number,
): number | null {
  const buffers = reachableBuffers(value);
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (total < above) return null;
  let bytes: number;
  try {
    bytes = writeSpillFileSync(path, serialize(value));
  } catch {
    return null;
  }
  // Inputs (lent) go back to their owner; mappings are released by their
  // finalizer, never detached.
  const keep = new Set<ArrayBuffer>(lent);
  for (const buffer of buffers) {
    if (!keep.has(buffer) && !isMappedBuffer(buffer)) buffer.transfer(0);
  }
  return bytes;
}

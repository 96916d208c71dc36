/**
 * Garbage collection for tests of mappings: `gc()` exists only under
 * `--v8-flags=--expose-gc` (as `deno task test` runs); tests that need it
 * are skipped with `gcUnavailable` as the reason otherwise.
 */
import { mappingStats } from "../../src/store/mapping.ts";
import type { MappingStats } from "../../src/protocol/store_metrics.ts";

const gc = (globalThis as { gc?: () => void }).gc;

/** Why `gc()` cannot run here, or null when it can. */
export const gcUnavailable: string | null = gc === undefined
  ? "needs --v8-flags=--expose-gc (deno task test passes it)"
  : null;

if (gcUnavailable !== null) {
  console.warn(
    `[tests] skipping tests that collect mappings: ${gcUnavailable}`,
  );
}

/**
 * Runs `gc()` and yields one turn of the event loop (where finalizers run),
 * up to `turns` times, until at most `live` mappings remain. Polls turns,
 * never a clock. Returns the counters it ended with.
 */
export async function collectUntil(
  live: number,
  turns = 50,
): Promise<MappingStats> {
  for (let i = 0; i < turns && mappingStats().live > live; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return mappingStats();
}

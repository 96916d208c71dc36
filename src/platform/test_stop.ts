/**
 * A test-only hook: a process stops (blocks) at a named point, so that a
 * test can kill it exactly there (a hard link takes ~3 ms, too short to hit
 * at random). Enabled by the environment variable `SPILLWAY_TEST_STOP_AT`,
 * read once; absent otherwise (each point then costs one comparison).
 *
 * `SPILLWAY_TEST_STOP_AT=spill-write:0.2,fetch:0.3,link:1`: at each named
 * point reached, the process stops with that probability (1 when left out),
 * at most once in its life. It first prints `test stop at <point> (pid
 * <pid>)` to stderr, then blocks its thread (no CPU) for up to 3 s, and
 * goes on if nobody killed it by then. The points: `spill-write` (a spill
 * file being written), `fetch` (a get-data request to a peer about to be
 * sent), `link` (a peer's spill file about to be hard-linked).
 *
 * The variable is readable only with `--allow-env=SPILLWAY_TEST_STOP_AT`;
 * `LocalCluster` grants it to its workers only when it is set in its own
 * process.
 *
 * @module
 */

/** The environment variable that enables {@linkcode testStopAt}. */
export const TEST_STOP_AT_ENV = "SPILLWAY_TEST_STOP_AT";

/** Point name → probability, or null when disabled. */
let points: Map<string, number> | null | undefined;
let stopped = false;

/** The variable's points, read once; null when unset or not readable. */
function enabled(): Map<string, number> | null {
  if (points !== undefined) return points;
  points = null;
  try {
    const granted = Deno.permissions.querySync({
      name: "env",
      variable: TEST_STOP_AT_ENV,
    }).state === "granted";
    const text = granted ? Deno.env.get(TEST_STOP_AT_ENV) : undefined;
    if (text !== undefined && text.trim() !== "") {
      points = new Map(
        text.split(",").map((part) => {
          const [name, p] = part.trim().split(":");
          return [name, p === undefined ? 1 : Number(p)];
        }),
      );
    }
  } catch {
    // Not readable: disabled.
  }
  return points;
}

/**
 * Stops this process at `point` if `SPILLWAY_TEST_STOP_AT` names it (see
 * the module's documentation); otherwise returns at once.
 *
 * @param point The point's name: `spill-write`, `fetch` or `link`.
 *
 * @example
 * ```ts
 * import { testStopAt } from "./test_stop.ts";
 * testStopAt("link"); // returns at once unless SPILLWAY_TEST_STOP_AT names it
 * ```
 */
export function testStopAt(point: string): void {
  if (stopped) return;
  const chance = enabled()?.get(point);
  if (chance === undefined || Math.random() >= chance) return;
  stopped = true;
  console.error(`test stop at ${point} (pid ${Deno.pid})`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3_000);
}

/**
 * How a long-running `spillway` command (a scheduler, a worker, a local
 * cluster) learns that it should stop: SIGINT, SIGTERM, or, for a process
 * another one started, its stdin closing.
 *
 * @module
 */

/**
 * Resolves on SIGINT or SIGTERM, or when stdin closes (if asked).
 *
 * @param watchStdin Whether stdin closing (the parent died) stops too.
 * @returns The signal, or `"stdin"`.
 */
export function stopRequested(
  watchStdin: boolean,
): Promise<Deno.Signal | "stdin"> {
  return new Promise((done) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => done(signal));
    }
    if (watchStdin) {
      (async () => {
        try {
          for await (const _ of Deno.stdin.readable) { /* discard */ }
        } catch {
          // Closed either way.
        }
        done("stdin");
      })();
    }
  });
}

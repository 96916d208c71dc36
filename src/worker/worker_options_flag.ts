/**
 * Whether this process was started with `--unstable-worker-options`, which
 * `new Worker(url, { deno: { permissions } })` needs. Guessing wrong is
 * fatal: without the flag, that constructor exits the process with code 70
 * and nothing can catch it (docs/platform.md#worker-permissions). So the check only answers
 * `true` when it can see the flag among the process's own Deno flags.
 *
 * @module
 */

/**
 * Whether `--unstable-worker-options` is among the Deno flags on this
 * process's command line (read from `/proc/self/cmdline`, Linux only).
 * Conservative: `false` when unsure — another OS, no read permission for
 * `/proc/self/cmdline` (it is queried first, so there is never a prompt), or
 * the feature enabled through deno.json's `"unstable": ["worker-options"]`,
 * which the command line does not show. The script's own arguments
 * (`Deno.args`) are not mistaken for flags.
 *
 * @returns `true` only when the flag is certainly on.
 *
 * @example
 * ```ts
 * import { hasWorkerOptionsFlag } from "./worker_options_flag.ts";
 * if (!hasWorkerOptionsFlag()) console.log("executors will not be sandboxed");
 * ```
 */
export function hasWorkerOptionsFlag(): boolean {
  if (Deno.build.os !== "linux") return false;
  const path = "/proc/self/cmdline";
  try {
    if (
      Deno.permissions.querySync({ name: "read", path }).state !== "granted"
    ) {
      return false;
    }
    const argv = Deno.readTextFileSync(path).split("\0");
    if (argv.at(-1) === "") argv.pop();
    const own = argv.slice(0, argv.length - Deno.args.length);
    return own.includes("--unstable-worker-options");
  } catch {
    return false;
  }
}

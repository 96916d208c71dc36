/**
 * Reads another process's resident set size on Linux (the nanny watches
 * its worker with it).
 *
 * Deno lets only `-A` read `/proc` (any scoped or unscoped `--allow-read`
 * gets `Requires all access`), so without `-A` the probe runs
 * `cat /proc/<pid>/status` (`--allow-run=cat`, ~1.5 ms a read here).
 *
 * @module
 */
import { privateResidentBytes } from "./proc_status.ts";

/** How the probe reads: itself, through `cat`, or not at all. */
export type RssMode = "direct" | "cat" | "unavailable";

/**
 * Reads `/proc/<pid>/status` (its own memory, `RssAnon`: neither the deno binary's code pages nor the tmpfs pages a worker maps, see `privateResidentBytes`), choosing the way that works on the
 * first read and keeping it.
 *
 * @example
 * ```ts
 * import { RssProbe } from "./rss_probe.ts";
 * const probe = new RssProbe();
 * console.log(await probe.read(Deno.pid), probe.mode);
 * ```
 */
export class RssProbe {
  #mode: RssMode | null = null;
  readonly #decoder = new TextDecoder();

  /** The way reads are made; `null` before the first read. */
  get mode(): RssMode | null {
    return this.#mode;
  }

  /**
   * The process's RSS in bytes, or `null` if it is gone or cannot be read
   * (then {@linkcode RssProbe.mode} says whether that is for good).
   *
   * @param pid The process.
   * @returns Bytes, or null.
   */
  async read(pid: number): Promise<number | null> {
    if (Deno.build.os !== "linux") this.#mode = "unavailable";
    if (this.#mode === null || this.#mode === "direct") {
      try {
        const text = await Deno.readTextFile(`/proc/${pid}/status`);
        this.#mode = "direct";
        return parse(text);
      } catch (error) {
        if (this.#mode === "direct" || !isNotCapable(error)) return null;
        this.#mode = "cat";
      }
    }
    if (this.#mode === "cat") {
      try {
        const out = await new Deno.Command("cat", {
          args: [`/proc/${pid}/status`],
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).output();
        return out.success ? parse(this.#decoder.decode(out.stdout)) : null;
      } catch (error) {
        if (isNotCapable(error) || error instanceof Deno.errors.NotFound) {
          this.#mode = "unavailable";
        }
        return null;
      }
    }
    return null;
  }
}

function isNotCapable(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied;
}

function parse(status: string): number | null {
  return privateResidentBytes(status);
}

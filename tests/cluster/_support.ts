/** Helpers for the tests that run real cluster processes. */
import { existsSync } from "node:fs";

/** The task module the cluster tests run. */
export const OPS: URL = new URL("./fixtures/ops.ts", import.meta.url);
/** Its directory: what workers need to read. */
export const FIXTURES: URL = new URL("./fixtures/", import.meta.url);
/** Types of the ops module. */
export type Ops = typeof import("./fixtures/ops.ts");

/** Whether a process is alive (not gone, not a zombie). */
export function alive(pid: number): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return !/^State:\s+Z/m.test(status);
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms until it is truthy; fails after `timeout` ms. */
export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  timeout = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a path exists. */
export function exists(path: string): boolean {
  return existsSync(path);
}

/** Σ (seed1 + i)(seed2 + i) for i < n: the dot product of two ops.chunk results. */
export function expectedDot(seed1: number, seed2: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += (seed1 + i) * (seed2 + i);
  return s;
}

/** The `spillway` command line module. */
export const CLI: string = new URL("../../cli.ts", import.meta.url).pathname;
/** Spillway's code (src/), which worker processes' executors must read. */
export const SRC: string = new URL("../../src", import.meta.url).pathname;

/** A `deno run … cli.ts …` process whose output is read line by line. */
export class CliProcess implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #pumps: Promise<void>[];
  #wake: (() => void) | null = null;

  /**
   * @param denoFlags Permission flags.
   * @param args The command line after `cli.ts`.
   * @param env Variables added to the inherited environment.
   */
  constructor(
    denoFlags: string[],
    args: string[],
    env?: Record<string, string>,
  ) {
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...denoFlags, CLI, ...args],
      ...(env === undefined ? {} : { env }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (
      stream: ReadableStream<Uint8Array>,
      into: string[],
    ) => {
      let rest = "";
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        into.push(...parts);
        this.#wake?.();
      }
      if (rest !== "") into.push(rest);
      this.#wake?.();
    };
    this.#pumps = [
      pump(this.process.stdout, this.stdout),
      pump(this.process.stderr, this.stderr),
    ];
  }

  /**
   * Waits for the first stdout line at index `from` or later that matches
   * `pattern`; returns its match.
   */
  async line(
    pattern: RegExp,
    from = 0,
    timeout = 30_000,
  ): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeout;
    let exited = false;
    let drained = false;
    this.process.status.then(() => {
      exited = true;
      this.#wake?.();
    });
    for (;;) {
      for (let i = from; i < this.stdout.length; i++) {
        const match = pattern.exec(this.stdout[i]);
        if (match) return match;
      }
      if (exited && !drained) {
        // Its last lines may still be on their way: read them all first.
        await Promise.all(this.#pumps);
        drained = true;
        continue;
      }
      if (exited || Date.now() > deadline) {
        throw new Error(
          `no line matching ${pattern} (${
            exited ? "the process exited" : "timed out"
          }); stdout:\n${this.stdout.join("\n")}\nstderr:\n${
            this.stderr.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /**
   * Waits for the process to exit on its own and for all of its output to
   * be read (the exit can come before its last lines); returns the status.
   */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.process.status;
    await Promise.all(this.#pumps);
    return status;
  }

  /** Sends `signal` and waits for the exit; returns the exit status. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.process.kill(signal);
    } catch {
      // Already gone.
    }
    const status = await this.process.status;
    await Promise.all(this.#pumps);
    return status;
  }

  /** Stops the process if it still runs: SIGTERM, SIGKILL after 5 s. */
  async [Symbol.asyncDispose](): Promise<void> {
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 5000);
    await this.stop("SIGTERM");
    clearTimeout(timer);
  }
}

/** Running a Deno script as a real subprocess, as a user would. */

/** What a finished subprocess printed, and its exit code. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <flags> <script> <args>` with no stdin (and `env` added
 * to this process's environment), and returns its exit code and its output
 * as text.
 */
export async function runDeno(
  flags: string[],
  script: string | URL,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const path = script instanceof URL ? script.pathname : script;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, path, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/**
 * The flags of authentication and message size, shared by `scheduler`,
 * `worker` (and the nanny's `worker-process`), `local` and `demo`: where
 * the cluster's auth token comes from (`--auth-token`, `--auth-token-file`,
 * or the environment variable `SPILLWAY_AUTH_TOKEN`), and
 * `--max-message-size`.
 *
 * A token read from the environment is removed from this process's
 * environment once read, so that task code running in the process's
 * executor threads cannot read it there. Processes started by this one get
 * the token through their environment, never on their command line (which
 * any user of the host can read in `/proc/<pid>/cmdline`).
 *
 * @module
 */
import { DEFAULT_MAX_MESSAGE_SIZE } from "../protocol/version.ts";
import { HANDSHAKE_MAX_BYTES } from "../comm/handshake.ts";
import { AUTH_TOKEN_ENV } from "../cluster/spawn.ts";
import { type FlagSpec, type FlagValues, size, UsageError } from "./args.ts";

/** `--auth-token` and `--auth-token-file`. */
export const AUTH_FLAGS: FlagSpec = {
  "auth-token": { type: "string" },
  "auth-token-file": { type: "string" },
};

/** `--max-message-size`. */
export const MESSAGE_SIZE_FLAGS: FlagSpec = {
  "max-message-size": { type: "string" },
};

/**
 * Their lines in a command's usage, descriptions from `column` on.
 *
 * @param column Where the command's usage starts its descriptions.
 * @param messageSize Whether the command takes `--max-message-size`.
 * @returns The lines, without a final newline.
 *
 * @example
 * ```ts
 * import { authUsage } from "./auth_flags.ts";
 * console.log(authUsage(27, true));
 * ```
 */
export function authUsage(column: number, messageSize: boolean): string {
  const rows: [string, string[]][] = [
    ["--auth-token <token>", [
      "the cluster's shared secret: every connection",
      "proves it (the token never crosses the wire);",
      "needed to listen on a non-loopback --host. Other",
      "users of the host can see a command line: prefer",
      `--auth-token-file or ${AUTH_TOKEN_ENV}`,
    ]],
    ["--auth-token-file <path>", [
      "read the token from a file (surrounding white",
      "space is ignored)",
    ]],
  ];
  if (messageSize) {
    rows.push(["--max-message-size <size>", [
      "the largest message accepted from an",
      "authenticated peer (default 16GiB); before the",
      `handshake, at most ${HANDSHAKE_MAX_BYTES} bytes`,
    ]]);
  }
  return rows.flatMap(([flag, [first, ...rest]]) => [
    `  ${flag}`.length >= column
      ? `  ${flag}\n${" ".repeat(column)}${first}`
      : `  ${flag}`.padEnd(column) + first,
    ...rest.map((line) => " ".repeat(column) + line),
  ]).join("\n");
}

/**
 * The auth token: `--auth-token`, else the file of `--auth-token-file`,
 * else `SPILLWAY_AUTH_TOKEN` (when this process may read it); then removed
 * from this process's environment (when it may).
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @returns The token, or null for none.
 * @throws {UsageError} For both flags at once, an empty token, or a file
 *   that cannot be read.
 *
 * @example
 * ```ts
 * import { authToken } from "./auth_flags.ts";
 * const token = authToken({ "auth-token": "a long random secret" }, "usage: …");
 * console.log(token); // "a long random secret"
 * ```
 */
export function authToken(values: FlagValues, usage: string): string | null {
  const flag = values["auth-token"] as string | undefined;
  const file = values["auth-token-file"] as string | undefined;
  if (flag !== undefined && file !== undefined) {
    throw new UsageError(
      "--auth-token and --auth-token-file: give one of them",
      usage,
    );
  }
  let token: string | null = null;
  let from = "";
  if (flag !== undefined) {
    token = flag;
    from = "--auth-token";
  } else if (file !== undefined) {
    try {
      token = Deno.readTextFileSync(file).trim();
    } catch (error) {
      throw new UsageError(
        `--auth-token-file ${file}: ${(error as Error).message}`,
        usage,
      );
    }
    from = `--auth-token-file ${file}`;
  }
  const env = readEnvToken();
  if (token === null && env !== undefined && env !== "") {
    token = env;
    from = AUTH_TOKEN_ENV;
  }
  if (token !== null && token.trim() === "") {
    throw new UsageError(`${from}: the auth token is empty`, usage);
  }
  return token;
}

/** `SPILLWAY_AUTH_TOKEN`, removed from the environment once read. */
function readEnvToken(): string | undefined {
  const descriptor = { name: "env", variable: AUTH_TOKEN_ENV } as const;
  if (Deno.permissions.querySync(descriptor).state !== "granted") {
    return undefined;
  }
  const value = Deno.env.get(AUTH_TOKEN_ENV);
  if (value !== undefined) {
    try {
      Deno.env.delete(AUTH_TOKEN_ENV);
    } catch {
      // Cannot: it stays (tasks run sandboxed without env access anyway).
    }
  }
  return value;
}

/**
 * `--max-message-size`, when given.
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @returns Bytes, or undefined when the flag is absent (the default is
 *   `DEFAULT_MAX_MESSAGE_SIZE`).
 * @throws {UsageError} For a size below the handshake's limit.
 *
 * @example
 * ```ts
 * import { maxMessageSize } from "./auth_flags.ts";
 * console.log(maxMessageSize({ "max-message-size": "1GiB" }, "usage: …")); // 1073741824
 * ```
 */
export function maxMessageSize(
  values: FlagValues,
  usage: string,
): number | undefined {
  const text = values["max-message-size"] as string | undefined;
  if (text === undefined) return undefined;
  const bytes = Math.floor(size("max-message-size", text, usage));
  if (!(bytes >= HANDSHAKE_MAX_BYTES) || !Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `--max-message-size: expected at least ${HANDSHAKE_MAX_BYTES} bytes, got "${text}" (default ${
        DEFAULT_MAX_MESSAGE_SIZE / 2 ** 30
      }GiB)`,
      usage,
    );
  }
  return bytes;
}

/**
 * The argument kit every `spillway` command uses: strict parsing with
 * `--help`, {@linkcode UsageError} for a bad command line, and the checks of
 * the flags several commands share (sizes, integers, hosts, addresses,
 * `--memory-limit`, `--target`, `--shared-memory`, durations).
 *
 * A check throws {@linkcode UsageError}; `cli.ts` prints its message as one
 * line and the command's usage, and exits with status 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { parseAddress } from "../comm/address.ts";
import {
  configureLogging,
  isLogFormat,
  isLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../comm/log.ts";
import { parseBytes, parseMemoryLimit } from "../memory/bytes.ts";
import { memoryLimitProblem } from "../memory/floor.ts";
import {
  remoteAllowedBy,
  remoteRefusal,
  type RemoteSecurity,
} from "../cluster/remote.ts";

/** A bad command line: `message` (one line) and the command's usage. */
export class UsageError extends Error {
  /** Always `"UsageError"`. */
  override name = "UsageError";
  /** The usage text of the command that was misused. */
  readonly usage: string;

  /**
   * @param message What is wrong, in one line.
   * @param usage The command's usage text.
   */
  constructor(message: string, usage: string) {
    super(message);
    this.usage = usage;
  }
}

/** A command's flags, for {@linkcode parseFlags}. */
export type FlagSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string }
>;

/** The flag values {@linkcode parseFlags} gives. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** A parsed command line. */
export interface ParsedFlags {
  /** The flags' values, by name (without dashes). */
  values: FlagValues;
  /** The positional arguments. */
  positionals: string[];
}

/** Options of {@linkcode parseFlags}. */
export interface ParseFlagsOptions {
  /** How many positional arguments the command takes. Default 0. */
  positionals?: number;
  /**
   * Report a parse error with its whole (possibly multi-line) text instead
   * of its first line. Default false. (The demos have always done so.)
   */
  wholeMessage?: boolean;
}

/**
 * Parses `args` strictly, with `-h`/`--help` added to `flags`.
 *
 * @param args The arguments after the command name.
 * @param flags The command's flags.
 * @param usage The command's usage, printed for `--help` and carried by
 *   errors.
 * @param options Positional arguments allowed, error wording.
 * @returns The parsed flags, or null when `--help` was asked (the usage is
 *   printed then).
 * @throws {UsageError} For an unknown flag, a missing value, or too many
 *   positional arguments.
 */
export function parseFlags(
  args: string[],
  flags: FlagSpec,
  usage: string,
  options: ParseFlagsOptions = {},
): ParsedFlags | null {
  const positionals = options.positionals ?? 0;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...flags, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: positionals > 0,
    });
  } catch (error) {
    const message = (error as Error).message;
    throw new UsageError(
      options.wholeMessage ? message : oneLine(message),
      usage,
    );
  }
  if (parsed.values.help) {
    console.log(usage);
    return null;
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(
      `unexpected argument "${parsed.positionals[positionals]}"`,
      usage,
    );
  }
  return parsed as ParsedFlags;
}

/** The first line of a message, with parseArgs' hint for dashed values kept. */
function oneLine(text: string): string {
  const [first] = text.split("\n");
  const dashed = /starting with a dash use '([^']+)'/.exec(text);
  return dashed
    ? `${first.replace(/\.$/, "")} (for a value starting with a dash, write ${
      dashed[1]
    })`
    : first;
}

/**
 * An integer flag within bounds.
 *
 * @param name The flag's name (without dashes).
 * @param text Its value.
 * @param min The least value allowed.
 * @param max The greatest value allowed.
 * @param usage The command's usage.
 * @returns The integer.
 * @throws {UsageError} If it is not an integer from `min` to `max`.
 */
export function integer(
  name: string,
  text: string,
  min: number,
  max: number,
  usage: string,
): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(
      `--${name}: expected an integer from ${min} to ${max}, got "${text}"`,
      usage,
    );
  }
  return Number(text);
}

/**
 * A size flag: `4GiB`, `512MiB`, `2e9`, `1.5GB`.
 *
 * @param name The flag's name (without dashes).
 * @param text Its value.
 * @param usage The command's usage.
 * @returns Bytes.
 * @throws {UsageError} If it is not a size.
 */
export function size(name: string, text: string, usage: string): number {
  try {
    return parseBytes(text);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`, usage);
  }
}

/**
 * A fraction flag, from 0 to 1 (empty text is not 0: it is refused).
 *
 * @param name The flag's name (without dashes).
 * @param text Its value.
 * @param usage The command's usage.
 * @returns The fraction.
 * @throws {UsageError} If it is not a fraction from 0 to 1.
 */
export function fraction(name: string, text: string, usage: string): number {
  const value = Number(text);
  if (text.trim() === "" || !(value >= 0 && value <= 1)) {
    throw new UsageError(
      `--${name} must be a fraction from 0 to 1, got ${JSON.stringify(text)}`,
      usage,
    );
  }
  return value;
}

/**
 * `--target`, the store's fraction of the memory limit, when given.
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @returns The fraction, or undefined when the flag is absent.
 * @throws {UsageError} If it is not a fraction from 0 to 1.
 */
export function target(
  values: FlagValues,
  usage: string,
): number | undefined {
  return values.target === undefined
    ? undefined
    : fraction("target", values.target as string, usage);
}

/** What `--shared-memory` says it needs when `--spill-dir` is missing. */
const SHARED_SPILL_DIR =
  "<dir on a tmpfs>; `spillway shm-setup --size <size>` prints how to mount one";

/**
 * `--shared-memory`, which needs `--spill-dir`.
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @param spillDir How the error names the directory it needs.
 * @returns Whether shared-memory mode is on.
 * @throws {UsageError} If it is on without `--spill-dir`.
 */
export function sharedMemory(
  values: FlagValues,
  usage: string,
  spillDir: string = SHARED_SPILL_DIR,
): boolean {
  if (values["shared-memory"] !== true) return false;
  if (values["spill-dir"] === undefined) {
    throw new UsageError(
      `--shared-memory needs --spill-dir ${spillDir}`,
      usage,
    );
  }
  return true;
}

/**
 * `--host`: an interface to listen on.
 *
 * @param text Its value.
 * @param usage The command's usage.
 * @returns The host.
 * @throws {UsageError} If it is not a host name or an IP address.
 */
export function host(text: string, usage: string): string {
  try {
    parseAddress(`${text.includes(":") ? `[${text}]` : text}:1`);
  } catch {
    throw new UsageError(`--host: invalid host "${text}"`, usage);
  }
  return text;
}

/**
 * `--memory-limit`: a size, a fraction of system memory, or 0 for none; a
 * limit below the smallest a worker can run with (`MIN_MEMORY_LIMIT`) is
 * refused, naming that smallest limit.
 *
 * @param text Its value.
 * @param usage The command's usage.
 * @returns Bytes, or null for no limit.
 * @throws {UsageError} If it is not a memory limit, or too small a one.
 */
export function memoryLimit(text: string, usage: string): number | null {
  let limit: number | null;
  try {
    limit = parseMemoryLimit(text);
  } catch (error) {
    throw new UsageError(
      `--memory-limit: ${oneLine((error as Error).message)}`,
      usage,
    );
  }
  const problem = memoryLimitProblem(limit);
  if (problem !== null) {
    throw new UsageError(`--memory-limit ${text}: ${problem}`, usage);
  }
  return limit;
}

/**
 * `--host` against the auth token, mutual TLS and
 * `--insecure-allow-remote`: a loopback host needs nothing; any other
 * needs a token or mutual TLS, or else the flag.
 *
 * @param values The parsed flags (`insecure-allow-remote`).
 * @param hostname The checked `--host`.
 * @param usage The command's usage.
 * @param security Whether a token is set, whether mutual TLS is on.
 *   Default neither.
 * @returns Whether the host is not loopback and allowed only by the flag:
 *   the command prints `remoteWarning` then.
 * @throws {UsageError} For a non-loopback host without a token, mutual TLS
 *   or the flag.
 */
export function remoteAllowed(
  values: FlagValues,
  hostname: string,
  usage: string,
  security: RemoteSecurity = {},
): boolean {
  const verdict = remoteAllowedBy(
    hostname,
    security,
    values["insecure-allow-remote"] === true,
  );
  if (verdict === "refused") {
    throw new UsageError(
      `--host ${remoteRefusal(hostname, "pass --insecure-allow-remote")}`,
      usage,
    );
  }
  return verdict === "insecure";
}

/**
 * `--reconnect-timeout`: a duration (`60s`, `500ms`, `2m`), or 0 for none.
 *
 * @param text Its value, if given.
 * @param usage The command's usage.
 * @returns Milliseconds, or undefined when the flag is absent.
 * @throws {UsageError} If it is not a duration or 0.
 */
export function reconnectTimeout(
  text: string | undefined,
  usage: string,
): number | undefined {
  if (text === undefined) return undefined;
  if (/^\s*0+(\.0*)?\s*(ms|s|m|h)?\s*$/i.test(text)) return 0;
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(
      `--reconnect-timeout: ${(error as Error).message} (or 0)`,
      usage,
    );
  }
}

/**
 * The `<scheduler-address>` positional argument.
 *
 * @param positionals The positional arguments.
 * @param usage The command's usage.
 * @returns The address, with `tcp://` added when it had no scheme.
 * @throws {UsageError} If it is missing or not an address.
 */
export function schedulerAddress(
  positionals: string[],
  usage: string,
): string {
  if (positionals.length === 0) {
    throw new UsageError("missing <scheduler-address>", usage);
  }
  try {
    parseAddress(positionals[0]);
  } catch (error) {
    throw new UsageError(oneLine((error as Error).message), usage);
  }
  return positionals[0].includes("://")
    ? positionals[0]
    : `tcp://${positionals[0]}`;
}

/**
 * A comma-separated list of paths (`--modules`), made absolute.
 *
 * @param text Its value, if given.
 * @returns The paths, or null when the flag is absent.
 */
export function paths(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  return text.split(",").filter((p) => p !== "").map((p) => resolve(p));
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration such as `30s`, `500ms`, `2m`, `1.5h` or `30` (seconds)
 * into milliseconds.
 *
 * @param text The duration.
 * @returns Milliseconds (more than 0).
 * @throws {RangeError} If it is not a positive duration.
 */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$/i.exec(text);
  const ms = match
    ? Number(match[1]) * DURATION_UNITS[(match[2] ?? "s").toLowerCase()]
    : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(
      `invalid duration ${JSON.stringify(text)}: expected e.g. 30s, 500ms, 2m`,
    );
  }
  return ms;
}

/** `--log-level` and `--log-format`, which every long-running command takes. */
export const LOG_FLAGS: FlagSpec = {
  "log-level": { type: "string" },
  "log-format": { type: "string" },
};

/**
 * Their lines in a command's usage, descriptions from `column` on.
 *
 * @param column Where the command's usage starts its descriptions.
 * @returns The lines, without a final newline.
 */
export function logUsage(column: number): string {
  const rows: [string, string[]][] = [
    ["--log-level <level>", [
      "debug, info, warn or error (default info);",
      "pauses, spill failures, lost workers: warn",
    ]],
    ["--log-format <format>", [
      "text (time, level, role, message) or json",
      "(an object per line) (default text)",
    ]],
  ];
  return rows.flatMap(([flag, [first, ...rest]]) => [
    `  ${flag}`.padEnd(column) + first,
    ...rest.map((line) => " ".repeat(column) + line),
  ]).join("\n");
}

/**
 * `--log-level` and `--log-format`, checked; this process's logging is set
 * to them (with `role` for lines whose code names none).
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @param role The process's role: `scheduler`, `nanny`, `worker`, `client`.
 * @returns The level and format given (each undefined when absent), to
 *   hand to the processes this one starts.
 * @throws {UsageError} For an unknown level or format.
 *
 * @example
 * ```ts
 * import { logging } from "./args.ts";
 * const { logLevel } = logging({ "log-level": "warn" }, "usage: …", "scheduler");
 * console.log(logLevel); // "warn"
 * ```
 */
export function logging(
  values: FlagValues,
  usage: string,
  role: string,
): { logLevel?: LogLevel; logFormat?: LogFormat } {
  const level = values["log-level"] as string | undefined;
  const format = values["log-format"] as string | undefined;
  if (level !== undefined && !isLogLevel(level)) {
    throw new UsageError(
      `--log-level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`,
      usage,
    );
  }
  if (format !== undefined && !isLogFormat(format)) {
    throw new UsageError(
      `--log-format: expected one of ${
        LOG_FORMATS.join(", ")
      }, got "${format}"`,
      usage,
    );
  }
  configureLogging({
    role,
    ...(level !== undefined ? { level } : {}),
    ...(format !== undefined ? { format } : {}),
  });
  return {
    ...(level !== undefined ? { logLevel: level } : {}),
    ...(format !== undefined ? { logFormat: format } : {}),
  };
}

/** `--tls-cert`, `--tls-key`, `--tls-ca`: the scheduler, workers, `local` and `demo` take them. */
export const TLS_FLAGS: FlagSpec = {
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
};

/**
 * Their lines in a command's usage, descriptions from `column` on.
 *
 * @param column Where the command's usage starts its descriptions.
 * @returns The lines, without a final newline.
 */
export function tlsUsage(column: number): string {
  const rows: [string, string[]][] = [
    ["--tls-cert <file>", [
      "this process's certificate (PEM); with --tls-key it",
      "listens with TLS (tls:// addresses) and presents it",
      "to servers that ask for a client certificate",
    ]],
    ["--tls-key <file>", ["its private key (PEM)"]],
    ["--tls-ca <file>", [
      "CA certificate (PEM) that verifies tls:// servers;",
      "with --tls-cert and --tls-key, connections must",
      "also present a certificate it signed (mutual TLS)",
    ]],
  ];
  return rows.flatMap(([flag, [first, ...rest]]) => [
    `  ${flag}`.padEnd(column) + first,
    ...rest.map((line) => " ".repeat(column) + line),
  ]).join("\n");
}

/**
 * `--tls-cert`, `--tls-key` and `--tls-ca`, as absolute paths: the
 * certificate and the key go together.
 *
 * @param values The parsed flags.
 * @param usage The command's usage.
 * @returns The paths given (none: an empty object).
 * @throws {UsageError} For a certificate without its key or a key without
 *   its certificate, or an empty path.
 *
 * @example
 * ```ts
 * import { tlsFiles } from "./args.ts";
 * const files = tlsFiles({ "tls-ca": "ca.pem" }, "usage: …");
 * console.log(files.ca?.endsWith("/ca.pem")); // true
 * ```
 */
export function tlsFiles(
  values: FlagValues,
  usage: string,
): { cert?: string; key?: string; ca?: string } {
  const out: { cert?: string; key?: string; ca?: string } = {};
  for (const part of ["cert", "key", "ca"] as const) {
    const path = values[`tls-${part}`];
    if (path === undefined) continue;
    if (typeof path !== "string" || path.trim() === "") {
      throw new UsageError(`--tls-${part}: expected a file`, usage);
    }
    out[part] = resolve(path);
  }
  if ((out.cert === undefined) !== (out.key === undefined)) {
    throw new UsageError(
      out.cert === undefined
        ? "--tls-key needs --tls-cert (the certificate of that key)"
        : "--tls-cert needs --tls-key (the certificate's private key)",
      usage,
    );
  }
  return out;
}

/**
 * Whether these `--tls-*` files put mutual TLS in force for a server: a
 * certificate, its key and a CA (connections must then present a
 * certificate that CA signed). Server-only TLS proves nothing about who
 * connects.
 *
 * @param files What {@linkcode tlsFiles} read.
 * @returns True for mutual TLS.
 *
 * @example
 * ```ts
 * import { mutualTls } from "./args.ts";
 * console.log(mutualTls({ cert: "a.pem", key: "a.key" })); // false
 * console.log(mutualTls({ cert: "a.pem", key: "a.key", ca: "ca.pem" })); // true
 * ```
 */
export function mutualTls(
  files: { cert?: string; key?: string; ca?: string } | undefined,
): boolean {
  return files?.cert !== undefined && files.key !== undefined &&
    files.ca !== undefined;
}

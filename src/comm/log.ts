/**
 * Logging for every role of a Spillway process: one line per event, with
 * its time (ISO 8601), level and role (`scheduler`, `worker <address>`,
 * `nanny`, `client`), as text or JSON lines, on stderr by default.
 *
 * Each role's code reports through a {@linkcode LogFunction}: the one given
 * in its options (tests capture lines that way: they get the bare message),
 * or by default {@linkcode roleLog}, which goes to the process's
 * {@linkcode LogSink}. The sink drops lines below its level
 * (`--log-level`, {@linkcode configureLogging}) and rate-limits repeated
 * lines: past a burst, the lines of one template (the message with its
 * numbers, addresses and quoted parts blanked) from one role are counted
 * instead of written, and a line `… N similar lines suppressed` says so
 * periodically.
 *
 * @module
 */

/**
 * How important a line is. The default level, `info`, writes `info`,
 * `warn` and `error` lines; `debug` writes everything.
 *
 * @example
 * ```ts
 * import type { LogLevel } from "./log.ts";
 * const level: LogLevel = "warn";
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The levels, least important first. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];

/**
 * How lines are written: `text`, `2026-12-07T03:10:00.123Z INFO scheduler
 * worker tcp://… joined`; or `json`, one object per line with `time`,
 * `level`, `role`, `message` and the event's fields.
 *
 * @example
 * ```ts
 * import type { LogFormat } from "./log.ts";
 * const format: LogFormat = "json";
 * ```
 */
export type LogFormat = "text" | "json";

/** The formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/**
 * Structured data of one event, written as JSON fields (text lines carry
 * the message only).
 *
 * @example
 * ```ts
 * import type { LogFields } from "./log.ts";
 * const fields: LogFields = { worker: "tcp://127.0.0.1:40001", keys: 12 };
 * ```
 */
export type LogFields = Record<string, unknown>;

/**
 * Receives one line per event (no trailing newline), with its level
 * (`info` when absent) and fields. A function taking only the line is one
 * too: it gets the bare message.
 *
 * @example
 * ```ts
 * import type { LogFunction } from "./log.ts";
 * const lines: string[] = [];
 * const log: LogFunction = (line) => lines.push(line);
 * log("worker tcp://127.0.0.1:40001 paused", "warn");
 * ```
 */
export type LogFunction = (
  line: string,
  level?: LogLevel,
  fields?: LogFields,
) => void;

/**
 * Wraps `log` so that a logger that throws cannot break the comm layer: its error is dropped.
 *
 * @param log the logger to call
 * @returns a logger that never throws
 * @example
 * ```ts
 * import { safeLog } from "./log.ts";
 * const log = safeLog(() => {
 *   throw new Error("broken logger");
 * });
 * log("this does not throw");
 * ```
 */
export function safeLog(log: LogFunction): LogFunction {
  return (line, level, fields) => {
    try {
      log(line, level, fields);
    } catch {
      // nowhere left to report it
    }
  };
}

/**
 * Whether `text` names a level.
 *
 * @param text A `--log-level` value.
 * @returns Whether it is one of {@linkcode LOG_LEVELS}.
 * @example
 * ```ts
 * import { isLogLevel } from "./log.ts";
 * isLogLevel("warn"); // true
 * isLogLevel("verbose"); // false
 * ```
 */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/**
 * Whether `text` names a format.
 *
 * @param text A `--log-format` value.
 * @returns Whether it is one of {@linkcode LOG_FORMATS}.
 * @example
 * ```ts
 * import { isLogFormat } from "./log.ts";
 * isLogFormat("json"); // true
 * ```
 */
export function isLogFormat(text: string): text is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(text);
}

/**
 * One event as the sink writes it.
 *
 * @example
 * ```ts
 * import type { LogRecord } from "./log.ts";
 * const record: LogRecord = { time: Date.now(), level: "info", role: "scheduler", message: "up" };
 * ```
 */
export interface LogRecord {
  /** When, in epoch milliseconds. */
  time: number;
  /** How important. */
  level: LogLevel;
  /** Who: `scheduler`, `worker <address>`, `nanny`, `client`. */
  role: string;
  /** What happened, in one line. */
  message: string;
  /** Structured data, if any. */
  fields?: LogFields;
}

/**
 * A record as one line of `format`.
 *
 * @param record The event.
 * @param format Text or JSON.
 * @returns The line, without a newline.
 * @example
 * ```ts
 * import { formatLogLine } from "./log.ts";
 * const record = { time: 0, level: "info" as const, role: "scheduler", message: "up" };
 * formatLogLine(record, "text"); // "1970-01-01T00:00:00.000Z INFO scheduler up"
 * formatLogLine(record, "json");
 * // {"time":"1970-01-01T00:00:00.000Z","level":"info","role":"scheduler","message":"up"}
 * ```
 */
export function formatLogLine(record: LogRecord, format: LogFormat): string {
  const time = new Date(record.time).toISOString();
  // One event, one line: a message never breaks the line.
  const message = record.message.replace(/\s*\n\s*/g, " ");
  if (format === "json") {
    const line: Record<string, unknown> = {
      time,
      level: record.level,
      role: record.role,
      message,
    };
    for (const [k, v] of Object.entries(record.fields ?? {})) {
      if (!(k in line)) line[k] = v;
    }
    return safeJson(line);
  }
  // The message says it all for a reader; the fields are for machines.
  return `${time} ${record.level.toUpperCase()} ${record.role} ${message}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(
      value,
      (_, v) => typeof v === "bigint" ? String(v) : v,
    ) ?? "null";
  } catch {
    return JSON.stringify(String(value));
  }
}

/**
 * The part of a message that repeats: numbers, byte dumps, addresses and
 * quoted parts blanked, cut to its first 80 characters. Lines with the
 * same template from the same role are rate-limited together.
 *
 * @param message A log message.
 * @returns Its template.
 * @example
 * ```ts
 * import { messageTemplate } from "./log.ts";
 * messageTemplate("closing connection with 127.0.0.1:40312: bad magic (first bytes 9b 62 86)");
 * // "closing connection with #:#: bad magic (first bytes #)"
 * ```
 */
export function messageTemplate(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\b[0-9a-f]{2}(?:\s[0-9a-f]{2})+\b/gi, "#")
    .replace(/\b0x[0-9a-f]+\b/gi, "#")
    .replace(/\d+(?:\.\d+)*/g, "#")
    .slice(0, 80);
}

/**
 * Options of a {@linkcode LogSink}.
 *
 * @example
 * ```ts
 * import type { LogSinkOptions } from "./log.ts";
 * const lines: string[] = [];
 * const options: LogSinkOptions = { level: "debug", format: "json", write: (l) => lines.push(l) };
 * ```
 */
export interface LogSinkOptions {
  /** Lines below this level are dropped. Default `info`. */
  level?: LogLevel;
  /** Text or JSON lines. Default `text`. */
  format?: LogFormat;
  /** Where each line goes. Default: stderr. */
  write?: (line: string) => void;
  /**
   * Lines of one template and role written in a row before the rest are
   * counted instead; 0 turns rate limiting off. Default 10.
   */
  burst?: number;
  /**
   * Past the burst, one more line of a template every this many
   * milliseconds; and as often, `… N similar lines suppressed` for a
   * template that had some. Default 10 000.
   */
  interval?: number;
  /** The clock, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

interface Bucket {
  role: string;
  level: LogLevel;
  tokens: number;
  refilled: number;
  suppressed: number;
  /** The last line suppressed, shown in the summary. */
  example: string;
}

/**
 * Where a process's lines go: filtered by level, rate-limited per role and
 * template, formatted, written.
 *
 * @example
 * ```ts
 * import { LogSink } from "./log.ts";
 * const lines: string[] = [];
 * const sink = new LogSink({ write: (l) => lines.push(l), burst: 2 });
 * for (let i = 0; i < 5; i++) sink.log("scheduler", "warn", `bad frame from port ${i}`);
 * sink.flush(); // … 3 similar lines suppressed
 * console.log(lines.length); // 3
 * ```
 */
export class LogSink {
  /** The level lines must reach to be written. */
  level: LogLevel;
  /** Text or JSON. */
  format: LogFormat;
  #write: (line: string) => void;
  #burst: number;
  #interval: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param options Level, format, destination, rate limits. */
  constructor(options: LogSinkOptions = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "text";
    this.#write = options.write ?? writeStderr;
    this.#burst = options.burst ?? 10;
    this.#interval = options.interval ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Changes what {@linkcode LogSinkOptions} gave (those absent stay).
   *
   * @param options The settings to change.
   */
  configure(options: LogSinkOptions): void {
    if (options.level !== undefined) this.level = options.level;
    if (options.format !== undefined) this.format = options.format;
    if (options.write !== undefined) this.#write = options.write;
    if (options.burst !== undefined) this.#burst = options.burst;
    if (options.interval !== undefined) this.#interval = options.interval;
  }

  /**
   * Whether a line of `level` would be written (not counting rate limits).
   *
   * @param level The line's level.
   * @returns Whether it reaches the sink's level.
   */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.level);
  }

  /**
   * Writes one line, unless below the level or rate-limited.
   *
   * @param role Who: `scheduler`, `worker <address>`, `nanny`, `client`.
   * @param level How important.
   * @param message What happened.
   * @param fields Structured data.
   */
  log(
    role: string,
    level: LogLevel,
    message: string,
    fields?: LogFields,
  ): void {
    if (!this.enabled(level)) return;
    const now = this.#now();
    if (this.#burst > 0) {
      const key = `${role}\u0000${level}\u0000${messageTemplate(message)}`;
      let bucket = this.#buckets.get(key);
      if (bucket === undefined) {
        if (this.#buckets.size >= 1000) this.#sweep(now, true);
        bucket = {
          role,
          level,
          tokens: this.#burst,
          refilled: now,
          suppressed: 0,
          example: "",
        };
        this.#buckets.set(key, bucket);
      }
      this.#refill(bucket, now);
      if (bucket.tokens < 1) {
        bucket.suppressed++;
        bucket.example = message;
        this.#startTimer();
        return;
      }
      bucket.tokens--;
      if (bucket.suppressed > 0) this.#summary(bucket, now);
    }
    this.#emit({ time: now, level, role, message, fields });
  }

  /** Writes the `… N similar lines suppressed` lines now owed. */
  flush(): void {
    this.#sweep(this.#now(), false);
    for (const bucket of this.#buckets.values()) {
      if (bucket.suppressed > 0) this.#summary(bucket, this.#now());
    }
    this.#stopTimer();
  }

  #refill(bucket: Bucket, now: number): void {
    const earned = Math.floor((now - bucket.refilled) / this.#interval);
    if (earned <= 0) return;
    bucket.tokens = Math.min(this.#burst, bucket.tokens + earned);
    bucket.refilled += earned * this.#interval;
  }

  #summary(bucket: Bucket, now: number): void {
    const n = bucket.suppressed;
    bucket.suppressed = 0;
    this.#emit({
      time: now,
      level: bucket.level,
      role: bucket.role,
      message: `… ${n} similar line${
        n === 1 ? "" : "s"
      } suppressed (the last: ${bucket.example})`,
      fields: { suppressed: n },
    });
  }

  /** Summaries of what was suppressed; forgets templates gone quiet. */
  #sweep(now: number, forget: boolean): void {
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.suppressed > 0 && !forget) continue;
      if (bucket.tokens >= this.#burst || forget) {
        if (bucket.suppressed > 0) this.#summary(bucket, now);
        this.#buckets.delete(key);
      }
    }
  }

  #tick(): void {
    const now = this.#now();
    let owed = false;
    for (const bucket of this.#buckets.values()) {
      if (bucket.suppressed > 0) {
        this.#summary(bucket, now);
        owed = true;
      }
    }
    this.#sweep(now, false);
    if (!owed) this.#stopTimer();
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#interval);
    // The summaries never keep a process alive.
    Deno.unrefTimer(this.#timer);
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #emit(record: LogRecord): void {
    try {
      this.#write(formatLogLine(record, this.format));
    } catch {
      // nowhere left to report it
    }
  }
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(`${line}\n`);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

/** This process's sink: every {@linkcode roleLog} writes here. */
const processSink = new LogSink();
let processRole = "client";

/**
 * Settings of this process's logging ({@linkcode configureLogging}).
 *
 * @example
 * ```ts
 * import type { LoggingSettings } from "./log.ts";
 * const settings: LoggingSettings = { level: "debug", format: "json", role: "scheduler" };
 * ```
 */
export interface LoggingSettings extends LogSinkOptions {
  /**
   * The role of lines whose code names none (the comm layer's defaults):
   * `scheduler`, `worker`, `nanny`. Default `client`.
   */
  role?: string;
}

/**
 * Sets this process's logging: level, format, destination, rate limits,
 * and the default role. The `spillway` commands call it with their
 * `--log-level` and `--log-format`; a program using the client may too.
 *
 * @param settings What to change; the rest stays.
 * @example
 * ```ts
 * import { configureLogging } from "./log.ts";
 * configureLogging({ level: "warn", format: "json" });
 * ```
 */
export function configureLogging(settings: LoggingSettings): void {
  processSink.configure(settings);
  if (settings.role !== undefined) processRole = settings.role;
}

/**
 * Writes the `… N similar lines suppressed` lines this process owes (a
 * command calls it before it exits).
 *
 * @example
 * ```ts
 * import { flushLogs } from "./log.ts";
 * flushLogs();
 * ```
 */
export function flushLogs(): void {
  processSink.flush();
}

/**
 * A {@linkcode LogFunction} writing to this process's sink as `role`:
 * what each role uses when its options give no `log`.
 *
 * @param role Who the lines are from; a function is asked at each line
 *   (a worker's address is known once it listens). Default: the
 *   process's role (see {@linkcode LoggingSettings.role}).
 * @returns The function; lines without a level are `info`.
 * @example
 * ```ts
 * import { roleLog } from "./log.ts";
 * const log = roleLog("scheduler");
 * log("worker tcp://127.0.0.1:40001 joined");
 * log("worker tcp://127.0.0.1:40001 removed (disconnected)", "warn", { keys: 3 });
 * ```
 */
export function roleLog(role?: string | (() => string)): LogFunction {
  const who = typeof role === "function"
    ? role
    : role === undefined
    ? () => processRole
    : () => role;
  return (line, level = "info", fields) =>
    processSink.log(who(), level, line, fields);
}

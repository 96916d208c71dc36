/**
 * The one place that decides what a failed spill means (after
 * distributed/spill.py): it names the kind of failure, logs each kind once
 * per episode, counts every failure, and says how long the disk tier rests
 * before the next write is tried. In every case the key stays where it was:
 * a failure never loses data.
 *
 * @module
 */
import type { FailureKind } from "../protocol/store_metrics.ts";

/**
 * Backoff settings for a tier whose writes fail.
 *
 * @example
 * ```ts
 * import type { BackoffOptions } from "@spillway/spillway";
 * const backoff: BackoffOptions = { initial: 1000, max: 30_000 };
 * ```
 */
export interface BackoffOptions {
  /** First pause after a failed write, in ms. Default 1000. */
  initial?: number;
  /** Longest pause, in ms; each failure in a row doubles it. Default 30000. */
  max?: number;
}

/**
 * Names the kind of an error thrown by a disk write, from its errno name or
 * message (Deno reports ENOSPC and EROFS as plain errors with an
 * `(os error N)` suffix, and `code` where it knows one).
 *
 * @example
 * ```ts
 * import { classifyWriteError } from "./failures.ts";
 * classifyWriteError(new Error("No space left on device (os error 28)")); // "disk-full"
 * ```
 */
export function classifyWriteError(error: unknown): FailureKind {
  if (error instanceof Deno.errors.PermissionDenied) return "permission";
  if (error instanceof Deno.errors.NotCapable) return "permission";
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (
    code === "ENOSPC" || code === "EDQUOT" ||
    /os error (28|122)\)/.test(message)
  ) {
    return "disk-full";
  }
  if (code === "EROFS" || /os error 30\)/.test(message)) return "read-only";
  if (
    code === "EACCES" || code === "EPERM" || /os error (1|13)\)/.test(message)
  ) {
    return "permission";
  }
  if (code === "EIO" || /os error 5\)/.test(message)) return "io";
  return "other";
}

/**
 * Failure bookkeeping of one store: counts by kind, log-once per kind, and
 * the disk tier's backoff.
 *
 * @example
 * ```ts
 * import { FailurePolicy } from "./failures.ts";
 * const policy = new FailurePolicy({ log: () => {} });
 * policy.writeFailed("disk-full", "x", new Error("No space left on device"));
 * policy.diskResting(); // true: the next write waits for the backoff
 * ```
 */
export class FailurePolicy {
  readonly #counts: Partial<Record<FailureKind, number>> = {};
  readonly #logged = new Set<FailureKind>();
  readonly #log: (message: string) => void;
  readonly #initial: number;
  readonly #max: number;
  readonly #now: () => number;
  #backoff = 0;
  #restingUntil = 0;

  /** `log` receives one line per failure kind and episode. */
  constructor(
    options: {
      log: (message: string) => void;
      backoff?: BackoffOptions;
      now?: () => number;
    },
  ) {
    this.#log = options.log;
    this.#initial = options.backoff?.initial ?? 1000;
    this.#max = options.backoff?.max ?? 30_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Failures so far, by kind. */
  counts(): Partial<Record<FailureKind, number>> {
    return { ...this.#counts };
  }

  /** Counts a failure of `kind` for `key` and logs it if it is the first of its kind. */
  record(kind: FailureKind, key: string, reason: unknown): void {
    this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    const why = reason instanceof Error ? reason.message : String(reason);
    this.#log(
      `spill ${kind} for key ${JSON.stringify(key)}: ${why} ` +
        `(the key stays in memory; further ${kind} failures are counted, not logged)`,
    );
  }

  /** A disk write failed: record it and rest the disk tier. */
  writeFailed(kind: FailureKind, key: string, reason: unknown): void {
    this.record(kind, key, reason);
    this.#backoff = Math.min(
      this.#max,
      this.#backoff === 0 ? this.#initial : this.#backoff * 2,
    );
    this.#restingUntil = this.#now() + this.#backoff;
  }

  /** A disk write succeeded: the episode is over, log again next time. */
  writeSucceeded(): void {
    this.#backoff = 0;
    this.#restingUntil = 0;
    this.#logged.clear();
  }

  /** Whether the disk tier is resting after a failure. */
  diskResting(): boolean {
    return this.#now() < this.#restingUntil;
  }

  /** Milliseconds until the disk tier may be tried again (0 when it may now). */
  restRemaining(): number {
    return Math.max(0, this.#restingUntil - this.#now());
  }
}

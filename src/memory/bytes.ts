/**
 * Byte sizes as people write them ("4GiB", "1.5 GB", "2e9") and as people read
 * them ("1.50 GiB"), plus the memory-limit grammar of the worker's
 * `--memory-limit` flag.
 *
 * @module
 */

/**
 * Bytes per unit, keyed by the lower-cased unit. Units are case-insensitive, so
 * "mb" is a megabyte (never a millibit). The one-letter forms follow the
 * Kubernetes / Dask convention: "G" is 10^9 and "Gi" is 2^30.
 */
const UNIT_BYTES: ReadonlyMap<string, number> = new Map([
  ["", 1],
  ["b", 1],
  ["k", 1e3],
  ["kb", 1e3],
  ["m", 1e6],
  ["mb", 1e6],
  ["g", 1e9],
  ["gb", 1e9],
  ["t", 1e12],
  ["tb", 1e12],
  ["p", 1e15],
  ["pb", 1e15],
  ["ki", 2 ** 10],
  ["kib", 2 ** 10],
  ["mi", 2 ** 20],
  ["mib", 2 ** 20],
  ["gi", 2 ** 30],
  ["gib", 2 ** 30],
  ["ti", 2 ** 40],
  ["tib", 2 ** 40],
  ["pi", 2 ** 50],
  ["pib", 2 ** 50],
]);

/** A decimal number (optionally with an exponent), optional spaces, a unit. */
const BYTE_SIZE_PATTERN =
  /^\s*(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d+)?\s*([a-z]*)\s*$/i;

/** Matches a bare decimal number: a memory limit like "0.5" is a fraction. */
const BARE_NUMBER_PATTERN = /^\s*(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d+)?\s*$/i;

function invalidByteSize(text: string | number, expected: string): RangeError {
  const shown = typeof text === "string" ? JSON.stringify(text) : String(text);
  return new RangeError(`invalid byte size ${shown}: expected ${expected}`);
}

/** Rejects what no byte count can be; rounds float noise ("4.1MB") to whole bytes. */
function wholeBytes(value: number, original: string | number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw invalidByteSize(original, "a finite number of bytes, 0 or more");
  }
  // Math.round, not floor: 4.1 * 1e6 is 4099999.9999999995 in binary floats.
  const bytes = Math.round(value);
  if (bytes > Number.MAX_SAFE_INTEGER) {
    throw invalidByteSize(
      original,
      `at most ${Number.MAX_SAFE_INTEGER} bytes, so that byte arithmetic stays exact`,
    );
  }
  return bytes;
}

/**
 * Parses a byte size such as `"4GiB"`, `"4 GiB"`, `"512MiB"`, `"1.5GB"`,
 * `"100kB"`, `"2e9"` or `"123"` into a whole number of bytes.
 *
 * SI units (`kB`, `MB`, `GB`, `TB`, `PB`, or `k`, `M`, `G`, `T`, `P`) are powers
 * of 1000; IEC units (`KiB`, `MiB`, `GiB`, `TiB`, `PiB`, or `Ki`, `Mi`, `Gi`,
 * `Ti`, `Pi`) are powers of 1024; `B` or no unit means bytes. Units are
 * case-insensitive. A number is taken as a count of bytes. Fractional results
 * are rounded to the nearest byte.
 *
 * @param text The size to parse, or a number of bytes.
 * @returns The size in bytes: a non-negative safe integer.
 * @throws {RangeError} If `text` is not a size, is negative, or is not finite.
 *
 * @example Parse sizes in SI and IEC units
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { parseBytes } from "./bytes.ts";
 *
 * equal(parseBytes("4GiB"), 4 * 1024 ** 3);
 * equal(parseBytes("1.5 GB"), 1_500_000_000);
 * equal(parseBytes("2e9"), 2_000_000_000);
 * equal(parseBytes(1024), 1024);
 * ```
 */
export function parseBytes(text: string | number): number {
  if (typeof text === "number") return wholeBytes(text, text);
  if (typeof text !== "string") {
    throw invalidByteSize(String(text), "a string or a number");
  }
  const match = BYTE_SIZE_PATTERN.exec(text);
  const multiplier = match ? UNIT_BYTES.get(match[3].toLowerCase()) : undefined;
  if (!match || multiplier === undefined) {
    throw invalidByteSize(
      text,
      "a number with an optional unit such as 4GiB or 2e9",
    );
  }
  return wholeBytes(Number(match[1] + (match[2] ?? "")) * multiplier, text);
}

const IEC_UNITS: readonly string[] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * Formats a number of bytes for people: whole bytes below 1 KiB (`"512 B"`),
 * otherwise two decimals in the largest IEC unit that keeps the figure below
 * 1024 (`"1.50 GiB"`).
 *
 * @param n The number of bytes; may be negative (a difference of sizes).
 * @returns The formatted size, for example `"1.50 GiB"`.
 *
 * @example Format sizes
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { formatBytes } from "./bytes.ts";
 *
 * equal(formatBytes(512), "512 B");
 * equal(formatBytes(1.5 * 1024 ** 3), "1.50 GiB");
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const sign = n < 0 ? "-" : "";
  let magnitude = Math.abs(n);
  if (Math.round(magnitude) < 1024) return `${sign}${Math.round(magnitude)} B`;
  let unit = -1;
  // Step up while the *rounded* figure would read 1024.00 or more, so that
  // 1 MiB - 1 B prints as "1.00 MiB", not "1024.00 KiB".
  while (unit < IEC_UNITS.length - 1 && Number(magnitude.toFixed(2)) >= 1024) {
    magnitude /= 1024;
    unit++;
  }
  return `${sign}${magnitude.toFixed(2)} ${IEC_UNITS[unit]}`;
}

/**
 * Options of {@linkcode parseMemoryLimit}.
 *
 * @example
 * ```ts
 * import { parseMemoryLimit, type ParseMemoryLimitOptions } from "@spillway/spillway";
 * const options: ParseMemoryLimitOptions = { totalMemory: 16 * 2 ** 30 };
 * parseMemoryLimit(0.5, options); // 8 GiB
 * ```
 */
export interface ParseMemoryLimitOptions {
  /**
   * Total memory in bytes that fractions and `"auto"` refer to.
   *
   * @default {Deno.systemMemoryInfo().total} (needs `--allow-sys=systemMemoryInfo`)
   */
  totalMemory?: number;
}

function totalMemoryFor(
  spec: string | number,
  options: ParseMemoryLimitOptions | undefined,
): number {
  const injected = options?.totalMemory;
  if (injected !== undefined) {
    if (!Number.isFinite(injected) || injected <= 0) {
      throw new RangeError(
        `invalid totalMemory ${injected}: expected a positive number of bytes`,
      );
    }
    return injected;
  }
  try {
    return Deno.systemMemoryInfo().total;
  } catch (error) {
    const shown = typeof spec === "string"
      ? JSON.stringify(spec)
      : String(spec);
    throw new Error(
      `cannot resolve memory limit ${shown}: reading the system's total memory failed ` +
        `(${error instanceof Error ? error.message : String(error)}); ` +
        `run with --allow-sys=systemMemoryInfo, or pass an explicit size such as "4GiB"`,
      { cause: error },
    );
  }
}

/**
 * Resolves a memory-limit setting to bytes, the way Dask's `memory_limit` does.
 *
 * - `null`, `undefined`, `0`, `"0"` (anything that comes to 0 bytes): no limit,
 *   returns `null`.
 * - `"auto"`: the total memory.
 * - A number in (0, 1], or a bare number string in that range such as `"0.5"`:
 *   that fraction of the total memory. So `1` means *all* memory; write `"1B"`
 *   for one byte.
 * - Anything else goes through {@linkcode parseBytes}: `"4GiB"`, `"2e9"`, `4096`.
 *
 * The total memory is only read when a fraction or `"auto"` needs it, so an
 * explicit size needs no `--allow-sys`. A limit above the total memory is
 * returned as given (Dask caps it; capping here would need `--allow-sys` for
 * every limit).
 *
 * @param spec The memory-limit setting.
 * @param options `totalMemory` to use instead of the system's.
 * @returns The limit in bytes, or `null` for no limit.
 * @throws {RangeError} If `spec` is negative or not a size.
 * @throws {Error} If `spec` is a fraction or `"auto"` and the system's total
 *   memory cannot be read (no `--allow-sys`): the message says to pass an
 *   explicit size.
 *
 * @example Fractions, sizes and no limit
 * ```ts
 * import { equal } from "node:assert/strict";
 * import { parseMemoryLimit } from "./bytes.ts";
 *
 * const totalMemory = 16 * 1024 ** 3;
 * equal(parseMemoryLimit("0.5", { totalMemory }), 8 * 1024 ** 3);
 * equal(parseMemoryLimit("auto", { totalMemory }), totalMemory);
 * equal(parseMemoryLimit("4GiB"), 4 * 1024 ** 3);
 * equal(parseMemoryLimit(0), null);
 * ```
 */
export function parseMemoryLimit(
  spec: string | number | null | undefined,
  options?: ParseMemoryLimitOptions,
): number | null {
  if (spec === null || spec === undefined) return null;
  if (typeof spec === "string" && spec.trim().toLowerCase() === "auto") {
    return Math.round(totalMemoryFor(spec, options));
  }
  const fraction = typeof spec === "number"
    ? spec
    : BARE_NUMBER_PATTERN.test(spec)
    ? Number(spec)
    : NaN;
  if (fraction > 0 && fraction <= 1) {
    return Math.round(fraction * totalMemoryFor(spec, options));
  }
  if (typeof spec === "number" && spec < 0 || /^\s*-/.test(String(spec))) {
    throw new RangeError(
      `invalid memory limit ${
        typeof spec === "string" ? JSON.stringify(spec) : spec
      }: expected 0 or more (0 means no limit)`,
    );
  }
  const bytes = parseBytes(spec);
  return bytes === 0 ? null : bytes;
}

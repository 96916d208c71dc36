/**
 * Where the comm layer reports what it handles by itself (a malformed frame, a lost
 * connection, a throwing notification handler): one line per event, to an injectable function.
 *
 * @module
 */

/**
 * Receives one line per event (no trailing newline).
 *
 * @example
 * ```ts
 * import type { LogFunction } from "./log.ts";
 * const lines: string[] = [];
 * const log: LogFunction = (line) => lines.push(line);
 * ```
 */
export type LogFunction = (line: string) => void;

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
  return (line) => {
    try {
      log(line);
    } catch {
      // nowhere left to report it
    }
  };
}

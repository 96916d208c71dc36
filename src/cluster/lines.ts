/**
 * Line-by-line reading of a child process's output.
 *
 * @module
 */

/**
 * Calls `onLine` for each line of a byte stream (UTF-8, `\n` or `\r\n`
 * separated; the last one even without a final newline) until the stream
 * ends or `signal` aborts (which cancels the stream).
 *
 * @param stream A child's `stdout` or `stderr`.
 * @param onLine Called with each line, without its line break.
 * @param signal Stops reading early.
 * @returns When the stream has ended or reading was stopped.
 *
 * @example
 * ```ts
 * import { pumpLines } from "./lines.ts";
 * const lines: string[] = [];
 * await pumpLines(new Blob(["a\nb\r\nc"]).stream(), (line) => lines.push(line));
 * console.log(lines); // ["a", "b", "c"]
 * ```
 */
export async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  const decoder = new TextDecoder();
  let rest = "";
  const emit = () => {
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, newline).replace(/\r$/, ""));
      rest = rest.slice(newline + 1);
    }
  };
  try {
    if (signal?.aborted) return;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      emit();
    }
    rest += decoder.decode();
    emit();
    if (rest !== "") onLine(rest);
  } catch {
    // Cancelled or broken pipe: nothing more to read.
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

/**
 * Keeps the first and the last lines seen, for error messages (the first
 * say what went wrong; the last, what happened at the end).
 */
export class LineTail {
  readonly #head: string[] = [];
  readonly #tail: string[] = [];
  readonly #headSize: number;
  readonly #tailSize: number;
  #dropped = 0;

  /**
   * @param headSize How many first lines to keep.
   * @param tailSize How many last lines to keep.
   */
  constructor(headSize = 5, tailSize = 15) {
    this.#headSize = headSize;
    this.#tailSize = tailSize;
  }

  /** Adds a line. */
  push(line: string): void {
    if (this.#head.length < this.#headSize) {
      this.#head.push(line);
      return;
    }
    this.#tail.push(line);
    if (this.#tail.length > this.#tailSize) {
      this.#tail.shift();
      this.#dropped++;
    }
  }

  /** The kept lines joined by newlines, with a marker where lines were left out. */
  toString(): string {
    const gap = this.#dropped > 0 ? [`[… ${this.#dropped} lines …]`] : [];
    return [...this.#head, ...gap, ...this.#tail].join("\n");
  }
}

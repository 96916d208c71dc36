/** Shared bits of the executor tests. */
import type { Task } from "../../src/worker/executor_pool.ts";

/** The URL of the fixture task module. */
export const TASKS = new URL("./fixtures/tasks.ts", import.meta.url).href;

/** A task of the fixture module. */
export function task(exportName: string, ...args: unknown[]): Task {
  return { module: TASKS, exportName, args };
}

/** An Int32Array over a fresh SharedArrayBuffer. */
export function shared(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * 4));
}

/** The entries `logSpan` appended to `log`. */
export function entries(log: Int32Array): number[] {
  return [...log.subarray(1, 1 + Atomics.load(log, 0))];
}

/** Resolves once `flags[index]` is set (polling, so this thread stays free). */
export async function until(flags: Int32Array, index: number): Promise<void> {
  while (Atomics.load(flags, index) === 0) {
    await new Promise((r) => setTimeout(r, 1));
  }
}

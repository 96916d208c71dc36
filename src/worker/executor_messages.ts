/**
 * The messages between an `ExecutorPool` (control thread) and its executors
 * (Web Workers running `executor_entry.ts`). One task at a time per executor;
 * buffers ride along in the transfer list (see `lend.ts`).
 *
 * @module
 */
import type { StartStop } from "../protocol/mod.ts";

/**
 * Why a task failed inside an executor.
 *
 * @example
 * ```ts
 * import type { RemoteFailureKind } from "./executor_messages.ts";
 * const kind: RemoteFailureKind = "threw";
 * ```
 */
export type RemoteFailureKind = "threw" | "import" | "export" | "unsendable";

/**
 * A failure as the executor reports it.
 *
 * @example
 * ```ts
 * import type { RemoteFailure } from "./executor_messages.ts";
 * const failure: RemoteFailure = {
 *   kind: "export",
 *   name: "TypeError",
 *   message: "module file:///t.ts has no export nope",
 *   stack: "",
 * };
 * ```
 */
export interface RemoteFailure {
  /** What went wrong. */
  kind: RemoteFailureKind;
  /** The remote error's `name` (e.g. `RangeError`). */
  name: string;
  /** The remote error's `message`, or a description for non-`threw` kinds. */
  message: string;
  /** The remote error's `stack` (empty when there was none). */
  stack: string;
}

/**
 * Control thread → executor.
 *
 * @example
 * ```ts
 * import type { ToExecutor } from "./executor_messages.ts";
 * const run: ToExecutor = {
 *   type: "run",
 *   id: 1,
 *   module: "file:///tasks.ts",
 *   exportName: "add",
 *   args: [1, 2],
 * };
 * ```
 */
export type ToExecutor =
  | {
    type: "run";
    id: number;
    module: string;
    exportName: string;
    args: unknown[];
    /** Copy the result's buffers into SharedArrayBuffers (in the executor). */
    shareResult?: boolean;
    /**
     * Shared-memory mode: arguments the executor maps itself, by index: the
     * spill file to map and deserialize in place of `args[i]`.
     */
    mapped?: Record<number, string>;
    /**
     * Shared-memory mode: write a result whose buffers hold at least
     * `spillAbove` bytes to this spill file (see `writeSpillFileSync`)
     * instead of sending it back, then free those buffers.
     */
    spillTo?: string;
    /** Least buffer bytes for `spillTo` to be used. */
    spillAbove?: number;
    /**
     * Buffers of the worker's pool among the arguments, with their ids: the
     * executor says when it has collected each (`released`), and gives a
     * result that shares memory with one a copy instead.
     */
    pooled?: [number, SharedArrayBuffer][];
    /**
     * The arguments' values of registered classes, kept encoded: the same
     * objects as inside `args` (structured clone keeps identity within a
     * message), for the executor to decode (see `codec_wire.ts`).
     */
    codecs?: object[];
  }
  | {
    /**
     * Modules to import before any task (`codecs:` on LocalCluster,
     * `--codecs` on the worker): they register codecs.
     */
    type: "codecs";
    modules: string[];
  }
  | { type: "shutdown" };

/**
 * Executor → control thread.
 *
 * @example
 * ```ts
 * import type { FromExecutor } from "./executor_messages.ts";
 * const done: FromExecutor = { type: "done", id: 1, result: 3, args: [1, 2], seconds: 0.001 };
 * ```
 */
export type FromExecutor =
  | { type: "ready" }
  | {
    type: "done";
    id: number;
    /** The result; undefined when it was written to `spillTo`. */
    result: unknown;
    args: unknown[];
    seconds: number;
    /** Bytes written to `spillTo`, when the result went there. */
    spilled?: number;
    /**
     * The result's values of registered classes, encoded: the same objects
     * as inside `result`, for the control thread to keep as `CodecValue`s.
     */
    codecs?: object[];
    /**
     * The task's phases in the executor: `deserialize` (mapped inputs),
     * `compute`, and `store` (copy into shared memory) or `disk-write`
     * (written to `spillTo`).
     */
    phases?: StartStop[];
  }
  | {
    type: "failed";
    id: number;
    failure: RemoteFailure;
    /** The lent inputs, when they could be sent back. */
    args?: unknown[];
  }
  | {
    /** The executor is going away on its own (uncaught error, `self.close()`, `Deno.exit()`). */
    type: "dying";
    reason: string;
    stack: string;
  }
  | { type: "shutdown-done" }
  | {
    /** The `codecs` modules are imported: `error` says why one is not. */
    type: "codecs-loaded";
    error: string | null;
  }
  | {
    /** Pooled buffers (ids of `run.pooled`) this executor has collected. */
    type: "released";
    ids: number[];
  };

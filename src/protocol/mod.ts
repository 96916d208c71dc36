/**
 * The cluster's wire protocol: the task and error types every role shares,
 * each message's type, and, for each role, the map from operation name to
 * request and reply ({@linkcode SchedulerOperations},
 * {@linkcode WorkerOperations}, {@linkcode WorkerControlOperations},
 * {@linkcode ClientOperations}). This folder imports no role: the
 * scheduler, the worker and the client import it.
 *
 * @example
 * ```ts
 * import type { TaskSpec, WorkerOperations } from "./mod.ts";
 * const task: TaskSpec = { key: "x", module: "file:///ops.ts", exportName: "f", args: [] };
 * const ask: WorkerOperations["get-data"]["request"] = { keys: [task.key] };
 * ```
 *
 * @module
 */
export * from "./task.ts";
export * from "./task_stream.ts";
export * from "./worker.ts";
export * from "./client.ts";
export * from "./data.ts";
export * from "./snapshot.ts";
export * from "./store_metrics.ts";
export * from "./operations.ts";
export * from "./dashboard.ts";
export * from "./version.ts";
export * from "./checks.ts";

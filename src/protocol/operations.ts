/**
 * Every operation of the cluster's wire protocol, by the role that serves
 * it: for each, what its request carries and what its reply carries
 * (`void` for a notification, which gets no reply). `RpcPeer<Remote>` and
 * the handler tables of `src/comm/rpc.ts` take these maps, so that
 * `peer.request("get-data", body)` is checked by the compiler at both ends.
 *
 * Connections:
 *
 * | who connects | to | the connector serves | the listener serves |
 * | --- | --- | --- | --- |
 * | worker | scheduler | {@linkcode WorkerControlOperations} | {@linkcode SchedulerOperations} |
 * | client | scheduler | {@linkcode ClientOperations} | {@linkcode SchedulerOperations} |
 * | worker or client | worker | nothing | {@linkcode WorkerOperations} |
 *
 * Every message is a request or a notification of `src/comm/rpc.ts`;
 * bodies are plain values, serialized in the frame layout, so `Frames`
 * inside a body travel as they are, never decoded.
 *
 * @module
 */
import type { AddData, KeyErred, KeysDone, Ok, Submit } from "./client.ts";
import type {
  DataReply,
  GetData,
  GetSlice,
  PutData,
  PutDataReply,
  Replicate,
  ReplicateReply,
  SliceReply,
} from "./data.ts";
import type { SchedulerSnapshot } from "./snapshot.ts";
import type { TaskStreamRecord, TaskStreamRequest } from "./task_stream.ts";
import type {
  AddReplica,
  CancelTask,
  ComputeBatch,
  Heartbeat,
  Keys,
  RegisterWorker,
  TaskErredMessage,
  TasksFinished,
  WhoHas,
  WorkerDescription,
} from "./worker.ts";

/**
 * What the scheduler serves, to workers and to clients.
 *
 * From workers: `register-worker` (request), then `heartbeat`,
 * `task-finished`, `task-erred` and `add-replica` (notifications).
 * From clients: `register-client`, `submit`, `add-data`, `release`, `cancel`,
 * `who-has`, `workers`, `task-stream` (requests). From anyone: `snapshot`,
 * a copy of the state machine's counts for a dashboard or a test.
 *
 * @example
 * ```ts
 * import type { SchedulerOperations } from "./operations.ts";
 * type WhoHasReply = SchedulerOperations["who-has"]["reply"]; // Record<string, string[]>
 * const reply: WhoHasReply = { "chunk-0": ["tcp://127.0.0.1:4001"] };
 * ```
 */
export interface SchedulerOperations {
  /** A worker joins; its address is its id. */
  "register-worker": { request: RegisterWorker; reply: Ok };
  /** A worker's status, memory and store figures (notification). */
  "heartbeat": { request: Heartbeat; reply: void };
  /** Results now in a worker's store (notification). */
  "task-finished": { request: TasksFinished; reply: void };
  /** A task failed on the worker (notification). */
  "task-erred": { request: TaskErredMessage; reply: void };
  /** A worker took a copy of a key from a peer (notification). */
  "add-replica": { request: AddReplica; reply: void };
  /** A client says hello: from now on it gets `task-done` and `task-erred`. */
  "register-client": { request: Record<string, never>; reply: Ok };
  /** New tasks, and the keys the client holds futures for. */
  "submit": { request: Submit; reply: Ok };
  /** The client put a key on workers itself. */
  "add-data": { request: AddData; reply: Ok };
  /** The client lets go of keys (once per future). */
  "release": { request: Keys; reply: Ok };
  /**
   * The client cancels keys: a queued task is dropped, a running one is
   * stopped; the keys, and those only they needed, are released; clients
   * wanting them and their dependents get `task-erred` with a
   * `CancelledError`.
   */
  "cancel": { request: Keys; reply: Ok };
  /** Which workers hold each key. */
  "who-has": { request: Keys; reply: WhoHas };
  /** The workers, with their last heartbeat. */
  "workers": { request: undefined; reply: WorkerDescription[] };
  /** The task stream's records, oldest first. */
  "task-stream": {
    request: TaskStreamRequest | undefined;
    reply: TaskStreamRecord[];
  };
  /** Task counts by state and each worker's tasks and keys. */
  "snapshot": { request: undefined; reply: SchedulerSnapshot };
  /** Liveness: a client pings to notice a scheduler that stopped answering. */
  "ping": { request: undefined; reply: "pong" };
}

/**
 * What a worker serves on its own connection to the scheduler: all
 * notifications, but `ping`.
 *
 * @example
 * ```ts
 * import type { WorkerControlOperations } from "./operations.ts";
 * const body: WorkerControlOperations["cancel"]["request"] = { key: "dot-0-1" };
 * ```
 */
export interface WorkerControlOperations {
  /** Tasks to run. */
  "compute": { request: ComputeBatch; reply: void };
  /** Keys to drop from the store. */
  "release": { request: Keys; reply: void };
  /** A task to stop (queued or running). */
  "cancel": { request: CancelTask; reply: void };
  /** Liveness. */
  "ping": { request: undefined; reply: "pong" };
}

/**
 * What a worker serves to peers and clients on its listening address.
 *
 * `get-data` returns frames (or, to a same-host peer in shared-memory
 * mode, spill files to hard-link; or, to a peer that takes them, large
 * spilled keys to fetch in `get-slice`s). `put-data` stores frames a
 * client sends. `replicate` makes the worker copy keys from their holders
 * (a client's replication, and the transfer benchmarks).
 *
 * @example
 * ```ts
 * import type { WorkerOperations } from "./operations.ts";
 * const ask: WorkerOperations["get-data"]["request"] = { keys: ["chunk-0"] };
 * ```
 */
export interface WorkerOperations {
  /** Frames of the keys the worker holds. */
  "get-data": { request: GetData; reply: DataReply };
  /** Bytes of a large spilled key's file. */
  "get-slice": { request: GetSlice; reply: SliceReply };
  /** Keys to hold. */
  "put-data": { request: PutData; reply: PutDataReply };
  /** Copy keys from their holders into this worker. */
  "replicate": { request: Replicate; reply: ReplicateReply };
  /** Liveness. */
  "ping": { request: undefined; reply: "pong" };
  /**
   * Always fails, saying that this address is a worker's and naming its
   * scheduler: a client connected here by mistake is told so.
   */
  "register-client": { request: Record<string, never>; reply: never };
}

/**
 * What a client serves on its connection to the scheduler: notifications
 * about the keys it wants.
 *
 * @example
 * ```ts
 * import type { ClientOperations } from "./operations.ts";
 * const done: ClientOperations["task-done"]["request"] = { keys: ["total"] };
 * ```
 */
export interface ClientOperations {
  /** Keys now in memory. */
  "task-done": { request: KeysDone; reply: void };
  /** A key failed. */
  "task-erred": { request: KeyErred; reply: void };
}

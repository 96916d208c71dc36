/**
 * Request/reply and one-way messages over a {@link Connection}, in both directions.
 *
 * Message shapes (plain objects, each sent as one message):
 *
 * | message | shape |
 * |---|---|
 * | request | `{ id, op, body }` |
 * | notification | `{ op, body }` |
 * | reply, success | `{ re: id, ok: true, value }` |
 * | reply, failure | `{ re: id, ok: false, error: { name, message, stack } }` |
 *
 * Every request runs as soon as it arrives; a slow handler does not hold up later requests, so
 * replies may arrive in any order and are matched by id. A message of any other shape is a
 * protocol violation: the connection is closed with a logged {@link ProtocolError}.
 *
 * @module
 */

import { SerializationError } from "../serialize/mod.ts";
import { formatAddress, type TcpAddress } from "./address.ts";
import type { Connection } from "./connection.ts";
import { type LogFunction, roleLog, safeLog } from "./log.ts";
import {
  ConnectionClosedError,
  ProtocolError,
  RemoteError,
  type RemoteErrorInfo,
  RequestTimeoutError,
} from "./errors.ts";

/**
 * One operation of a protocol: what its request (or notification) carries
 * and what its reply carries (`void` for a notification).
 *
 * @example
 * ```ts
 * import type { Operation } from "./rpc.ts";
 * type Add = Operation<[number, number], number>;
 * const add: Add = { request: [2, 3], reply: 5 };
 * ```
 */
export interface Operation<Request = unknown, Reply = unknown> {
  /** The request's body. */
  readonly request: Request;
  /** The reply's value. */
  readonly reply: Reply;
}

/**
 * A protocol without types: any operation name, any body, any reply. The
 * default of {@link RpcPeer}'s type parameters.
 *
 * @example
 * ```ts
 * import type { Untyped } from "./rpc.ts";
 * const anything: Untyped = { ping: { request: undefined, reply: "pong" } };
 * ```
 */
export type Untyped = Record<string, Operation>;

/**
 * The request body of operation `K` of protocol `P`.
 *
 * @example
 * ```ts
 * import type { Operation, RequestOf } from "./rpc.ts";
 * type P = { add: Operation<[number, number], number> };
 * const body: RequestOf<P, "add"> = [2, 3];
 * ```
 */
export type RequestOf<P, K extends keyof P> = P[K] extends
  { readonly request: infer R } ? R : never;

/**
 * The reply value of operation `K` of protocol `P`.
 *
 * @example
 * ```ts
 * import type { Operation, ReplyOf } from "./rpc.ts";
 * type P = { add: Operation<[number, number], number> };
 * const sum: ReplyOf<P, "add"> = 5;
 * ```
 */
export type ReplyOf<P, K extends keyof P> = P[K] extends
  { readonly reply: infer R } ? R : never;

/**
 * Serves one operation: gets the request's body and the peer it came from (to call back or
 * notify); what it returns (or resolves to) is the reply's value. What it throws becomes an
 * error reply, a {@link RemoteError} on the requesting side.
 *
 * @example
 * ```ts
 * import type { RpcHandler } from "./rpc.ts";
 * const sum: RpcHandler<number[], number> = (body) => body.reduce((a, b) => a + b, 0);
 * ```
 */
export type RpcHandler<Body = unknown, Reply = unknown, Remote = Untyped> = {
  // Method syntax: a peer serving a typed protocol is still an `RpcPeer` to
  // code that takes any peer (parameters compare both ways).
  handle(
    body: Body,
    peer: RpcPeer<Remote>,
  ): Reply | ReplyThen<Reply> | Promise<Reply | ReplyThen<Reply>>;
}["handle"];

/**
 * Handlers by operation name, one for each operation of the protocol
 * `Local` this side serves; `Remote` is what the peer serves (for calls
 * back). Only own properties count: an operation named `"toString"` is
 * unknown unless it is defined here.
 *
 * @example
 * ```ts
 * import type { Operation, RpcHandlers } from "./rpc.ts";
 * type Echo = { ping: Operation<undefined, string>; echo: Operation<string, string> };
 * const handlers: RpcHandlers<Echo> = {
 *   ping: () => "pong",
 *   echo: (body) => body,
 * };
 * ```
 */
export type RpcHandlers<Local = Untyped, Remote = Untyped> = {
  [K in keyof Local]: RpcHandler<
    RequestOf<Local, K>,
    ReplyOf<Local, K>,
    Remote
  >;
};

/**
 * The arguments of {@link RpcPeer.request} for operation `K`: the body may
 * be left out when the operation takes none.
 */
type RequestArgs<P, K extends keyof P> =
  | [body: RequestOf<P, K>, options?: RequestOptions]
  | (undefined extends RequestOf<P, K> ? [] : never);

/** The arguments of {@link RpcPeer.notify} for operation `K`. */
type NotifyArgs<P, K extends keyof P> =
  | [body: RequestOf<P, K>]
  | (undefined extends RequestOf<P, K> ? [] : never);

/**
 * Options of {@link RpcPeer}.
 *
 * @example
 * ```ts
 * import type { RpcPeerOptions } from "./rpc.ts";
 * const options: RpcPeerOptions = { handlers: { ping: () => "pong" }, log: console.warn };
 * ```
 */
export interface RpcPeerOptions<Local = Untyped, Remote = Untyped> {
  /** Operations this side serves. Default: none (every request gets an error reply). */
  handlers?: Partial<RpcHandlers<Local, Remote>>;
  /** Where one-line reports go (a throwing notification handler). Default `console.error`. */
  log?: LogFunction;
}

/**
 * Options of {@link RpcPeer.request}.
 *
 * @example
 * ```ts
 * import type { RequestOptions } from "./rpc.ts";
 * const options: RequestOptions = { timeout: 5_000, signal: AbortSignal.timeout(10_000) };
 * ```
 */
export interface RequestOptions {
  /** Stops waiting when aborted: the request rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Stops waiting after this many ms: the request rejects with {@link RequestTimeoutError}. */
  timeout?: number;
}

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  cleanup: () => void;
}

type Message = Record<string, unknown>;

/**
 * A handler's reply with something to do once it has been written out (or
 * could not be): a worker serving 64 MiB from disk keeps room reserved for
 * those bytes until the socket has taken them.
 *
 * @example
 * ```ts
 * import { ReplyThen, type RpcHandlers } from "./rpc.ts";
 * const handlers: RpcHandlers = {
 *   "get": () => new ReplyThen("the value", () => console.log("sent")),
 * };
 * ```
 */
export class ReplyThen<T = unknown> {
  /** The reply's value. */
  readonly value: T;
  /** Called once the reply has been written, or has failed to be. */
  readonly onSent: () => void;

  /** `value`, then `onSent` once it is out. */
  constructor(value: T, onSent: () => void) {
    this.value = value;
    this.onSent = onSent;
  }
}

/**
 * One end of an RPC conversation over a {@link Connection}. Both ends are alike: each can
 * serve handlers and make requests.
 *
 * The peer reads the connection for as long as it is open. When the connection closes (either
 * side, a protocol error, a lost socket), every pending request rejects with
 * {@link ConnectionClosedError} and {@link RpcPeer.closed} resolves.
 *
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 * import { RpcPeer } from "./rpc.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * listener.accept().then((conn) =>
 *   new RpcPeer(new Connection(conn), { handlers: { add: (b) => (b as number[])[0] + (b as number[])[1] } })
 * );
 * await using client = new RpcPeer(await Connection.connect(listener.addr));
 * console.log(await client.request("add", [2, 3])); // 5
 * listener.close();
 * ```
 */
export class RpcPeer<Remote = Untyped, Local = Untyped>
  implements AsyncDisposable {
  /** The connection this peer talks over. */
  readonly connection: Connection;
  /** The operations this side serves; may be changed at any time. */
  readonly handlers: Partial<RpcHandlers<Local, Remote>>;
  /**
   * Resolves once the connection has closed and every pending request has been rejected.
   * Never rejects.
   */
  readonly closed: Promise<void>;

  #log: LogFunction;
  #nextId = 1;
  #pending = new Map<unknown, Pending>();

  /**
   * Starts serving `connection`; from now on this peer reads it.
   *
   * @param connection an open connection, not read by anyone else
   * @param options handlers and logger
   */
  constructor(
    connection: Connection,
    options: RpcPeerOptions<NoInfer<Local>, NoInfer<Remote>> = {},
  ) {
    this.connection = connection;
    this.handlers = options.handlers ?? {};
    this.#log = safeLog(options.log ?? roleLog());
    this.closed = this.#run();
  }

  /** The other side's address. */
  get remoteAddress(): TcpAddress {
    return this.connection.remoteAddress;
  }

  /** Whether the connection is closed. */
  get isClosed(): boolean {
    return this.connection.isClosed;
  }

  /** Requests sent and not yet answered. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /**
   * Asks the other side to run `op` with `body` and waits for the reply.
   *
   * @param op the operation's name
   * @param body its argument (any serializable value; default `undefined`)
   * @param options abort signal and timeout (ms)
   * @returns the handler's return value, as the reply carried it
   * @throws {RemoteError} when the handler threw or the operation is unknown there
   * @throws {ConnectionClosedError} when the connection is or becomes closed first
   * @throws {RequestTimeoutError} when `timeout` expires first
   * @throws {SerializationError} when `body` cannot be serialized
   * @throws the signal's reason when `signal` aborts first
   */
  request<K extends keyof Remote & string>(
    op: K,
    ...args: RequestArgs<Remote, K>
  ): Promise<ReplyOf<Remote, K>> {
    const [body, options = {}] = args;
    if (typeof op !== "string") {
      return Promise.reject(new TypeError("op must be a string"));
    }
    const { signal, timeout } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.connection.isClosed) {
      return Promise.reject(this.#closedError(op));
    }
    if (
      timeout !== undefined && !(typeof timeout === "number" && timeout >= 0)
    ) {
      return Promise.reject(
        new RangeError(`timeout must be a number >= 0, got ${timeout}`),
      );
    }
    const id = this.#nextId++;
    return new Promise<ReplyOf<Remote, K>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => {
        this.#settle(id)?.reject(signal?.reason);
      };
      const entry: Pending = {
        op,
        resolve: resolve as (value: unknown) => void,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      this.#pending.set(id, entry);
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          this.#settle(id)?.reject(new RequestTimeoutError(op, timeout));
        }, timeout);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.connection.send({ id, op, body }).catch((error) => {
        this.#settle(id)?.reject(
          error instanceof ConnectionClosedError
            ? this.#closedError(op)
            : error,
        );
      });
    });
  }

  /**
   * Sends a one-way message: the other side runs `op` with `body` and sends nothing back
   * (errors there are logged there).
   *
   * @param op the operation's name
   * @param body its argument (any serializable value; default `undefined`)
   * @returns resolves when the message has been written
   * @throws {ConnectionClosedError} when the connection is closed
   * @throws {SerializationError} when `body` cannot be serialized
   */
  notify<K extends keyof Remote & string>(
    op: K,
    ...[body]: NotifyArgs<Remote, K>
  ): Promise<void> {
    if (typeof op !== "string") {
      return Promise.reject(new TypeError("op must be a string"));
    }
    return this.connection.send({ op, body });
  }

  /** Closes the connection; pending requests reject with {@link ConnectionClosedError}. */
  close(): void {
    this.connection.close();
  }

  /** Closes the connection and waits until pending requests have been rejected. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #run(): Promise<void> {
    try {
      for await (const message of this.connection) this.#dispatch(message);
    } catch {
      // The connection has logged why it closed.
    } finally {
      this.connection.close();
      const error = (op: string) => this.#closedError(op);
      for (const [id, entry] of [...this.#pending]) {
        this.#settle(id);
        entry.reject(error(entry.op));
      }
      await this.connection.closed;
    }
  }

  #settle(id: unknown): Pending | undefined {
    const entry = this.#pending.get(id);
    if (entry === undefined) return undefined;
    this.#pending.delete(id);
    entry.cleanup();
    return entry;
  }

  #dispatch(message: unknown): void {
    if (!isRecord(message)) {
      return this.#violation("message is not an object");
    }
    if (Object.hasOwn(message, "re")) return this.#onReply(message);
    const op = message.op;
    if (typeof op !== "string") {
      return this.#violation('message has neither "re" nor a string "op"');
    }
    if (Object.hasOwn(message, "id")) {
      const id = message.id;
      if (typeof id !== "number" && typeof id !== "string") {
        return this.#violation(
          `request "${op}" has an id that is not a number or string`,
        );
      }
      void this.#serve(id, op, message.body);
    } else {
      void this.#onNotification(op, message.body);
    }
  }

  #onReply(message: Message): void {
    const { re, ok } = message;
    if (ok !== true && ok !== false) {
      return this.#violation('reply has no boolean "ok"');
    }
    let remote: RemoteErrorInfo | undefined;
    if (ok === false) {
      const e = message.error;
      if (!isRecord(e)) {
        return this.#violation('error reply has no "error" object');
      }
      remote = {
        name: String(e.name ?? "Error"),
        message: String(e.message ?? ""),
        stack: String(e.stack ?? ""),
      };
    }
    // A reply to a request that timed out or was aborted is dropped.
    const entry = this.#settle(re);
    if (entry === undefined) return;
    if (remote === undefined) entry.resolve(message.value);
    else entry.reject(new RemoteError(entry.op, remote));
  }

  async #serve(id: number | string, op: string, body: unknown): Promise<void> {
    let reply: Message;
    let onSent: (() => void) | undefined;
    const handler = this.#handler(op);
    if (typeof handler !== "function") {
      reply = {
        re: id,
        ok: false,
        error: {
          name: "Error",
          message: `unknown operation ${JSON.stringify(op)}`,
          stack: "",
        },
      };
    } else {
      try {
        let value: unknown = await handler.call(this.handlers, body, this);
        if (value instanceof ReplyThen) {
          onSent = value.onSent;
          value = value.value;
        }
        reply = { re: id, ok: true, value };
      } catch (error) {
        reply = { re: id, ok: false, error: errorInfo(error) };
      }
    }
    try {
      if (this.connection.isClosed) return;
      await this.connection.send(reply);
    } catch (error) {
      if (!(error instanceof SerializationError)) return; // closed meanwhile
      // The handler's value cannot travel: say so instead.
      await this.connection.send({
        re: id,
        ok: false,
        error: errorInfo(error),
      }).catch(() => {});
    } finally {
      onSent?.();
    }
  }

  async #onNotification(op: string, body: unknown): Promise<void> {
    const handler = this.#handler(op);
    if (typeof handler !== "function") {
      this.#log(
        `rpc: notification for unknown operation ${
          JSON.stringify(op)
        } from ${this.#label()} ignored`,
        "warn",
      );
      return;
    }
    try {
      await handler.call(this.handlers, body, this);
    } catch (error) {
      const { name, message } = errorInfo(error);
      this.#log(
        `rpc: notification handler ${
          JSON.stringify(op)
        } from ${this.#label()} threw ${name}: ${
          message.replace(/\s*\n\s*/g, " ")
        }`,
        "error",
      );
    }
  }

  /** The handler of `op`, if this side serves it (own properties only). */
  #handler(op: string): RpcHandler<unknown, unknown, Remote> | undefined {
    const handlers: Record<string, unknown> = this.handlers;
    const handler = Object.hasOwn(handlers, op) ? handlers[op] : undefined;
    return typeof handler === "function"
      ? handler as RpcHandler<unknown, unknown, Remote>
      : undefined;
  }

  #violation(what: string): void {
    this.connection.close(new ProtocolError(`bad RPC message: ${what}`));
  }

  #closedError(op: string): ConnectionClosedError {
    const reason = this.connection.closeReason;
    return new ConnectionClosedError(
      `request ${JSON.stringify(op)}: connection with ${this.#label()} closed${
        reason === undefined ? "" : ` (${reason.name}: ${reason.message})`
      }`,
      reason === undefined ? undefined : { cause: reason },
    );
  }

  #label(): string {
    return formatAddress(this.connection.remoteAddress);
  }
}

function isRecord(x: unknown): x is Message {
  return typeof x === "object" && x !== null && !Array.isArray(x) &&
    !ArrayBuffer.isView(x) && !(x instanceof Map) && !(x instanceof Set) &&
    !(x instanceof Date) && !(x instanceof ArrayBuffer);
}

/** What an error reply says about `error`; never throws. */
function errorInfo(error: unknown): RemoteErrorInfo {
  if (error instanceof Error) {
    return {
      name: safeString(error.name, "Error"),
      message: safeString(error.message, ""),
      stack: safeString(error.stack, ""),
    };
  }
  return {
    name: "Error",
    message: safeString(error, "(unprintable)"),
    stack: "",
  };
}

function safeString(x: unknown, fallback: string): string {
  if (x === undefined) return fallback;
  try {
    return String(x);
  } catch {
    return fallback;
  }
}

/**
 * The errors of the comm layer, in one place so that callers can tell them apart:
 *
 * - {@link ProtocolError}: the peer sent bytes that are not a valid message (bad magic, wrong
 *   version, corrupt lengths, a message over the size limit, truncated at EOF, an undecodable
 *   header, a malformed RPC envelope). The connection that carried them is closed; nothing else
 *   is affected.
 * - {@link ConnectionClosedError}: the operation needs an open connection and this one is closed
 *   (by either side, or after a protocol or I/O error, which is then its `cause`).
 * - {@link RemoteError}: an RPC handler on the other side threw; carries the remote error's name,
 *   message and stack, and the operation.
 * - {@link RequestTimeoutError}: an RPC request got no reply within its `timeout`.
 * - {@link AuthenticationError}: the handshake found that the two sides do not share the same
 *   auth token (never saying whether it was wrong or missing).
 * - {@link ProtocolVersionError}: the two sides speak different protocol versions (both named).
 *
 * @module
 */

/**
 * The peer broke the wire protocol. The connection is closed when this is raised.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * const e = new ProtocolError('bad magic: not a Spillway "SPWF" message');
 * console.log(e.name, e.message);
 * ```
 */
export class ProtocolError extends Error {
  /**
   * Creates the error.
   *
   * @param message one line saying what was wrong with the bytes
   * @param options standard error options (`cause`)
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * The connection is closed: a send, receive or pending request cannot complete. When the
 * connection was closed because of an error (a {@link ProtocolError}, a reset), that error is
 * the `cause`.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "./errors.ts";
 * const e = new ConnectionClosedError("connection to 127.0.0.1:4000 is closed");
 * console.log(e instanceof ConnectionClosedError); // true
 * ```
 */
export class ConnectionClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message what could not complete, and why
   * @param options standard error options (`cause`: the error that closed the connection)
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * What an RPC error reply carries about the error thrown on the remote side.
 *
 * @example
 * ```ts
 * import type { RemoteErrorInfo } from "./errors.ts";
 * const info: RemoteErrorInfo = { name: "TypeError", message: "bad input", stack: "" };
 * ```
 */
export interface RemoteErrorInfo {
  /** The remote error's `name`, e.g. `"TypeError"`. */
  name: string;
  /** The remote error's `message`. */
  message: string;
  /** The remote error's `stack` ("" when it had none). */
  stack: string;
}

/**
 * An RPC handler on the other side threw (or the operation is unknown there). The local
 * `stack` is where the request was made; the remote one is {@link RemoteError.remoteStack}.
 *
 * @example
 * ```ts
 * import { RemoteError } from "./errors.ts";
 * const e = new RemoteError("sum", { name: "TypeError", message: "not a number", stack: "" });
 * console.log(e.op, e.remoteName, e.remoteMessage); // sum TypeError not a number
 * console.log(e.message); // "sum" failed remotely: TypeError: not a number
 * ```
 */
export class RemoteError extends Error {
  /** The operation whose handler threw. */
  readonly op: string;
  /** The remote error's `name`. */
  readonly remoteName: string;
  /** The remote error's `message`. */
  readonly remoteMessage: string;
  /** The remote error's `stack` ("" when it had none). */
  readonly remoteStack: string;

  /**
   * Creates the error.
   *
   * @param op the operation that was requested
   * @param remote the error as the remote side described it
   */
  constructor(op: string, remote: RemoteErrorInfo) {
    super(`"${op}" failed remotely: ${remote.name}: ${remote.message}`);
    this.name = "RemoteError";
    this.op = op;
    this.remoteName = remote.name;
    this.remoteMessage = remote.message;
    this.remoteStack = remote.stack;
  }
}

/**
 * An RPC request got no reply within its `timeout`. A reply that arrives later is dropped.
 *
 * @example
 * ```ts
 * import { RequestTimeoutError } from "./errors.ts";
 * const e = new RequestTimeoutError("sum", 500);
 * console.log(e.message); // "sum" got no reply within 500 ms
 * ```
 */
export class RequestTimeoutError extends Error {
  /** The operation that was requested. */
  readonly op: string;
  /** The timeout that expired, in ms. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param op the operation that was requested
   * @param timeout the timeout that expired, in ms
   */
  constructor(op: string, timeout: number) {
    super(`"${op}" got no reply within ${timeout} ms`);
    this.name = "RequestTimeoutError";
    this.op = op;
    this.timeout = timeout;
  }
}

/**
 * The handshake failed: the other side and this one do not hold the same auth token. The
 * message never says which side was wrong, nor whether a token was missing or different.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "./errors.ts";
 * const e = new AuthenticationError("authentication failed");
 * console.log(e.name); // AuthenticationError
 * ```
 */
export class AuthenticationError extends Error {
  /**
   * Creates the error.
   *
   * @param message one line, starting with "authentication failed"
   * @param options standard error options
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationError";
  }
}

/**
 * The handshake found that the other side speaks another version of the wire protocol.
 *
 * @example
 * ```ts
 * import { ProtocolVersionError } from "./errors.ts";
 * const e = new ProtocolVersionError(1, 2, "the scheduler at 127.0.0.1:8786");
 * console.log(e.message); // protocol version mismatch: the scheduler at … speaks version 2, this side speaks version 1
 * ```
 */
export class ProtocolVersionError extends Error {
  /** The version this side speaks. */
  readonly localVersion: number;
  /** The version the other side speaks. */
  readonly remoteVersion: number;

  /**
   * Creates the error.
   *
   * @param localVersion this side's protocol version
   * @param remoteVersion the other side's
   * @param other how to name the other side, e.g. `"the server at 127.0.0.1:8786"`
   */
  constructor(localVersion: number, remoteVersion: number, other: string) {
    super(
      `protocol version mismatch: ${other} speaks Spillway protocol version ${remoteVersion}, this side speaks version ${localVersion}`,
    );
    this.name = "ProtocolVersionError";
    this.localVersion = localVersion;
    this.remoteVersion = remoteVersion;
  }
}

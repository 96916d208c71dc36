/**
 * A message connection over TCP: each message is one serialized value, laid out exactly as a
 * Spillway encoding (prelude, header, 64-byte aligned buffers; `src/serialize/frames.ts`), with
 * no extra length prefix.
 *
 * Sending serializes the value without copying its binary payloads and writes the chunks in
 * ≤ 1 MiB slices through a per-connection queue ({@link MessageWriter}). Receiving reads one
 * message into one freshly allocated buffer, checked before allocation ({@link MessageReader}),
 * and deserializes it zero-copy: typed arrays in the value view the received bytes.
 *
 * A frame that is malformed or too large closes the connection with a logged one-line reason
 * and a {@link ProtocolError}; it never throws anywhere else, so it cannot take a process down.
 *
 * @module
 */

import {
  decodeFrames,
  deserialize,
  encodeFrames,
  serialize,
} from "../serialize/mod.ts";
import { formatAddress, type TcpAddress, toTcpAddress } from "./address.ts";
import { ConnectionClosedError, ProtocolError } from "./errors.ts";
import { type LogFunction, roleLog, safeLog } from "./log.ts";
import { MessageReader, type MessageReaderOptions } from "./message_reader.ts";
import { MessageWriter, type MessageWriterOptions } from "./message_writer.ts";
import { connectTls, type StreamConn, type TlsOptions } from "./tls.ts";

/**
 * Options of {@link Connection}.
 *
 * @example
 * ```ts
 * import type { ConnectionOptions } from "./connection.ts";
 * const options: ConnectionOptions = { maxMessageBytes: 256 * 2 ** 20, log: console.warn };
 * ```
 */
export interface ConnectionOptions
  extends MessageReaderOptions, MessageWriterOptions {
  /** Where one-line reports go. Default `console.error`. */
  log?: LogFunction;
  /** Disable Nagle's algorithm on TCP connections (lower latency for small messages). Default true. */
  noDelay?: boolean;
  /**
   * TLS material (PEM): `ca` verifies servers reached at `tls://` addresses, `cert` and `key`
   * are presented when a server asks for a client certificate. A server given `cert` and
   * `key` listens with TLS (see `RpcServer.listen`). Default: none.
   */
  tls?: TlsOptions;
}

/**
 * A framed message connection over a `Deno.Conn`.
 *
 * Receiving, two ways (use one at a time; calls are served in order):
 * - `for await (const message of connection)`: yields every message and ends when the stream
 *   ends cleanly (the peer closed between two messages) or {@link Connection.close} is called;
 *   it throws a {@link ProtocolError} for a malformed or oversized frame and a
 *   {@link ConnectionClosedError} (with the I/O error as `cause`) for a lost connection.
 * - {@link Connection.receive}: the next message; rejects with {@link ConnectionClosedError}
 *   once the connection has ended, with a {@link ProtocolError} for a bad frame.
 *
 * Either way, a bad frame closes the connection and logs one line saying why.
 *
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept().then((conn) => new Connection(conn));
 * await using client = await Connection.connect(listener.addr);
 * await using server = await accepted;
 * await client.send({ op: "hello", data: new Float64Array([1, 2, 3]) });
 * const message = await server.receive() as { op: string; data: Float64Array };
 * console.log(message.op, message.data); // hello Float64Array(3) [ 1, 2, 3 ]
 * listener.close();
 * ```
 */
export class Connection implements AsyncDisposable {
  /** The peer's address. */
  readonly remoteAddress: TcpAddress;
  /** This end's address. */
  readonly localAddress: TcpAddress;
  /**
   * Resolves when the connection is closed, for whatever reason (never rejects); see
   * {@link Connection.closeReason}.
   */
  readonly closed: Promise<void>;

  #conn: StreamConn;
  #reader: MessageReader;
  #writer: MessageWriter;
  #log: LogFunction;
  #label: string;
  #readQueue: Promise<unknown> = Promise.resolve();
  #isClosed = false;
  #closeReason: Error | undefined;
  #resolveClosed!: () => void;
  #messagesSent = 0;
  #messagesReceived = 0;

  /**
   * Wraps an open connection; from now on this object owns it (and closes it).
   *
   * @param conn a TCP (or TLS) connection
   * @param options size limit, allocator, write slice size, logger
   */
  constructor(conn: StreamConn, options: ConnectionOptions = {}) {
    this.#conn = conn;
    this.#reader = new MessageReader(conn, options);
    this.#writer = new MessageWriter(conn, options);
    this.#log = safeLog(options.log ?? roleLog());
    this.remoteAddress = {
      hostname: conn.remoteAddr.hostname,
      port: conn.remoteAddr.port,
    };
    this.localAddress = {
      hostname: conn.localAddr.hostname,
      port: conn.localAddr.port,
    };
    this.#label = formatAddress(this.remoteAddress);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    if (options.noDelay ?? true) {
      try {
        (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
      } catch {
        // not a TCP socket: nothing to tune
      }
    }
  }

  /**
   * Opens a TCP connection to `address`; a TLS one to a `tls://` address, verifying the
   * server against `options.tls.ca` (and presenting `options.tls.cert` and `key` if given).
   *
   * @param address `"tcp://host:port"`, `"tls://host:port"`, `"host:port"` or
   *   `{ hostname, port, tls? }`
   * @param options options of the new connection
   * @returns the open connection
   * @throws {TypeError} for a malformed address; the OS error when the connection is refused;
   *   an error naming the TLS failure when the server's certificate does not verify
   * @example
   * ```ts
   * import { Connection } from "./connection.ts";
   * await using connection = await Connection.connect("tcp://127.0.0.1:8786");
   * ```
   */
  static async connect(
    address: string | TcpAddress,
    options: ConnectionOptions = {},
  ): Promise<Connection> {
    const { hostname, port, tls } = toTcpAddress(address);
    const conn = tls === true
      ? await connectTls({ hostname, port }, options.tls)
      : await Deno.connect({ hostname, port, transport: "tcp" });
    return new Connection(conn, options);
  }

  /** Whether the connection is closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /**
   * Why the connection closed: `undefined` while open and after a clean close (either side);
   * the {@link ProtocolError} or {@link ConnectionClosedError} (wrapping the I/O error)
   * otherwise.
   */
  get closeReason(): Error | undefined {
    return this.#closeReason;
  }

  /** Bytes written to the socket. */
  get bytesSent(): number {
    return this.#writer.bytesWritten;
  }

  /** Bytes read from the socket. */
  get bytesReceived(): number {
    return this.#reader.bytesRead;
  }

  /**
   * The largest message accepted from now on, in bytes; settable (the handshake reads with a
   * small limit, then raises it). Applies from the next message read.
   */
  get maxMessageBytes(): number {
    return this.#reader.maxMessageBytes;
  }

  set maxMessageBytes(max: number) {
    this.#reader.maxMessageBytes = max;
  }

  /** Messages completely written. */
  get messagesSent(): number {
    return this.#messagesSent;
  }

  /** Messages completely received and decoded. */
  get messagesReceived(): number {
    return this.#messagesReceived;
  }

  /** Bytes of messages queued for sending and not yet written. */
  get queuedBytes(): number {
    return this.#writer.queuedBytes;
  }

  /**
   * Sends one value as one message. The value is serialized at once, but its binary payloads
   * are written from the caller's memory, not copied: leave them unchanged until the promise
   * resolves. Concurrent sends are queued and never interleave.
   *
   * @param value any serializable value (see `serialize`); a `Frames` object nested in it is
   *   just another value, so stored frames travel without being decoded
   * @returns resolves when the whole message has been written
   * @throws {SerializationError} if the value cannot be serialized (the connection stays open)
   * @throws {ConnectionClosedError} if the connection is or becomes closed
   */
  async send(value: unknown): Promise<void> {
    if (this.#isClosed) throw this.#closedError("cannot send");
    const chunks = encodeFrames(serialize(value));
    try {
      await this.#writer.write(chunks);
    } catch (error) {
      if (this.#isClosed) throw this.#closedError("send interrupted");
      const lost = new ConnectionClosedError(
        `connection with ${this.#label} lost while sending: ${describe(error)}`,
        { cause: error },
      );
      this.#fail(lost);
      throw lost;
    }
    this.#messagesSent++;
  }

  /**
   * Receives the next message.
   *
   * @returns the deserialized value; its typed arrays view one freshly allocated buffer that
   *   holds the whole message
   * @throws {ConnectionClosedError} when the connection has ended (cleanly, by `close()`, or
   *   lost; then `cause` says why)
   * @throws {ProtocolError} when the peer sent a malformed or oversized frame (the connection
   *   is then closed)
   */
  receive(): Promise<unknown> {
    const next = this.#readQueue.then(() => this.#receiveOne());
    this.#readQueue = next.catch(() => {});
    return next;
  }

  /**
   * Iterates over incoming messages until the connection ends cleanly.
   *
   * @returns an async iterator of deserialized messages
   * @throws {ProtocolError} for a malformed or oversized frame
   * @throws {ConnectionClosedError} when the connection is lost (I/O error as `cause`)
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    for (;;) {
      let message: unknown;
      try {
        message = await this.receive();
      } catch (error) {
        if (
          error instanceof ConnectionClosedError &&
          this.#closeReason === undefined
        ) {
          return;
        }
        throw error;
      }
      yield message;
    }
  }

  /**
   * Closes the connection (idempotent). Sends still queued and a receive in progress reject
   * with {@link ConnectionClosedError}; await your sends first to be sure they went out.
   *
   * @param reason when given, the connection is closed because of this error (e.g. a
   *   {@link ProtocolError} found by a layer above): one line is logged and it becomes
   *   {@link Connection.closeReason}
   */
  close(reason?: Error): void {
    if (reason === undefined) this.#shutdown(undefined);
    else this.#fail(reason);
  }

  /** Closes the connection and waits until it is closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #receiveOne(): Promise<unknown> {
    if (this.#isClosed) throw this.#closedError("cannot receive");
    let bytes: Uint8Array | null;
    try {
      bytes = await this.#reader.next();
    } catch (error) {
      if (this.#isClosed) throw this.#closedError("receive interrupted");
      if (error instanceof ProtocolError) {
        this.#fail(error);
        throw error;
      }
      if (error instanceof TypeError) {
        // a bad `allocate` option: our side's fault, but the stream is unusable all the same
        this.#fail(error);
        throw error;
      }
      const lost = new ConnectionClosedError(
        `connection with ${this.#label} lost: ${describe(error)}`,
        { cause: error },
      );
      this.#fail(lost);
      throw lost;
    }
    if (bytes === null) {
      this.#shutdown(undefined);
      throw this.#closedError("end of stream");
    }
    let value: unknown;
    try {
      // Values of user classes in a message stay encoded (CodecValue): the
      // scheduler and a worker's control thread only move them.
      value = deserialize(decodeFrames(bytes), { codecs: "keep" });
    } catch (error) {
      const bad = new ProtocolError(
        `undecodable message of ${bytes.byteLength} bytes: ${describe(error)}`,
        { cause: error },
      );
      this.#fail(bad);
      throw bad;
    }
    this.#messagesReceived++;
    return value;
  }

  /** Closes because of `error`, logging one line. */
  #fail(error: Error): void {
    if (this.#isClosed) return;
    this.#log(
      `comm: closing connection with ${this.#label}: ${error.name}: ${
        oneLine(error.message)
      }`,
      "warn",
    );
    this.#shutdown(error);
  }

  #shutdown(reason: Error | undefined): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closeReason = reason;
    try {
      this.#conn.close();
    } catch {
      // already closed by the runtime
    }
    this.#resolveClosed();
  }

  #closedError(what: string): ConnectionClosedError {
    const reason = this.#closeReason;
    return new ConnectionClosedError(
      `${what}: connection with ${this.#label} is closed${
        reason === undefined
          ? ""
          : ` (${reason.name}: ${oneLine(reason.message)})`
      }`,
      reason === undefined ? undefined : { cause: reason },
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${oneLine(error.message)}`
    : String(error);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}

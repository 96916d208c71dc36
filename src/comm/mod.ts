/**
 * Spillway's transport: framed TCP connections and RPC.
 *
 * Layers, bottom up:
 * - {@link MessageReader} / {@link MessageWriter}: one message = one Spillway encoding (the
 *   same bytes as a spill file: prelude, msgpack header, 64-byte aligned buffers), with no
 *   extra length prefix. Reading validates the prelude and the declared sizes against
 *   `maxMessageBytes` before allocating, then reads the whole message into one fresh buffer.
 *   Writing goes through a per-connection queue in ≤ 1 MiB slices, payloads never copied into
 *   a message buffer.
 * - {@link Connection}: `send(value)` / `receive()` / `for await`, byte and message counters,
 *   `close()`, `closed`. Received typed arrays view the message buffer (zero-copy). A
 *   malformed or oversized frame closes only that connection, with one logged line and a
 *   {@link ProtocolError}.
 * - {@link RpcPeer}: `request(op, body)` with ids (replies in any order), `notify(op, body)`,
 *   handlers per op, {@link RemoteError} for a handler that threw, {@link ConnectionClosedError}
 *   for requests pending when the connection closes.
 * - {@link RpcServer} and {@link connect}: listen (127.0.0.1 by default) and connect by
 *   `"tcp://host:port"`.
 *
 * Stored frames travel as they are: a value such as
 * `{ op: "data", payload: { header, buffers } }` (a `Frames` object nested in a message) is
 * serialized with the header and every buffer out of band, so frames read from disk go onto
 * the socket without being decoded, re-encoded or copied, and arrive as views of the received
 * message that the receiver can keep as `Frames` (and `deserialize` zero-copy when needed).
 *
 * @example
 * ```ts
 * import { connect, RpcServer } from "./mod.ts";
 *
 * await using server = await RpcServer.listen({
 *   handlers: {
 *     sum: (body) => (body as Float64Array).reduce((a, b) => a + b, 0),
 *   },
 * });
 * await using peer = await connect(server.url);
 * console.log(await peer.request("sum", new Float64Array([1, 2, 3]))); // 6
 * ```
 *
 * @module
 */

export {
  formatAddress,
  formatUrl,
  parseAddress,
  type TcpAddress,
  toTcpAddress,
} from "./address.ts";
export { Connection, type ConnectionOptions } from "./connection.ts";
export {
  configureLogging,
  flushLogs,
  formatLogLine,
  isLogFormat,
  isLogLevel,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFields,
  type LogFormat,
  type LogFunction,
  type LoggingSettings,
  type LogLevel,
  type LogRecord,
  LogSink,
  type LogSinkOptions,
  messageTemplate,
  roleLog,
  safeLog,
} from "./log.ts";
export {
  AuthenticationError,
  ConnectionClosedError,
  ProtocolError,
  ProtocolVersionError,
  RemoteError,
  type RemoteErrorInfo,
  RequestTimeoutError,
} from "./errors.ts";
export {
  acceptHandshake,
  type AcceptHandshakeOptions,
  checkAuthToken,
  DEFAULT_HANDSHAKE_TIMEOUT,
  HANDSHAKE_MAX_BYTES,
  type HandshakeOptions,
  type HandshakeResult,
  offerHandshake,
  randomAuthToken,
  timingSafeEqual,
} from "./handshake.ts";
export {
  type ByteSource,
  DEFAULT_MAX_MESSAGE_BYTES,
  MessageReader,
  type MessageReaderOptions,
} from "./message_reader.ts";
export {
  type ByteSink,
  MessageWriter,
  type MessageWriterOptions,
  WRITE_SLICE_BYTES,
} from "./message_writer.ts";
export {
  ReplyThen,
  type RequestOptions,
  type RpcHandler,
  type RpcHandlers,
  RpcPeer,
  type RpcPeerOptions,
} from "./rpc.ts";
export {
  connectTls,
  listenTls,
  readTlsFiles,
  requiresClientCertificates,
  servesTls,
  type StreamConn,
  type StreamListener,
  type TlsFiles,
  type TlsOptions,
} from "./tls.ts";
export {
  connect,
  type ConnectOptions,
  RpcServer,
  type RpcServerOptions,
} from "./server.ts";

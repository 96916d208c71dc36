/**
 * The listening side of RPC ({@link RpcServer}) and the connecting side ({@link connect}).
 *
 * A server accepts TCP connections and serves each as an {@link RpcPeer} with the same
 * handlers. One bad connection (garbage bytes, an oversized frame, a reset) is logged and
 * closed; the server and every other peer carry on.
 *
 * @module
 */

import { formatAddress, formatUrl, type TcpAddress } from "./address.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import {
  acceptHandshake,
  HANDSHAKE_MAX_BYTES,
  type HandshakeOptions,
  offerHandshake,
} from "./handshake.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./message_reader.ts";
import { type LogFunction, roleLog, safeLog } from "./log.ts";
import { type RpcHandlers, RpcPeer, type Untyped } from "./rpc.ts";
import {
  listenTls,
  requiresClientCertificates,
  servesTls,
  type StreamConn,
  type StreamListener,
} from "./tls.ts";

/** At most this many accepted connections may be in their handshake at once. */
const MAX_HANDSHAKING = 256;

/**
 * Options of {@link RpcServer.listen}; the connection options apply to every accepted
 * connection.
 *
 * @example
 * ```ts
 * import type { RpcServerOptions } from "./server.ts";
 * const options: RpcServerOptions = { port: 8786, handlers: { ping: () => "pong" } };
 * ```
 */
export interface RpcServerOptions<Local = Untyped, Remote = Untyped>
  extends ConnectionOptions, HandshakeOptions {
  /** Interface to bind. Default `"127.0.0.1"` (loopback only). */
  hostname?: string;
  /** Port to bind; 0 picks a free one. Default 0. */
  port?: number;
  /** Operations served to every peer (`Local`; each peer serves `Remote`). */
  handlers: RpcHandlers<Local, Remote>;
  /**
   * Called with each new peer (to register it, or to make requests back). What it throws or
   * rejects with is logged; the peer stays connected.
   */
  onPeer?: (peer: RpcPeer<Remote, Local>) => void | Promise<void>;
}

/**
 * Options of {@link connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./server.ts";
 * const options: ConnectOptions = { handlers: { ping: () => "pong" } };
 * ```
 */
export interface ConnectOptions<Local = Untyped, Remote = Untyped>
  extends ConnectionOptions, HandshakeOptions {
  /** Operations this side serves to the server (for calls back). Default: none. */
  handlers?: RpcHandlers<Local, Remote>;
}

/**
 * A TCP server whose every connection is an {@link RpcPeer} serving the same handlers.
 *
 * @example
 * ```ts
 * import { connect, RpcServer } from "./server.ts";
 *
 * await using server = await RpcServer.listen({ handlers: { ping: () => "pong" } });
 * await using client = await connect(server.url);
 * console.log(server.url); // tcp://127.0.0.1:<port>
 * console.log(await client.request("ping")); // pong
 * ```
 */
export class RpcServer<Local = Untyped, Remote = Untyped>
  implements AsyncDisposable {
  /** The bound address (with the actual port when 0 was asked for). */
  readonly address: TcpAddress;
  /**
   * The bound address as `"tcp://host:port"` (`"tls://host:port"` for a TLS server), ready
   * for {@link connect}.
   */
  readonly url: string;
  /**
   * Whether every connection must present a client certificate signed by the server's CA
   * (mutual TLS: `tls` with `cert`, `key` and `ca`). Server-only TLS proves nothing about who
   * connects: this is false then.
   */
  readonly mutualTls: boolean;

  #listener: StreamListener;
  #options: RpcServerOptions<Local, Remote>;
  #log: LogFunction;
  #peers = new Set<RpcPeer<Remote, Local>>();
  /** Connections still in their handshake (not peers yet). */
  #handshaking = new Set<Connection>();
  #closing = false;
  #acceptLoop: Promise<void>;

  private constructor(
    listener: StreamListener,
    options: RpcServerOptions<Local, Remote>,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#log = safeLog(options.log ?? roleLog());
    this.address = {
      hostname: listener.addr.hostname,
      port: listener.addr.port,
    };
    this.mutualTls = requiresClientCertificates(options.tls);
    this.url = formatUrl({ ...this.address, tls: servesTls(options.tls) });
    this.#acceptLoop = this.#accept();
  }

  /**
   * Binds and starts serving.
   *
   * @param options where to bind (default `127.0.0.1`, a free port), handlers, `onPeer`,
   *   logger and connection options; with `tls.cert` and `tls.key` the server listens with
   *   TLS (its `url` is `tls://…`), and with `tls.ca` too it requires client certificates
   *   signed by that CA (mutual TLS)
   * @returns the listening server
   * @throws the OS error when the address cannot be bound (e.g. `AddrInUse`)
   * @example
   * ```ts
   * import { RpcServer } from "./server.ts";
   * await using server = await RpcServer.listen({ handlers: { ping: () => "pong" } });
   * console.log(server.address.port > 0); // true
   * ```
   */
  static listen<Local = Untyped, Remote = Untyped>(
    options: RpcServerOptions<NoInfer<Local>, NoInfer<Remote>>,
  ): Promise<RpcServer<Local, Remote>> {
    if (servesTls(options.tls)) {
      const log = safeLog(options.log ?? roleLog());
      return listenTls(
        {
          hostname: options.hostname ?? "127.0.0.1",
          port: options.port ?? 0,
        },
        options.tls!,
        (why, from) =>
          log(
            `refused a TLS connection from ${from}: ${why} (mutual TLS: a client needs a certificate signed by this server's CA)`,
            "warn",
          ),
      ).then((listener) => new RpcServer<Local, Remote>(listener, options));
    }
    try {
      const listener = Deno.listen({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? 0,
        transport: "tcp",
      });
      return Promise.resolve(new RpcServer(listener, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The peers connected now (a live view; a peer leaves it when its connection closes). */
  get peers(): ReadonlySet<RpcPeer<Remote, Local>> {
    return this.#peers;
  }

  /**
   * Stops accepting, closes every peer (their pending requests reject) and waits until all
   * is closed. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#listener.close();
      } catch {
        // already closed
      }
      for (const peer of this.#peers) peer.close();
      for (const connection of this.#handshaking) connection.close();
    }
    await this.#acceptLoop;
    await Promise.all([...this.#peers].map((peer) => peer.closed));
  }

  /** Same as {@link RpcServer.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: StreamConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        // E.g. out of file descriptors: say so, give it a moment, keep serving.
        this.#log(
          `rpc server ${this.url}: accept failed: ${
            error instanceof Error ? `${error.name}: ${error.message}` : error
          }`,
          "error",
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      this.#adopt(conn);
    }
  }

  #adopt(conn: StreamConn): void {
    if (this.#handshaking.size >= MAX_HANDSHAKING) {
      // Many connections that never finish their handshake: refuse more
      // until some finish or time out (each holds a read buffer).
      this.#log(
        `rpc server ${this.url}: refused a connection: ${MAX_HANDSHAKING} handshakes under way`,
        "warn",
      );
      try {
        conn.close();
      } catch {
        // already closed
      }
      return;
    }
    let connection: Connection;
    try {
      // Until the handshake completes, only small messages are read.
      connection = new Connection(conn, {
        ...this.#options,
        maxMessageBytes: HANDSHAKE_MAX_BYTES,
      });
    } catch (error) {
      this.#log(
        `rpc server ${this.url}: cannot serve a connection: ${error}`,
        "warn",
      );
      try {
        conn.close();
      } catch {
        // already closed
      }
      return;
    }
    this.#handshaking.add(connection);
    acceptHandshake(connection, { ...this.#options, log: this.#log }).then(
      () => {
        this.#handshaking.delete(connection);
        if (this.#closing) connection.close();
        else this.#serve(connection);
      },
      () => {
        // Refusals were logged by the handshake, bad frames by the
        // connection; a connection that just went away is not news.
        this.#handshaking.delete(connection);
      },
    );
  }

  #serve(connection: Connection): void {
    let peer: RpcPeer<Remote, Local>;
    try {
      connection.maxMessageBytes = this.#options.maxMessageBytes ??
        DEFAULT_MAX_MESSAGE_BYTES;
      peer = new RpcPeer<Remote, Local>(connection, {
        handlers: this.#options.handlers,
        log: this.#log,
      });
    } catch (error) {
      this.#log(
        `rpc server ${this.url}: cannot serve a connection: ${error}`,
        "warn",
      );
      connection.close();
      return;
    }
    this.#peers.add(peer);
    peer.closed.then(() => this.#peers.delete(peer));
    const onPeer = this.#options.onPeer;
    if (onPeer === undefined) return;
    const report = (error: unknown): void => {
      this.#log(
        `rpc server ${this.url}: onPeer threw for ${
          formatAddress(peer.remoteAddress)
        }: ${
          error instanceof Error ? `${error.name}: ${error.message}` : error
        }`,
        "error",
      );
    };
    try {
      Promise.resolve(onPeer(peer)).catch(report);
    } catch (error) {
      report(error);
    }
  }
}

/**
 * Connects to an RPC server (or any peer serving RPC).
 *
 * @param address `"tcp://host:port"`, `"tls://host:port"`, `"host:port"` or
 *   `{ hostname, port, tls? }`
 * @param options handlers this side serves, logger, connection options (`tls`: the CA
 *   that verifies a `tls://` server, and this side's certificate for mutual TLS)
 * @returns the connected peer
 * @throws {TypeError} for a malformed address; the OS error (e.g. `ConnectionRefused`) when
 *   nobody listens there
 * @throws {AuthenticationError} when the handshake finds the two sides without the same
 *   `authToken`; {ProtocolVersionError} when they speak other `protocolVersion`s (see
 *   `handshake.ts`: every connection runs the handshake first)
 * @example
 * ```ts
 * import { connect } from "./server.ts";
 * await using scheduler = await connect("tcp://127.0.0.1:8786");
 * await scheduler.request("register", { name: "worker-1" });
 * ```
 */
export async function connect<Remote = Untyped, Local = Untyped>(
  address: string | TcpAddress,
  options: ConnectOptions<NoInfer<Local>, NoInfer<Remote>> = {},
): Promise<RpcPeer<Remote, Local>> {
  // Until the handshake completes, only small messages are read.
  const connection = await Connection.connect(address, {
    ...options,
    maxMessageBytes: HANDSHAKE_MAX_BYTES,
  });
  await offerHandshake(connection, options);
  connection.maxMessageBytes = options.maxMessageBytes ??
    DEFAULT_MAX_MESSAGE_BYTES;
  return new RpcPeer<Remote, Local>(connection, {
    handlers: options.handlers,
    log: options.log,
  });
}

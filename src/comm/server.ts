/**
 * The listening side of RPC ({@link RpcServer}) and the connecting side ({@link connect}).
 *
 * A server accepts TCP connections and serves each as an {@link RpcPeer} with the same
 * handlers. One bad connection (garbage bytes, an oversized frame, a reset) is logged and
 * closed; the server and every other peer carry on.
 *
 * @module
 */

import { formatAddress, type TcpAddress } from "./address.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { type LogFunction, roleLog, safeLog } from "./log.ts";
import { type RpcHandlers, RpcPeer, type Untyped } from "./rpc.ts";

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
  extends ConnectionOptions {
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
  extends ConnectionOptions {
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
  /** The bound address as `"tcp://host:port"`, ready for {@link connect}. */
  readonly url: string;

  #listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>;
  #options: RpcServerOptions<Local, Remote>;
  #log: LogFunction;
  #peers = new Set<RpcPeer<Remote, Local>>();
  #closing = false;
  #acceptLoop: Promise<void>;

  private constructor(
    listener: Deno.Listener<Deno.TcpConn, Deno.NetAddr>,
    options: RpcServerOptions<Local, Remote>,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#log = safeLog(options.log ?? roleLog());
    this.address = {
      hostname: listener.addr.hostname,
      port: listener.addr.port,
    };
    this.url = `tcp://${formatAddress(this.address)}`;
    this.#acceptLoop = this.#accept();
  }

  /**
   * Binds and starts serving.
   *
   * @param options where to bind (default `127.0.0.1`, a free port), handlers, `onPeer`,
   *   logger and connection options
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
      let conn: Deno.TcpConn;
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

  #adopt(conn: Deno.TcpConn): void {
    let peer: RpcPeer<Remote, Local>;
    try {
      peer = new RpcPeer<Remote, Local>(new Connection(conn, this.#options), {
        handlers: this.#options.handlers,
        log: this.#log,
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
 * @param address `"tcp://host:port"`, `"host:port"` or `{ hostname, port }`
 * @param options handlers this side serves, logger, connection options
 * @returns the connected peer
 * @throws {TypeError} for a malformed address; the OS error (e.g. `ConnectionRefused`) when
 *   nobody listens there
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
  const connection = await Connection.connect(address, options);
  return new RpcPeer<Remote, Local>(connection, {
    handlers: options.handlers,
    log: options.log,
  });
}

/**
 * Connections to workers, kept open and shared: one per address, made on
 * first use and forgotten when it closes or fails (the next use connects
 * again). The worker (fetching inputs from peers) and the client
 * (fetching results) both keep theirs here.
 *
 * @module
 */
import { connect } from "../comm/server.ts";
import type { RpcPeer } from "../comm/rpc.ts";
import type { ConnectionOptions } from "../comm/connection.ts";
import type { HandshakeOptions } from "../comm/handshake.ts";
import type { WorkerOperations } from "../protocol/operations.ts";
import { PROTOCOL_VERSION } from "../protocol/version.ts";

/** A connection to a worker, typed by what workers serve. */
export type WorkerPeer = RpcPeer<WorkerOperations>;

/**
 * Connections to workers by address.
 *
 * @example
 * ```ts
 * import { WorkerPeers } from "./peers.ts";
 * const peers = new WorkerPeers({ log: console.warn });
 * // const peer = await peers.get("tcp://127.0.0.1:4001");
 * // await peer.request("ping"); // "pong"
 * peers.close();
 * ```
 */
export class WorkerPeers {
  readonly #options: ConnectionOptions & HandshakeOptions;
  readonly #peers = new Map<string, Promise<WorkerPeer>>();

  /**
   * @param options Options of every connection (the buffer allocator of
   *   messages received, the logger, the auth token; the protocol version
   *   is always `PROTOCOL_VERSION`).
   */
  constructor(options: ConnectionOptions & HandshakeOptions = {}) {
    this.#options = { ...options, protocolVersion: PROTOCOL_VERSION };
  }

  /** The connection to `address`, connecting if there is none. */
  get(address: string): Promise<WorkerPeer> {
    let peer = this.#peers.get(address);
    if (peer === undefined) {
      const connecting = connect<WorkerOperations>(address, this.#options);
      const forget = () => {
        if (this.#peers.get(address) === connecting) {
          this.#peers.delete(address);
        }
      };
      connecting.then((p) => p.closed.then(forget), forget);
      this.#peers.set(address, connecting);
      peer = connecting;
    }
    return peer;
  }

  /**
   * Forgets the connection to `address` after a failure: the next `get`
   * connects again. Requests still in flight on it go on.
   */
  drop(address: string): void {
    this.#peers.delete(address);
  }

  /** Closes every connection. */
  close(): void {
    for (const peer of this.#peers.values()) {
      peer.then((p) => p.close(), () => {});
    }
    this.#peers.clear();
  }
}

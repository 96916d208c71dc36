/**
 * TLS for Spillway's connections: the options (PEM strings), a listener that
 * serves TLS, and a connector for `tls://` addresses.
 *
 * What Deno 2.9.6 gives (see `docs/platform.md`, "TLS and mutual TLS"):
 * - `Deno.connectTls` verifies the server against `caCerts` and presents a
 *   client certificate (`cert`, `key`) when asked;
 * - `Deno.listenTls` serves a certificate but never asks for, nor checks, a
 *   client's: a client with no certificate, or one from another CA, gets in;
 * - `node:tls`'s `createServer({ requestCert: true, rejectUnauthorized:
 *   true, ca })` does check it: a client with no certificate or a
 *   certificate from another CA is refused during the handshake.
 *
 * So a server given `ca` besides `cert` and `key` listens through `node:tls`
 * and requires client certificates signed by `ca` (mutual TLS); a server
 * given only `cert` and `key` listens with `Deno.listenTls` (faster) and
 * proves only itself. Every client connects with `Deno.connectTls`.
 *
 * @module
 */

import tls from "node:tls";
import type { Buffer } from "node:buffer";
import type { TcpAddress } from "./address.ts";

/**
 * TLS material, as PEM text (not paths): `ca` verifies the other side,
 * `cert` and `key` are this side's certificate (a server's, or a client's
 * for mutual TLS).
 *
 * A server needs `cert` and `key`; with `ca` too it requires clients to
 * present a certificate signed by `ca` (mutual TLS). A client needs `ca`
 * unless the server's certificate chains to the system's roots, and `cert`
 * and `key` when the server requires a client certificate. One certificate
 * can be both (extended key usages `serverAuth` and `clientAuth`), as each
 * scheduler and worker is a server and a client.
 *
 * @example
 * ```ts
 * import type { TlsOptions } from "./tls.ts";
 * const tls: TlsOptions = {
 *   ca: Deno.readTextFileSync("/etc/spillway/ca.pem"),
 *   cert: Deno.readTextFileSync("/etc/spillway/node.pem"),
 *   key: Deno.readTextFileSync("/etc/spillway/node.key"),
 * };
 * ```
 */
export interface TlsOptions {
  /** CA certificate(s), PEM: verifies the server (and, on a server, its clients). */
  ca?: string;
  /** This side's certificate chain, PEM. */
  cert?: string;
  /** This side's private key, PEM. */
  key?: string;
}

/**
 * Paths of PEM files, as `--tls-ca`, `--tls-cert` and `--tls-key` give them.
 *
 * @example
 * ```ts
 * import type { TlsFiles } from "./tls.ts";
 * const files: TlsFiles = { ca: "ca.pem", cert: "node.pem", key: "node.key" };
 * ```
 */
export interface TlsFiles {
  /** `--tls-ca`. */
  ca?: string;
  /** `--tls-cert`. */
  cert?: string;
  /** `--tls-key`. */
  key?: string;
}

/**
 * Reads the PEM files named by `files`.
 *
 * @param files paths; an absent one stays absent
 * @returns their text
 * @throws {Error} naming the flag and the path when a file cannot be read
 *   or holds no PEM block
 * @example
 * ```ts
 * import { readTlsFiles } from "./tls.ts";
 * const tls = await readTlsFiles({ ca: "ca.pem" });
 * console.log(tls.ca?.startsWith("-----BEGIN")); // true
 * ```
 */
export async function readTlsFiles(files: TlsFiles): Promise<TlsOptions> {
  const out: TlsOptions = {};
  for (const part of ["ca", "cert", "key"] as const) {
    const path = files[part];
    if (path === undefined) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new Error(
        `--tls-${part} ${path}: cannot read it: ${(error as Error).message}`,
      );
    }
    if (!text.includes("-----BEGIN ")) {
      throw new Error(`--tls-${part} ${path}: no PEM block in it`);
    }
    out[part] = text;
  }
  return out;
}

/**
 * Whether a server with these options listens with TLS: it has both a
 * certificate and a key.
 *
 * @param options the server's TLS options, if any
 * @returns true for a TLS server
 * @example
 * ```ts
 * import { servesTls } from "./tls.ts";
 * console.log(servesTls({ ca: "…" })); // false: no certificate to serve
 * ```
 */
export function servesTls(options: TlsOptions | undefined): boolean {
  return options?.cert !== undefined && options.key !== undefined;
}

/**
 * Whether a server with these options requires client certificates signed
 * by its CA (mutual TLS): it serves TLS and has a CA.
 *
 * @param options the server's TLS options, if any
 * @returns true when mutual TLS is in force
 * @example
 * ```ts
 * import { requiresClientCertificates } from "./tls.ts";
 * console.log(requiresClientCertificates({ cert: "…", key: "…" })); // false
 * console.log(requiresClientCertificates({ cert: "…", key: "…", ca: "…" })); // true
 * ```
 */
export function requiresClientCertificates(
  options: TlsOptions | undefined,
): boolean {
  return servesTls(options) && options?.ca !== undefined;
}

/**
 * The byte stream a {@link Connection} runs over: a `Deno.Conn` (TCP or
 * TLS), or a `node:tls` socket wrapped to look like one.
 *
 * @example
 * ```ts
 * import type { StreamConn } from "./tls.ts";
 * const conn: StreamConn = await Deno.connect({ hostname: "127.0.0.1", port: 8786 });
 * ```
 */
export interface StreamConn {
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr;
  /** Reads up to `p.byteLength` bytes; `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; the number written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the stream. */
  close(): void;
}

/**
 * What accepts connections: a `Deno.Listener`, or a `node:tls` server
 * wrapped to look like one.
 *
 * @example
 * ```ts
 * import { listenTls } from "./tls.ts";
 * declare const cert: string, key: string;
 * const listener = await listenTls({ hostname: "127.0.0.1", port: 0 }, { cert, key });
 * listener.close();
 * ```
 */
export interface StreamListener {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The next connection; rejects with `Deno.errors.BadResource` once closed. */
  accept(): Promise<StreamConn>;
  /** Stops listening (idempotent). */
  close(): void;
}

/**
 * Listens with TLS on `address`: through `Deno.listenTls` when `options`
 * has no `ca`, through `node:tls` requiring client certificates signed by
 * `ca` when it has one.
 *
 * @param address where to bind (port 0: a free one)
 * @param options `cert` and `key` (required), `ca` for mutual TLS
 * @param onRefused called with each client refused during the handshake
 *   (mutual TLS only: no certificate, or one not signed by `ca`)
 * @returns the listener; its `accept` yields connections whose handshake
 *   has completed (mutual TLS) or is completed on first read
 * @throws {TypeError} without `cert` and `key`; the OS error when the
 *   address cannot be bound
 * @example
 * ```ts
 * import { listenTls } from "./tls.ts";
 * declare const cert: string, key: string, ca: string;
 * const listener = await listenTls({ hostname: "127.0.0.1", port: 0 }, { cert, key, ca });
 * console.log(listener.addr.port > 0); // true
 * listener.close();
 * ```
 */
export async function listenTls(
  address: TcpAddress,
  options: TlsOptions,
  onRefused: (why: string, from: string) => void = () => {},
): Promise<StreamListener> {
  if (options.cert === undefined || options.key === undefined) {
    throw new TypeError("a TLS server needs a certificate and a key");
  }
  if (options.ca === undefined) {
    return Deno.listenTls({
      hostname: address.hostname,
      port: address.port,
      transport: "tcp",
      cert: options.cert,
      key: options.key,
    });
  }
  const listener = new NodeTlsListener(address, options, onRefused);
  await listener.bind(address);
  return listener;
}

/**
 * Connects with TLS, verifying the server against `options.ca` (the
 * system's roots without it) and presenting `cert` and `key` when given.
 *
 * @param address the server
 * @param options `ca`, and `cert` and `key` for mutual TLS
 * @returns the connection (its handshake completes on first use)
 * @throws the OS error when nobody listens there
 * @example
 * ```ts
 * import { connectTls } from "./tls.ts";
 * declare const ca: string;
 * const conn = await connectTls({ hostname: "127.0.0.1", port: 8786 }, { ca });
 * conn.close();
 * ```
 */
export async function connectTls(
  address: TcpAddress,
  options: TlsOptions = {},
): Promise<StreamConn> {
  const conn = await Deno.connectTls({
    hostname: address.hostname,
    port: address.port,
    ...(options.ca !== undefined ? { caCerts: [options.ca] } : {}),
    ...(options.cert !== undefined && options.key !== undefined
      ? { cert: options.cert, key: options.key }
      : {}),
  });
  try {
    // Fail here, naming the cause, when the server's certificate does not
    // verify (rather than at the first message).
    await conn.handshake();
  } catch (error) {
    conn.close();
    throw new Error(
      `TLS handshake with ${address.hostname}:${address.port} failed: ${
        (error as Error).message
      }${
        /UnknownIssuer|certificate/i.test((error as Error).message)
          ? " (is --tls-ca / tls.ca the CA that signed the server's certificate?)"
          : ""
      }`,
      { cause: error },
    );
  }
  return conn;
}

/** A `node:tls` server requiring client certificates, as a {@link StreamListener}. */
class NodeTlsListener implements StreamListener {
  addr: Deno.NetAddr;
  #server: tls.Server;
  #ready: NodeTlsConn[] = [];
  #waiting: {
    resolve: (conn: StreamConn) => void;
    reject: (error: Error) => void;
  }[] = [];
  #closed = false;

  constructor(
    address: TcpAddress,
    options: TlsOptions,
    onRefused: (why: string, from: string) => void,
  ) {
    this.#server = tls.createServer({
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      requestCert: true,
      rejectUnauthorized: true,
    }, (socket) => {
      if (!socket.authorized) {
        // rejectUnauthorized refuses these during the handshake; kept as a
        // second lock.
        onRefused(
          String(socket.authorizationError),
          `${socket.remoteAddress}:${socket.remotePort}`,
        );
        socket.destroy();
        return;
      }
      const conn = new NodeTlsConn(socket, this.addr);
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) waiter.resolve(conn);
      else this.#ready.push(conn);
    });
    this.#server.on("tlsClientError", (error, socket) => {
      onRefused(
        error.message,
        `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`,
      );
    });
    this.addr = { transport: "tcp", hostname: address.hostname, port: 0 };
  }

  /** Binds; resolves once listening, rejects with the bind error. */
  bind(address: TcpAddress): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      this.#server.once("error", failed);
      this.#server.listen(address.port, address.hostname, () => {
        this.#server.off("error", failed);
        const bound = this.#server.address();
        if (bound !== null && typeof bound !== "string") {
          this.addr = {
            transport: "tcp",
            hostname: bound.address,
            port: bound.port,
          };
        }
        resolve();
      });
    });
  }

  accept(): Promise<StreamConn> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("listener closed"));
    }
    const conn = this.#ready.shift();
    if (conn !== undefined) return Promise.resolve(conn);
    return new Promise((resolve, reject) =>
      this.#waiting.push({ resolve, reject })
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const conn of this.#ready) conn.close();
    this.#ready = [];
    for (const waiter of this.#waiting) {
      waiter.reject(new Deno.errors.BadResource("listener closed"));
    }
    this.#waiting = [];
  }
}

/** Bytes buffered from a socket before it is paused. */
const HIGH_WATER = 4 * 2 ** 20;

/** A `node:tls` socket as a {@link StreamConn}: pull reads, awaited writes. */
class NodeTlsConn implements StreamConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket, local: Deno.NetAddr) {
    this.#socket = socket;
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    this.localAddr = local;
    socket.setNoDelay(true);
    socket.on("data", (data: Buffer) => {
      this.#chunks.push(data);
      this.#buffered += data.byteLength;
      if (this.#buffered >= HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#notify();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      if (this.#socket.isPaused()) this.#socket.resume();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    let n = 0;
    while (n < p.byteLength && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.byteLength, p.byteLength - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= n;
    if (this.#buffered < HIGH_WATER && this.#socket.isPaused()) {
      this.#socket.resume();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BadResource("socket closed"));
    }
    // Resolves once the socket is done with `p` (the caller may reuse it).
    return new Promise((resolve, reject) => {
      this.#socket.write(p, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(p.byteLength);
      });
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * Shared by the comm tests: connected pairs over real TCP on 127.0.0.1, a log collector, and
 * polling for a condition.
 */
import { Connection, type ConnectionOptions } from "../../src/comm/mod.ts";

/** The concatenation of `chunks` in one fresh buffer. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A log function that keeps its lines. */
export interface Log {
  (line: string): void;
  lines: string[];
}

/** A log function that records lines (and never prints). */
export function collectLog(): Log {
  const lines: string[] = [];
  const log = ((line: string) => {
    lines.push(line);
  }) as Log;
  log.lines = lines;
  return log;
}

/** Two Connections joined over loopback TCP. */
export interface ConnectionPair extends AsyncDisposable {
  client: Connection;
  server: Connection;
}

/** A client/server pair of Connections over a fresh loopback listener. */
export async function connectionPair(
  options: { client?: ConnectionOptions; server?: ConnectionOptions } = {},
): Promise<ConnectionPair> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Connection.connect(listener.addr, options.client);
  const server = new Connection(await accepted, options.server);
  listener.close();
  return {
    client,
    server,
    async [Symbol.asyncDispose]() {
      client.close();
      server.close();
      await Promise.all([client.closed, server.closed]);
    },
  };
}

/** A raw TCP client joined to a server-side Connection (for writing arbitrary bytes). */
export interface RawPair extends AsyncDisposable {
  raw: Deno.TcpConn;
  server: Connection;
}

/** A raw client socket and the Connection that serves it. */
export async function rawPair(
  options: ConnectionOptions = {},
): Promise<RawPair> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const raw = await Deno.connect({
    hostname: listener.addr.hostname,
    port: listener.addr.port,
  });
  const server = new Connection(await accepted, options);
  listener.close();
  return {
    raw,
    server,
    async [Symbol.asyncDispose]() {
      server.close();
      try {
        raw.close();
      } catch {
        // already closed
      }
      await server.closed;
    },
  };
}

/** Writes all of `bytes` to `conn`. */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.byteLength) at += await conn.write(bytes.subarray(at));
}

/** Polls `condition` every 5 ms until it holds; throws after `ms`. */
export async function until(
  condition: () => boolean,
  what: string,
  ms = 5_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
} {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

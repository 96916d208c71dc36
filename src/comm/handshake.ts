/**
 * The handshake every connection runs before any other message: the two sides exchange their
 * protocol versions and, when an auth token is configured, prove to each other that they hold
 * it, without it ever crossing the wire.
 *
 * The exchange (each line one message, the connecting side first):
 *
 * | from      | message                                                                      |
 * | --------- | ---------------------------------------------------------------------------- |
 * | connector | `{ handshake: "spillway", version, nonce }`                                  |
 * | acceptor  | `{ handshake: "spillway", version, nonce, auth }`                            |
 * | connector | `{ proof }` (null without a token)                                           |
 * | acceptor  | `{ welcome: true, proof }`, or `{ refused: "authentication failed" }`, close |
 *
 * Each `nonce` is 32 fresh random bytes. A proof is HMAC-SHA256 keyed by the token over a label
 * naming the direction and the version, the connector's nonce and the acceptor's nonce: the
 * acceptor's proof cannot be replayed as the connector's, and neither can be replayed on
 * another connection. Proofs are compared in constant time. The connector proves first, so
 * that the acceptor sees (and logs) every wrong or missing token; then the acceptor proves
 * itself in its welcome, and a connector with a token refuses an acceptor that cannot. A side
 * with a token refuses a side without one, and the other way round; the message says
 * "authentication failed" and never which part was wrong. Another protocol version is refused,
 * naming both.
 *
 * Until the handshake completes, a connection may send only messages of
 * {@link HANDSHAKE_MAX_BYTES} (checked from the prelude, before anything is allocated), and
 * must complete within the handshake timeout.
 *
 * The token authenticates; it does not encrypt, nor bind the handshake to the connection: on a
 * network where someone may tamper with traffic, use TLS as well.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import {
  AuthenticationError,
  ConnectionClosedError,
  ProtocolError,
  ProtocolVersionError,
} from "./errors.ts";
import { formatAddress } from "./address.ts";
import { PROTOCOL_VERSION } from "../protocol/version.ts";
import type { LogFunction } from "./log.ts";

/**
 * The largest message accepted before the handshake completes: 4 KiB.
 *
 * @example
 * ```ts
 * import { HANDSHAKE_MAX_BYTES } from "./handshake.ts";
 * console.log(HANDSHAKE_MAX_BYTES); // 4096
 * ```
 */
export const HANDSHAKE_MAX_BYTES: number = 4096;

/**
 * How long a handshake may take by default, ms.
 *
 * @example
 * ```ts
 * import { DEFAULT_HANDSHAKE_TIMEOUT } from "./handshake.ts";
 * console.log(DEFAULT_HANDSHAKE_TIMEOUT); // 10000
 * ```
 */
export const DEFAULT_HANDSHAKE_TIMEOUT: number = 10_000;

/** The message every client sees for a failed authentication, whoever was wrong. */
const AUTH_FAILED =
  "authentication failed (both sides need the same auth token: --auth-token, SPILLWAY_AUTH_TOKEN, --auth-token-file, or the authToken option)";

const NONCE_BYTES = 32;
const PROOF_BYTES = 32;

/**
 * How a side runs the handshake.
 *
 * @example
 * ```ts
 * import type { HandshakeOptions } from "./handshake.ts";
 * const options: HandshakeOptions = { authToken: "a long random secret", protocolVersion: 1 };
 * ```
 */
export interface HandshakeOptions {
  /**
   * The shared secret both sides must hold; null or absent for none (then only the versions
   * are checked, and a side that has a token refuses this one).
   */
  authToken?: string | null;
  /**
   * The protocol version this side speaks. Default `PROTOCOL_VERSION` (from
   * `src/protocol/version.ts`), what every role speaks.
   */
  protocolVersion?: number;
  /** How long (ms) the handshake may take before the connection is closed. Default 10 000. */
  handshakeTimeout?: number;
}

/**
 * What a completed handshake established.
 *
 * @example
 * ```ts
 * import type { HandshakeResult } from "./handshake.ts";
 * const result: HandshakeResult = { version: 1, authenticated: true };
 * ```
 */
export interface HandshakeResult {
  /** The protocol version both sides speak. */
  version: number;
  /** Whether the two sides proved a shared token to each other. */
  authenticated: boolean;
}

/**
 * Checks an auth token given to a role or a client.
 *
 * @param token the token, or null/undefined for none
 * @returns the token, or null for none
 * @throws {TypeError} for a token that is not a non-empty string
 * @example
 * ```ts
 * import { checkAuthToken } from "./handshake.ts";
 * console.log(checkAuthToken(undefined)); // null
 * ```
 */
export function checkAuthToken(token: unknown): string | null {
  if (token === undefined || token === null) return null;
  if (typeof token !== "string" || token === "") {
    throw new TypeError("authToken must be a non-empty string (or null)");
  }
  return token;
}

/**
 * A fresh random token: 32 random bytes as 64 hexadecimal digits.
 *
 * @returns the token
 * @example
 * ```ts
 * import { randomAuthToken } from "./handshake.ts";
 * console.log(randomAuthToken().length); // 64
 * ```
 */
export function randomAuthToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(token: string): Promise<CryptoKey> {
  let key = keys.get(token);
  if (key === undefined) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(token),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    keys.set(token, key);
  }
  return key;
}

/**
 * The proof of one direction: HMAC-SHA256(token, label ‖ 0 ‖ connector's nonce ‖ acceptor's
 * nonce).
 */
async function proof(
  token: string,
  direction: "acceptor" | "connector",
  version: number,
  connectorNonce: Uint8Array,
  acceptorNonce: Uint8Array,
): Promise<Uint8Array> {
  const label = new TextEncoder().encode(
    `spillway handshake v${version} ${direction}`,
  );
  const data = new Uint8Array(label.byteLength + 1 + 2 * NONCE_BYTES);
  data.set(label, 0);
  data.set(connectorNonce, label.byteLength + 1);
  data.set(acceptorNonce, label.byteLength + 1 + NONCE_BYTES);
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(token), data);
  return new Uint8Array(mac);
}

/**
 * Compares two byte strings in time that depends only on their lengths.
 *
 * @param a one
 * @param b the other
 * @returns whether they are equal
 * @example
 * ```ts
 * import { timingSafeEqual } from "./handshake.ts";
 * console.log(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))); // true
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength === length;
}

function isVersion(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Runs `body` with a deadline: past it, the connection is closed with a logged reason. */
async function withDeadline<T>(
  connection: Connection,
  timeout: number,
  what: string,
  body: () => Promise<T>,
): Promise<T> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    connection.close(
      new ProtocolError(`${what} not completed within ${timeout} ms`),
    );
  }, timeout);
  try {
    return await body();
  } catch (error) {
    if (expired) {
      throw new ConnectionClosedError(
        `${what} not completed within ${timeout} ms`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function timeoutOf(options: HandshakeOptions): number {
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!(timeout > 0) || !Number.isFinite(timeout)) {
    throw new RangeError(
      `handshakeTimeout must be a positive number of ms, got ${timeout}`,
    );
  }
  return timeout;
}

/**
 * The connecting side's handshake, on a connection just opened. The connection should read
 * with a limit of {@link HANDSHAKE_MAX_BYTES} until this resolves (raise it afterwards).
 *
 * @param connection the new connection (closed when the handshake fails)
 * @param options this side's token, version and timeout
 * @returns what was established
 * @throws {AuthenticationError} when the two sides do not share the token
 * @throws {ProtocolVersionError} when the other side speaks another version
 * @throws {ProtocolError} when the other side does not run the handshake
 * @throws {ConnectionClosedError} when the connection closes or the handshake times out
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 * import { HANDSHAKE_MAX_BYTES, offerHandshake } from "./handshake.ts";
 * const connection = await Connection.connect("tcp://127.0.0.1:8786", {
 *   maxMessageBytes: HANDSHAKE_MAX_BYTES,
 * });
 * await offerHandshake(connection, { authToken: "secret", protocolVersion: 1 });
 * connection.maxMessageBytes = 2 ** 31;
 * ```
 */
export async function offerHandshake(
  connection: Connection,
  options: HandshakeOptions = {},
): Promise<HandshakeResult> {
  const token = checkAuthToken(options.authToken);
  const version = options.protocolVersion ?? PROTOCOL_VERSION;
  const other = `the server at ${formatAddress(connection.remoteAddress)}`;
  try {
    return await withDeadline(
      connection,
      timeoutOf(options),
      `the handshake with ${other}`,
      async () => {
        const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
        await connection.send({ handshake: "spillway", version, nonce });
        let hello: unknown;
        try {
          hello = await connection.receive();
        } catch (error) {
          if (
            error instanceof ConnectionClosedError &&
            !(error.cause instanceof ProtocolError)
          ) {
            throw new ConnectionClosedError(
              `${other} closed the connection during the handshake (is it a Spillway scheduler or worker?)`,
              { cause: error },
            );
          }
          throw error;
        }
        if (
          !isRecord(hello) || hello.handshake !== "spillway" ||
          !isVersion(hello.version)
        ) {
          throw new ProtocolError(
            `${other} did not answer the handshake: not a Spillway scheduler or worker of this version`,
          );
        }
        if (hello.version !== version) {
          throw new ProtocolVersionError(version, hello.version, other);
        }
        if (!isBytes(hello.nonce, NONCE_BYTES)) {
          throw new ProtocolError(`${other} sent a malformed handshake`);
        }
        const serverNonce = hello.nonce;
        if (token !== null && hello.auth !== true) {
          // A server without a token cannot prove itself: nothing to send it.
          throw new AuthenticationError(AUTH_FAILED);
        }
        // Without a token, nothing to prove; a server that wants a proof
        // refuses below.
        await connection.send({
          proof: token === null
            ? null
            : await proof(token, "connector", version, nonce, serverNonce),
        });
        let verdict: unknown;
        try {
          verdict = await connection.receive();
        } catch (error) {
          if (error instanceof ConnectionClosedError) {
            // A server that refuses says so first; one that just closes refused too.
            throw new AuthenticationError(AUTH_FAILED, { cause: error });
          }
          throw error;
        }
        if (isRecord(verdict) && verdict.welcome === true) {
          if (token !== null) {
            const expected = await proof(
              token,
              "acceptor",
              version,
              nonce,
              serverNonce,
            );
            if (
              !isBytes(verdict.proof, PROOF_BYTES) ||
              !timingSafeEqual(expected, verdict.proof)
            ) {
              throw new AuthenticationError(AUTH_FAILED);
            }
          }
          return { version, authenticated: token !== null };
        }
        if (isRecord(verdict) && verdict.refused !== undefined) {
          throw new AuthenticationError(AUTH_FAILED);
        }
        throw new ProtocolError(`${other} sent a malformed handshake`);
      },
    );
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * Options of {@link acceptHandshake}.
 *
 * @example
 * ```ts
 * import type { AcceptHandshakeOptions } from "./handshake.ts";
 * const options: AcceptHandshakeOptions = { authToken: "secret", log: console.warn };
 * ```
 */
export interface AcceptHandshakeOptions extends HandshakeOptions {
  /** Where refusals are reported (one warn line each; the process's log rate-limits them). */
  log?: LogFunction;
}

/**
 * The accepting side's handshake, on a connection just accepted. The connection should read
 * with a limit of {@link HANDSHAKE_MAX_BYTES} until this resolves (raise it afterwards).
 * A refusal (wrong or missing token, another version) is logged as one warn line.
 *
 * @param connection the accepted connection (closed when the handshake fails)
 * @param options this side's token, version, timeout and logger
 * @returns what was established
 * @throws {AuthenticationError} when the two sides do not share the token
 * @throws {ProtocolVersionError} when the other side speaks another version
 * @throws {ProtocolError} when the other side sent something else
 * @throws {ConnectionClosedError} when the connection closes or the handshake times out
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 * import { acceptHandshake, HANDSHAKE_MAX_BYTES } from "./handshake.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const connection = new Connection(await listener.accept(), {
 *   maxMessageBytes: HANDSHAKE_MAX_BYTES,
 * });
 * await acceptHandshake(connection, { authToken: "secret", protocolVersion: 1 });
 * ```
 */
export async function acceptHandshake(
  connection: Connection,
  options: AcceptHandshakeOptions = {},
): Promise<HandshakeResult> {
  const token = checkAuthToken(options.authToken);
  const version = options.protocolVersion ?? PROTOCOL_VERSION;
  const from = formatAddress(connection.remoteAddress);
  const refuse = (why: string): void => {
    options.log?.(`refused a connection from ${from}: ${why}`, "warn");
  };
  try {
    return await withDeadline(
      connection,
      timeoutOf(options),
      `the handshake with ${from}`,
      async () => {
        const hello = await connection.receive();
        if (
          !isRecord(hello) || hello.handshake !== "spillway" ||
          !isVersion(hello.version)
        ) {
          throw new ProtocolError(
            "expected a Spillway handshake before any other message",
          );
        }
        const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
        if (hello.version !== version) {
          // Said first, so that the other side can name both versions.
          await connection.send({
            handshake: "spillway",
            version,
            nonce,
            auth: token !== null,
          });
          const error = new ProtocolVersionError(
            version,
            hello.version,
            `the other side (${from})`,
          );
          refuse(error.message);
          throw error;
        }
        if (!isBytes(hello.nonce, NONCE_BYTES)) {
          throw new ProtocolError("malformed handshake: no 32-byte nonce");
        }
        const clientNonce = hello.nonce;
        await connection.send({
          handshake: "spillway",
          version,
          nonce,
          auth: token !== null,
        });
        const reply = await connection.receive();
        if (!isRecord(reply) || !("proof" in reply)) {
          throw new ProtocolError("malformed handshake: expected a proof");
        }
        if (token !== null) {
          const expected = await proof(
            token,
            "connector",
            version,
            clientNonce,
            nonce,
          );
          const given = isBytes(reply.proof, PROOF_BYTES)
            ? reply.proof
            : new Uint8Array(PROOF_BYTES);
          // Compared even when no proof came, so that both cases take the same time.
          const valid = timingSafeEqual(expected, given) &&
            reply.proof !== null;
          if (!valid) {
            refuse("authentication failed");
            await connection.send({ refused: "authentication failed" })
              .catch(() => {});
            throw new AuthenticationError("authentication failed");
          }
        }
        await connection.send({
          welcome: true,
          proof: token === null
            ? null
            : await proof(token, "acceptor", version, clientNonce, nonce),
        });
        return { version, authenticated: token !== null };
      },
    );
  } catch (error) {
    connection.close();
    throw error;
  }
}

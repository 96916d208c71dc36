/**
 * TCP addresses: parsing `"tcp://host:port"` / `"tls://host:port"` / `"host:port"` and
 * formatting them back.
 *
 * @module
 */

/**
 * A TCP endpoint.
 *
 * @example
 * ```ts
 * import type { TcpAddress } from "./address.ts";
 * const address: TcpAddress = { hostname: "127.0.0.1", port: 8786 };
 * ```
 */
export interface TcpAddress {
  /** Host name or IP address (IPv6 without brackets). */
  hostname: string;
  /** Port number, 0–65535. */
  port: number;
  /** A `tls://` address: connect with TLS. Absent (or false) for plain TCP. */
  tls?: boolean;
}

const SCHEMES = ["tcp://", "tls://"];

function invalid(text: string, why: string): never {
  throw new TypeError(
    `invalid address ${
      JSON.stringify(text)
    }: ${why} (expected "tcp://host:port" or "host:port"; "tls://host:port" for TLS)`,
  );
}

/**
 * Parses `"tcp://host:port"`, `"tls://host:port"` or `"host:port"` (IPv6 hosts in brackets:
 * `"[::1]:8786"`). The port must be an integer from 1 to 65535: this is an address to
 * connect to.
 *
 * @param text the address
 * @returns hostname (IPv6 without brackets) and port, and `tls: true` for a `tls://` address
 * @throws {TypeError} naming the address and what is wrong with it
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * console.log(parseAddress("tcp://127.0.0.1:8786")); // { hostname: "127.0.0.1", port: 8786 }
 * console.log(parseAddress("[::1]:9000")); // { hostname: "::1", port: 9000 }
 * console.log(parseAddress("tls://localhost:8786")); // { hostname: "localhost", port: 8786, tls: true }
 * ```
 */
export function parseAddress(text: string): TcpAddress {
  if (typeof text !== "string") {
    throw new TypeError(
      `invalid address ${String(text)}: not a string or { hostname, port }`,
    );
  }
  let rest = text.trim();
  let tls = false;
  const schemeEnd = rest.indexOf("://");
  if (schemeEnd >= 0) {
    const scheme = rest.slice(0, schemeEnd + 3).toLowerCase();
    if (!SCHEMES.includes(scheme)) {
      invalid(text, `unsupported scheme "${rest.slice(0, schemeEnd)}"`);
    }
    tls = scheme === "tls://";
    rest = rest.slice(scheme.length);
  }
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  let hostname: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") {
      invalid(text, "an IPv6 host must be written [host]:port");
    }
    hostname = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) invalid(text, "no port");
    hostname = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (hostname.includes(":")) {
      invalid(text, "an IPv6 host must be written in brackets");
    }
  }
  if (hostname === "") invalid(text, "no host");
  if (/[\s/?#@]/.test(hostname)) invalid(text, "bad host");
  if (!/^[0-9]{1,5}$/.test(portText)) invalid(text, "bad port");
  const port = Number(portText);
  if (port < 1 || port > 65535) invalid(text, "port out of range 1-65535");
  return tls ? { hostname, port, tls } : { hostname, port };
}

/**
 * Formats an address as `"host:port"` (IPv6 hosts in brackets).
 *
 * @param address the address
 * @returns e.g. `"127.0.0.1:8786"` or `"[::1]:8786"`
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * console.log(formatAddress({ hostname: "::1", port: 8786 })); // [::1]:8786
 * ```
 */
export function formatAddress(address: TcpAddress): string {
  const host = address.hostname.includes(":")
    ? `[${address.hostname}]`
    : address.hostname;
  return `${host}:${address.port}`;
}

/**
 * Formats an address with its scheme: `"tls://host:port"` for a TLS address,
 * `"tcp://host:port"` otherwise.
 *
 * @param address the address
 * @returns e.g. `"tls://127.0.0.1:8786"`
 * @example
 * ```ts
 * import { formatUrl } from "./address.ts";
 * console.log(formatUrl({ hostname: "127.0.0.1", port: 8786, tls: true })); // tls://127.0.0.1:8786
 * ```
 */
export function formatUrl(address: TcpAddress): string {
  return `${address.tls === true ? "tls" : "tcp"}://${formatAddress(address)}`;
}

/**
 * Checks an address given either way: a string is parsed with {@link parseAddress}; an object
 * must have a non-empty `hostname` and an integer `port` from 1 to 65535.
 *
 * @param address `"tcp://host:port"`, `"tls://host:port"`, `"host:port"` or
 *   `{ hostname, port, tls? }`
 * @returns a fresh `{ hostname, port }` (with `tls: true` for a TLS address)
 * @throws {TypeError} naming the address and what is wrong with it
 * @example
 * ```ts
 * import { toTcpAddress } from "./address.ts";
 * console.log(toTcpAddress("localhost:80")); // { hostname: "localhost", port: 80 }
 * console.log(toTcpAddress({ hostname: "127.0.0.1", port: 80 })); // { hostname: "127.0.0.1", port: 80 }
 * ```
 */
export function toTcpAddress(address: string | TcpAddress): TcpAddress {
  if (typeof address === "string") return parseAddress(address);
  if (typeof address !== "object" || address === null) {
    throw new TypeError(
      `invalid address ${String(address)}: not a string or { hostname, port }`,
    );
  }
  const { hostname, port, tls } = address;
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `invalid address ${
        JSON.stringify(address)
      }: hostname must be a non-empty string`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(
      `invalid address ${
        JSON.stringify(address)
      }: port must be an integer from 1 to 65535`,
    );
  }
  return tls === true ? { hostname, port, tls } : { hostname, port };
}

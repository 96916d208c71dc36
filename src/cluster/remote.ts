/**
 * Binding to an interface other hosts can reach. Without an auth token,
 * anyone who can reach a scheduler's port can submit tasks, which run
 * arbitrary code on every worker, and anyone who can reach a worker's port
 * can read and write its data. So the scheduler and workers bind a
 * non-loopback address only with an auth token (`--auth-token`,
 * `SPILLWAY_AUTH_TOKEN`, `--auth-token-file`; `authToken` on
 * `LocalCluster`), which every connection must prove, or with mutual TLS
 * (the server verifies every client's certificate), or when told
 * `--insecure-allow-remote` (`insecureAllowRemote` on `LocalCluster`), and
 * then warn. Server-only TLS does not count: it proves nothing about who
 * connects.
 *
 * @module
 */

/**
 * What secures a listening role against strangers, for
 * {@linkcode remoteAllowedBy}.
 *
 * @example
 * ```ts
 * import type { RemoteSecurity } from "./remote.ts";
 * const security: RemoteSecurity = { authToken: true, mutualTls: false };
 * ```
 */
export interface RemoteSecurity {
  /** Whether an auth token is configured (every connection proves it). */
  authToken?: boolean;
  /**
   * Whether the role requires client certificates signed by its CA (mutual
   * TLS). Set by whoever reads the TLS settings.
   */
  mutualTls?: boolean;
}

/**
 * Whether a role may bind `host`, and whether it should warn: loopback
 * needs nothing; another interface needs a token or mutual TLS, or the
 * insecure flag (then it warns).
 *
 * @param host The interface asked for.
 * @param security What secures the role.
 * @param insecure Whether `--insecure-allow-remote` was given.
 * @returns `"loopback"`, `"secured"`, `"insecure"` (allowed by the flag:
 *   warn), or `"refused"`.
 * @example
 * ```ts
 * import { remoteAllowedBy } from "./remote.ts";
 * console.log(remoteAllowedBy("0.0.0.0", { authToken: true }, false)); // secured
 * console.log(remoteAllowedBy("0.0.0.0", {}, false)); // refused
 * ```
 */
export function remoteAllowedBy(
  host: string,
  security: RemoteSecurity,
  insecure: boolean,
): "loopback" | "secured" | "insecure" | "refused" {
  if (isLoopbackHost(host)) return "loopback";
  if (security.authToken === true || security.mutualTls === true) {
    return "secured";
  }
  return insecure ? "insecure" : "refused";
}

/**
 * Whether `host` is a loopback address: `localhost`, 127.0.0.0/8, `::1`
 * (in any spelling, brackets allowed) or an IPv4-mapped 127.0.0.0/8.
 *
 * @param host A host name or IP address, as given to `--host`.
 * @returns True for loopback only; a name other than `localhost` is not.
 * @example
 * ```ts
 * import { isLoopbackHost } from "./remote.ts";
 * console.log(isLoopbackHost("127.0.0.2"), isLoopbackHost("::1")); // true true
 * console.log(isLoopbackHost("0.0.0.0"), isLoopbackHost("192.168.1.5")); // false false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h === "localhost" || h === "localhost.") return true;
  if (isIpv4Loopback(h)) return true;
  const groups = ipv6Groups(h);
  if (groups === null) return false;
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true;
  // ::ffff:127.x.x.x (written with a dotted tail, or as hex groups)
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff &&
    groups[6] >> 8 === 127;
}

function isIpv4Loopback(h: string): boolean {
  const parts = h.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p)) &&
    parts.every((p) => Number(p) <= 255) && Number(parts[0]) === 127;
}

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
function ipv6Groups(h: string): number[] | null {
  if (!h.includes(":")) return null;
  let text = h;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const bytes = dotted[2].split(".").map(Number);
    if (bytes.some((b) => b > 255)) return null;
    tail.push((bytes[0] << 8) | bytes[1], (bytes[2] << 8) | bytes[3]);
    text = dotted[1].endsWith("::") ? dotted[1] : dotted[1].slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (head === null || rest === null) return null;
  const known = head.length + rest.length + tail.length;
  if (halves.length === 1) {
    return known === 8 ? [...head, ...tail] : null;
  }
  if (known > 7) return null;
  return [...head, ...new Array(8 - known).fill(0), ...rest, ...tail];
}

/** How the command line secures a role. */
const CLI_SECURE =
  "pass --auth-token <token> (or --auth-token-file <path>, or set SPILLWAY_AUTH_TOKEN), or use mutual TLS (--tls-cert, --tls-key and --tls-ca)";

/**
 * Why binding `host` is refused without a token, mutual TLS or the flag,
 * naming how to secure it and how to allow it anyway.
 *
 * @param host The interface asked for.
 * @param remedy How to allow it anyway, e.g. `pass --insecure-allow-remote`.
 * @param secure How to secure it. Default: the command line's flags.
 * @returns One line.
 * @example
 * ```ts
 * import { remoteRefusal } from "./remote.ts";
 * console.log(remoteRefusal("0.0.0.0", "pass --insecure-allow-remote"));
 * ```
 */
export function remoteRefusal(
  host: string,
  remedy: string,
  secure: string = CLI_SECURE,
): string {
  return `host ${host} is not a loopback address: with no auth token, anyone who can reach a port bound there can run code on every worker; ${remedy} to bind it anyway (only on a network you trust), or better, ${secure}`;
}

/**
 * The warning printed when a role binds a non-loopback `host` with the flag.
 *
 * @param role `scheduler` or `worker`.
 * @param host The interface it binds.
 * @returns One line.
 * @example
 * ```ts
 * import { remoteWarning } from "./remote.ts";
 * console.error(remoteWarning("scheduler", "0.0.0.0"));
 * ```
 */
export function remoteWarning(role: string, host: string): string {
  return `WARNING: the ${role} listens on ${host}, which other hosts can reach, with no auth token (--insecure-allow-remote): anyone who can reach its port can run code on every worker`;
}

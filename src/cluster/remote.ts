/**
 * Binding to an interface other hosts can reach. Spillway has no
 * authentication yet: anyone who can reach a scheduler's port can submit
 * tasks, which run arbitrary code on every worker, and anyone who can reach
 * a worker's port can read and write its data. So the scheduler and workers
 * bind to a loopback address unless told `--insecure-allow-remote`
 * (`insecureAllowRemote` on `LocalCluster`), and then warn.
 *
 * @module
 */

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

/**
 * Why binding `host` is refused without the flag, naming how to allow it.
 *
 * @param host The interface asked for.
 * @param remedy How to allow it, e.g. `pass --insecure-allow-remote`.
 * @returns One line.
 * @example
 * ```ts
 * import { remoteRefusal } from "./remote.ts";
 * console.log(remoteRefusal("0.0.0.0", "pass --insecure-allow-remote"));
 * ```
 */
export function remoteRefusal(host: string, remedy: string): string {
  return `host ${host} is not a loopback address: Spillway has no authentication yet, so anyone who can reach a port bound there can run code on every worker; ${remedy} to bind it anyway (only on a network you trust)`;
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
  return `WARNING: the ${role} listens on ${host}, which other hosts can reach (--insecure-allow-remote): there is no authentication yet, so anyone who can reach its port can run code on every worker`;
}

/**
 * The dashboard's HTTP authentication, when the cluster has an auth token:
 * every request (the page, its JSON and events, `/metrics`) must carry
 * either `Authorization: Bearer <token>` (scripts, Prometheus'
 * `authorization: { credentials_file: … }`) or the session cookie that the
 * login page sets (browsers). The cookie holds an HMAC of the token, never
 * the token, and is `HttpOnly` and `SameSite=Strict` (and `Secure` over
 * HTTPS). Anything else gets 401: the login page for a page request, a
 * one-line text otherwise.
 *
 * This applies on every interface, loopback included: once a token is set,
 * nothing of the cluster is shown without it. Without a token the dashboard
 * is open, as the cluster is (loopback, or `--insecure-allow-remote`).
 *
 * @module
 */
import { timingSafeEqual } from "../comm/handshake.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "spillway_session";

/** The longest login request body read, bytes. */
const MAX_LOGIN_BODY = 8 * 1024;

const encoder = new TextEncoder();

async function hmac(key: CryptoKey, text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(text)),
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks requests against the cluster's token.
 *
 * @example
 * ```ts
 * import { DashboardAuth } from "./auth.ts";
 * const auth = await DashboardAuth.create("a long random secret");
 * const request = new Request("http://127.0.0.1:8787/metrics", {
 *   headers: { authorization: "Bearer a long random secret" },
 * });
 * console.log(await auth.allows(request)); // true
 * ```
 */
export class DashboardAuth {
  /** Keyed by the token: makes the session cookie's value. */
  readonly #tokenKey: CryptoKey;
  /** A random key of this process: compares secrets as MACs (no length leak). */
  readonly #compareKey: CryptoKey;
  readonly #session: string;
  readonly #tokenMac: Uint8Array;

  private constructor(
    tokenKey: CryptoKey,
    compareKey: CryptoKey,
    session: string,
    tokenMac: Uint8Array,
  ) {
    this.#tokenKey = tokenKey;
    this.#compareKey = compareKey;
    this.#session = session;
    this.#tokenMac = tokenMac;
  }

  /**
   * Prepares the checks for `token`.
   *
   * @param token The cluster's auth token.
   * @returns The checker.
   */
  static async create(token: string): Promise<DashboardAuth> {
    const tokenKey = await crypto.subtle.importKey(
      "raw",
      encoder.encode(token),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const compareKey = await crypto.subtle.importKey(
      "raw",
      crypto.getRandomValues(new Uint8Array(32)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const session = hex(await hmac(tokenKey, "spillway dashboard session v1"));
    return new DashboardAuth(
      tokenKey,
      compareKey,
      session,
      await hmac(compareKey, token),
    );
  }

  /** Whether `secret` is the token (compared in constant time, as MACs). */
  async #isToken(secret: string): Promise<boolean> {
    return timingSafeEqual(
      await hmac(this.#compareKey, secret),
      this.#tokenMac,
    );
  }

  /** Whether `value` is the session cookie's value. */
  async #isSession(value: string): Promise<boolean> {
    return timingSafeEqual(
      await hmac(this.#compareKey, value),
      await hmac(this.#compareKey, this.#session),
    );
  }

  /**
   * Whether `request` carries the bearer token or the session cookie.
   *
   * @param request The request.
   * @returns True when it may be served.
   */
  async allows(request: Request): Promise<boolean> {
    const header = request.headers.get("authorization");
    if (header !== null) {
      const match = /^\s*Bearer\s+(.*?)\s*$/i.exec(header);
      if (match !== null && await this.#isToken(match[1])) return true;
    }
    const cookies = request.headers.get("cookie");
    if (cookies !== null) {
      for (const part of cookies.split(";")) {
        const eq = part.indexOf("=");
        if (eq < 0) continue;
        if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
        if (await this.#isSession(part.slice(eq + 1).trim())) return true;
      }
    }
    return false;
  }

  /**
   * The answer to a request without credentials: 401, the login page for a
   * page (a browser), a line of text otherwise.
   *
   * @param request The request refused.
   * @returns The response.
   */
  refuse(request: Request): Response {
    const path = new URL(request.url).pathname;
    if (path === "/" || path === "/index.html") {
      return loginPage(401, "");
    }
    return new Response(
      "authentication required: send Authorization: Bearer <token>, or log in at /login\n",
      {
        status: 401,
        headers: {
          "content-type": "text/plain; charset=utf-8",
          "www-authenticate": 'Bearer realm="spillway"',
        },
      },
    );
  }

  /**
   * `/login`: GET shows the form; POST with the right token (form field
   * `token`) sets the session cookie and goes to the dashboard; a wrong
   * one gets 401 and the form again.
   *
   * @param request The request to `/login`.
   * @param secure Whether the dashboard is served over HTTPS (the cookie
   *   is then `Secure`).
   * @param onFailure Called for a wrong token (to log it).
   * @returns The response.
   */
  async login(
    request: Request,
    secure: boolean,
    onFailure: () => void = () => {},
  ): Promise<Response> {
    if (request.method === "GET" || request.method === "HEAD") {
      return loginPage(200, "");
    }
    if (request.method !== "POST") {
      return new Response("only GET and POST\n", {
        status: 405,
        headers: { allow: "GET, POST", "content-type": "text/plain" },
      });
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (!(declared <= MAX_LOGIN_BODY)) {
      return new Response("login form too large\n", { status: 413 });
    }
    let token = "";
    try {
      const body = await readLimited(request, MAX_LOGIN_BODY);
      token = new URLSearchParams(body).get("token") ?? "";
    } catch {
      return new Response("login form too large\n", { status: 413 });
    }
    if (token === "" || !(await this.#isToken(token))) {
      onFailure();
      return loginPage(401, "authentication failed");
    }
    return new Response(null, {
      status: 303,
      headers: {
        location: "/",
        "set-cookie":
          `${SESSION_COOKIE}=${this.#session}; Path=/; HttpOnly; SameSite=Strict${
            secure ? "; Secure" : ""
          }`,
        "cache-control": "no-store",
      },
    });
  }
}

/** The request's body as text, refusing more than `limit` bytes. */
async function readLimited(request: Request, limit: number): Promise<string> {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new RangeError("too large");
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function loginPage(status: number, message: string): Response {
  const note = message === "" ? "" : `<p class="error">${message}</p>`;
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Spillway dashboard: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:28em}
input{font:inherit;width:100%;box-sizing:border-box;margin:.5em 0}
.error{color:#b00020}</style></head>
<body>
<h1>Spillway dashboard</h1>
<p>This cluster has an auth token. Enter it to see the dashboard.</p>
${note}
<form method="post" action="/login">
<label for="token">Auth token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<input type="submit" value="Log in">
</form>
</body>
</html>
`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      ...(status === 401
        ? { "www-authenticate": 'Bearer realm="spillway"' }
        : {}),
    },
  });
}

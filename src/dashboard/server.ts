/**
 * The scheduler's HTTP server: the dashboard page (`/`, `/static/*`), its
 * JSON (`/api/*`, server-sent events on `/api/events`) and Prometheus
 * metrics (`/metrics`). It only reads the scheduler (through
 * `SchedulerServer.view()`): nothing served here changes the cluster, and
 * any method but GET and HEAD is refused.
 *
 * @module
 */
import { extname } from "node:path";
import type { SchedulerView } from "../scheduler/server.ts";
import { roleLog } from "../comm/log.ts";
import { DashboardAuth } from "./auth.ts";
import { type HostMemory, hostMemory } from "../platform/host_memory.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import {
  clusterSummary,
  describeWorkers,
  FIRST_STREAM_WINDOW,
  UpdateFeed,
} from "./views.ts";

/**
 * The dashboard's usual port (Dask's).
 *
 * @example
 * ```ts
 * import { DEFAULT_DASHBOARD_PORT } from "./server.ts";
 * DEFAULT_DASHBOARD_PORT; // 8787
 * ```
 */
export const DEFAULT_DASHBOARD_PORT = 8787;

/** Options of {@linkcode DashboardServer.start}. */
export interface DashboardServerOptions {
  /** What it shows: `scheduler.view()`. */
  view: SchedulerView;
  /** Interface to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /**
   * Port; 0 for a free one. Default 8787. When it is taken, a free port
   * is used instead, and the log says so.
   */
  port?: number;
  /** Milliseconds between `update` events. Default 1000. */
  updateInterval?: number;
  /** Reads the host's memory. Default {@linkcode hostMemory}. */
  hostMemory?: () => HostMemory | null;
  /** Where the page's files are. Default `./static/` beside this module. */
  staticRoot?: URL;
  /** Log lines go here. Default: the process's log, as `scheduler`. */
  log?: (message: string) => void;
  /**
   * Serve HTTPS with this certificate and key (PEM text; the scheduler's
   * `--tls-cert` and `--tls-key`). Default: plain HTTP.
   */
  tls?: { cert: string; key: string };
  /**
   * The cluster's auth token: when set, every request must carry it as
   * `Authorization: Bearer <token>` or the session cookie of the login
   * page (`/login`), on every interface, loopback included (see
   * `auth.ts`); 401 otherwise. Default none: open.
   */
  authToken?: string | null;
}

/** Content types by file extension, for `/static/*`. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The scheduler's HTTP server.
 *
 * @example
 * ```ts
 * import { SchedulerServer } from "../scheduler/server.ts";
 * import { DashboardServer } from "./server.ts";
 * await using scheduler = await SchedulerServer.start();
 * await using dashboard = await DashboardServer.start({ view: scheduler.view(), port: 0 });
 * console.log(dashboard.url); // http://127.0.0.1:<port>/
 * ```
 */
export class DashboardServer implements AsyncDisposable {
  readonly #options: DashboardServerOptions;
  readonly #view: SchedulerView;
  readonly #host: () => HostMemory | null;
  readonly #staticRoot: URL;
  readonly #streams = new Set<() => void>();
  readonly #abort = new AbortController();
  readonly #auth: Promise<DashboardAuth> | null;
  #server!: Deno.HttpServer<Deno.NetAddr>;
  #url = "";
  #closing: Promise<void> | null = null;

  private constructor(options: DashboardServerOptions) {
    this.#options = options;
    this.#view = options.view;
    this.#host = options.hostMemory ?? hostMemory;
    this.#staticRoot = options.staticRoot ??
      new URL("./static/", import.meta.url);
    this.#auth = options.authToken != null && options.authToken !== ""
      ? DashboardAuth.create(options.authToken)
      : null;
  }

  /**
   * Starts listening; resolves once the port is bound.
   *
   * @param options The view, interface, port.
   * @returns The running server.
   * @throws {RangeError} For a port outside 0–65535.
   * @throws {Deno.errors.AddrNotAvailable} For an interface not on this host.
   */
  static start(options: DashboardServerOptions): Promise<DashboardServer> {
    const port = options.port ?? DEFAULT_DASHBOARD_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(
        new RangeError(`dashboard port must be 0 to 65535, got ${port}`),
      );
    }
    const server = new DashboardServer(options);
    const hostname = options.hostname ?? "127.0.0.1";
    const log = options.log ?? roleLog("scheduler");
    try {
      try {
        server.#listen(hostname, port);
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || port === 0) {
          throw error;
        }
        server.#listen(hostname, 0);
        log(
          `port ${port} is already in use; the dashboard is at ${server.url} instead`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(server);
  }

  #listen(hostname: string, port: number): void {
    const tls = this.#options.tls;
    this.#server = Deno.serve({
      hostname,
      port,
      ...(tls !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      signal: this.#abort.signal,
      onListen: () => {},
    }, (request) => this.#handle(request));
    const address = this.#server.addr;
    const host = address.hostname.includes(":")
      ? `[${address.hostname}]`
      : address.hostname;
    this.#url = `${
      this.#options.tls !== undefined ? "https" : "http"
    }://${host}:${address.port}/`;
  }

  /** Where the dashboard is: `http://host:port/`. */
  get url(): string {
    return this.#url;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Ends the event streams and stops listening. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const end of [...this.#streams]) end();
      this.#abort.abort();
      await this.#server.finished;
    })();
    return this.#closing;
  }

  /** Closes the server at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(request: Request): Promise<Response> {
    if (this.#auth !== null) {
      const auth = await this.#auth;
      if (new URL(request.url).pathname === "/login") {
        return await auth.login(
          request,
          this.#options.tls !== undefined,
          () =>
            (this.#options.log ?? roleLog("scheduler"))(
              "dashboard: a login with a wrong token was refused",
            ),
        );
      }
      if (!(await auth.allows(request))) return auth.refuse(request);
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "only GET and HEAD: the dashboard changes nothing\n", {
        allow: "GET, HEAD",
      });
    }
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      switch (path) {
        case "/":
        case "/index.html":
          return await this.#file("index.html");
        case "/api/workers":
          return json(describeWorkers(this.#view));
        case "/api/tasks":
          return json(this.#view.tasks());
        case "/api/cluster":
          return json(clusterSummary(this.#view, this.#host()));
        case "/api/task-stream":
          return this.#taskStream(url.searchParams.get("since"));
        case "/api/events":
          return this.#events();
        case "/metrics": {
          const body = await renderMetrics({
            workers: this.#view.workers(),
            tasks: this.#view.tasks(),
          });
          return new Response(body, {
            headers: { "content-type": METRICS_CONTENT_TYPE },
          });
        }
      }
      if (path.startsWith("/static/")) {
        return await this.#file(path.slice("/static/".length));
      }
      return text(404, `not found: ${path}\n`);
    } catch (error) {
      return text(500, `${(error as Error).message}\n`);
    }
  }

  #taskStream(since: string | null): Response {
    if (since === null) {
      return json(this.#view.taskStream(Date.now() - FIRST_STREAM_WINDOW));
    }
    const ms = Number(since);
    if (since.trim() === "" || !Number.isFinite(ms)) {
      return text(
        400,
        `since must be a time in epoch milliseconds, got ${
          JSON.stringify(since)
        }\n`,
      );
    }
    return json(this.#view.taskStream(ms));
  }

  /** A file of the page, by its path under the static root (URL-encoded). */
  async #file(encoded: string): Promise<Response> {
    let name: string;
    try {
      name = decodeURIComponent(encoded);
    } catch {
      return text(400, "bad path\n");
    }
    // Only plain names inside the root: no parent, no absolute path, no
    // backslash or NUL, nothing hidden.
    const parts = name.split("/");
    if (
      name === "" || name.includes("\\") || name.includes("\0") ||
      parts.some((p) => p === "" || p === "." || p === ".." || p[0] === ".")
    ) {
      return text(403, "forbidden\n");
    }
    const url = new URL(
      parts.map(encodeURIComponent).join("/"),
      this.#staticRoot,
    );
    if (!url.href.startsWith(this.#staticRoot.href)) {
      return text(403, "forbidden\n");
    }
    const type = CONTENT_TYPES[extname(name).toLowerCase()] ??
      "application/octet-stream";
    let body: Uint8Array<ArrayBuffer>;
    try {
      if (url.protocol === "file:") body = await Deno.readFile(url);
      else {
        const response = await fetch(url);
        if (!response.ok) {
          await response.body?.cancel();
          return text(404, `not found: /static/${name}\n`);
        }
        body = new Uint8Array(await response.arrayBuffer());
      }
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.IsADirectory
      ) {
        return text(404, `not found: /static/${name}\n`);
      }
      throw error;
    }
    return new Response(body, {
      headers: { "content-type": type, "cache-control": "no-cache" },
    });
  }

  /** Server-sent events: an `update` now, then every interval. */
  #events(): Response {
    const feed = new UpdateFeed(this.#view, this.#host);
    const encoder = new TextEncoder();
    const interval = this.#options.updateInterval ?? 1000;
    let timer: ReturnType<typeof setInterval> | undefined;
    let end = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const send = () => {
          const data = JSON.stringify(feed.next());
          controller.enqueue(
            encoder.encode(`event: update\ndata: ${data}\n\n`),
          );
        };
        end = () => {
          clearInterval(timer);
          this.#streams.delete(end);
          try {
            controller.close();
          } catch {
            // Already closed or cancelled.
          }
        };
        this.#streams.add(end);
        controller.enqueue(encoder.encode("retry: 2000\n\n"));
        send();
        timer = setInterval(() => {
          try {
            send();
          } catch {
            end();
          }
        }, interval);
      },
      cancel: () => {
        clearInterval(timer);
        this.#streams.delete(end);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-cache",
    },
  });
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * A worker's configuration, declared once: what `spillway worker` reads
 * from its command line, what the nanny hands its worker process (as that
 * same command line), what `LocalCluster` gives each of its workers, and
 * what a `WorkerNode` starts with. Each of them takes the fields
 * it needs (`Pick`, `Partial`) and adds its own.
 *
 * @module
 */
import type { LogFormat, LogLevel } from "../comm/log.ts";
import type { TaskPermissions } from "./task_permissions.ts";

/**
 * The configuration of one worker.
 *
 * @example
 * ```ts
 * import type { WorkerConfig } from "@spillway/spillway";
 * const config: Pick<WorkerConfig, "scheduler" | "nthreads" | "memoryLimit"> = {
 *   scheduler: "tcp://127.0.0.1:8786",
 *   nthreads: 2,
 *   memoryLimit: 2 * 2 ** 30,
 * };
 * ```
 */
export interface WorkerConfig {
  /** The scheduler's address, `tcp://host:port`. */
  scheduler: string;
  /** Interface to listen on for peers and clients. Default `127.0.0.1`. */
  hostname: string;
  /** Port to listen on; 0 for a free one. Default 0. */
  port: number;
  /** Executor threads: how many tasks run at once. Default 1. */
  nthreads: number;
  /** Memory limit in bytes; null for none. */
  memoryLimit: number | null;
  /**
   * The spill directory. A worker process spills into it (made if missing,
   * removed on close); whoever starts worker processes (`spillway worker`,
   * the nanny, `LocalCluster`) makes each one's own directory inside it.
   * Not under `/dev`, where Deno refuses scoped permissions.
   */
  spillDir: string;
  /**
   * Shared-memory mode: the spill directory (the root the workers'
   * directories are made in) is a tmpfs shared by this host's workers;
   * spilled data is mapped instead of read, executors map their inputs
   * themselves, and a peer on the same host gets a hard link instead of the
   * bytes. Workers need `--allow-ffi`. Default false.
   */
  sharedMemory: boolean;
  /**
   * Fraction of the memory limit the store keeps in memory before it
   * spills (Dask's target). Default 0.6; 0 spills every result at once
   * (recommended in shared-memory mode for large arrays).
   */
  target?: number;
  /**
   * How long (ms) a worker that lost its scheduler tries to register with
   * it again before it exits; 0 exits at once. It re-registers empty: the
   * keys it held are dropped, since a restarted scheduler knows none of
   * them. Default 60 000.
   */
  reconnectTimeout?: number;
  /**
   * How long (ms) a worker paused with its spill space exhausted waits for
   * memory to free before the tasks waiting on it fail
   * (`--spill-exhausted-timeout`). Default 60 000.
   */
  spillExhaustedTimeout?: number;
  /**
   * Allow `hostname` to be a non-loopback interface without an auth token
   * (anyone who can reach the port can then run code on every worker).
   * Default false. (The token itself is not part of this configuration: it
   * travels in the environment, `SPILLWAY_AUTH_TOKEN`, never on a command
   * line.)
   */
  insecureAllowRemote?: boolean;
  /**
   * The largest message accepted after the handshake, in bytes
   * (`--max-message-size`). Default `DEFAULT_MAX_MESSAGE_SIZE` (16 GiB).
   */
  maxMessageSize?: number;
  /**
   * URLs of modules that register codecs (`registerCodec`), imported when
   * the worker starts, on its control thread and in each executor, so that
   * values of those classes can be task arguments and results whatever
   * task module runs. `--codecs` on the command line; `codecs:` on
   * `LocalCluster`. Default none (task modules may register codecs too).
   */
  codecs?: string[];
  /**
   * What tasks may do beyond the sandbox's defaults (`--task-allow-read`,
   * `-write`, `-net`, `-env`, `-run`; `taskPermissions` on `LocalCluster`).
   * The worker process must hold them itself. Default none.
   */
  taskPermissions?: TaskPermissions;
  /**
   * Directories or files task modules are read from (`--modules`): what
   * tasks may read by default, with spillway's code, the codec modules and
   * Deno's cache. Default: the working directory.
   */
  taskModules?: string[];
  /**
   * Deno's directory (`deno info --json` → `denoDir`), whose `npm:` and
   * remote caches tasks may read (`--deno-dir`). Default: found by the
   * worker when it may (DENO_DIR, or running `deno info`).
   */
  denoDir?: string;
  /**
   * Paths of PEM files (`--tls-cert`, `--tls-key`, `--tls-ca`): with a
   * certificate and key the worker listens with TLS and registers a
   * `tls://` address; with the CA too it requires client certificates
   * signed by it (mutual TLS). The CA verifies a `tls://` scheduler and
   * peers. Default none: plain TCP.
   */
  tlsFiles?: { cert?: string; key?: string; ca?: string };
  /** Lines below this level are not logged (`--log-level`). Default `info`. */
  logLevel?: LogLevel;
  /** Log lines as text or JSON (`--log-format`). Default `text`. */
  logFormat?: LogFormat;
}

/**
 * What differs between a worker's two modes, chosen once at start:
 *
 * - private (the default): spilled keys are read back into the worker's
 *   memory, and peers get bytes;
 * - shared-memory: the spill directory is on a tmpfs; executors map spilled
 *   inputs themselves (and, at target 0, write large results there
 *   themselves), and a peer on the same host and tmpfs gets a hard link
 *   instead of the bytes.
 *
 * The worker, its task runner, its fetcher and its peer service ask the
 * mode; none of them branches on which mode it is.
 *
 * @module
 */
import type {
  DataReply,
  GetData,
  RegisterWorker,
  SpilledFileRef,
} from "../protocol/mod.ts";
import type { SpillBufferOptions } from "../store/spill_buffer.ts";
import type {
  PeerSpillBuffer,
  PreparedSpillFile,
} from "../store/peer_files.ts";
import { SharedTier } from "../store/shared_tier.ts";
import { checkSharedSpillRoot, type SharedSpillRoot } from "../store/tmpfs.ts";
import { spillRootId } from "../store/root_id.ts";
import { privateMemory } from "./private_memory.ts";

/**
 * A worker's mode: see the module's documentation.
 *
 * @example
 * ```ts
 * import { PrivateMode } from "./mode.ts";
 * const mode = new PrivateMode();
 * mode.linkAsk; // undefined: a private worker takes bytes, never links
 * ```
 */
export interface WorkerMode {
  /** What the worker's registration says of its mode. */
  readonly registration: Pick<RegisterWorker, "shared">;
  /** What the worker says of itself in its `get-data` requests. */
  readonly linkAsk: GetData["link"];
  /** Whether a fetch reserves room for the bytes it brings (a link needs none). */
  readonly fetchReservesRoom: boolean;
  /** The process's own memory in bytes, as the memory manager counts it. */
  ownMemory(): number;
  /** Where the store spills. */
  spillTo(
    spillDir: string,
  ): Pick<SpillBufferOptions, "directory" | "spillTier">;
  /**
   * Memory a task must reserve to have input `key` in memory, when it is
   * spilled: its size when read back, nothing when mapped.
   */
  readBackBytes(store: PeerSpillBuffer, key: string): number;
  /**
   * The spill file an executor maps for input `key` itself, or `null` when
   * the worker passes the value.
   */
  mappedInput(store: PeerSpillBuffer, key: string): Promise<string | null>;
  /**
   * The file an executor writes a task's result into itself (target 0 in
   * shared-memory mode), or `null` when the result comes back to the worker.
   */
  prepareResult(
    store: PeerSpillBuffer,
    key: string,
    target: number | undefined,
  ): Promise<PreparedSpillFile | null>;
  /**
   * To a peer on this host and tmpfs (`link`), the spill files of `keys`
   * (spilled first if they are not yet); `null` for any other peer.
   */
  serveLinks(
    store: PeerSpillBuffer,
    keys: string[],
    link: GetData["link"],
  ): Promise<DataReply | null>;
  /**
   * Takes the keys a peer offered as files, by hard link, calling `taken`
   * for each; returns the keys whose link failed, for a byte transfer.
   */
  adoptLinks(
    store: PeerSpillBuffer,
    holder: string,
    links: Record<string, SpilledFileRef>,
    taken: (key: string, bytes: number) => void,
  ): Promise<string[]>;
}

/**
 * The default mode: spilled keys are read back into the worker's memory.
 *
 * @example
 * ```ts
 * import { PrivateMode } from "./mode.ts";
 * new PrivateMode().spillTo("/tmp/spillway-w1"); // { directory: "/tmp/spillway-w1" }
 * ```
 */
export class PrivateMode implements WorkerMode {
  /** Nothing: a private worker shares no spill root. */
  readonly registration: Pick<RegisterWorker, "shared"> = {};
  /** Nothing: a private worker takes bytes. */
  readonly linkAsk: GetData["link"] = undefined;
  /** Fetched bytes land in this worker's memory. */
  readonly fetchReservesRoom = true;

  /** Resident memory of the process. */
  ownMemory(): number {
    return Deno.memoryUsage().rss;
  }

  /** A disk tier on `spillDir`. */
  spillTo(
    spillDir: string,
  ): Pick<SpillBufferOptions, "directory" | "spillTier"> {
    return { directory: spillDir };
  }

  /** A spilled input is read back whole. */
  readBackBytes(store: PeerSpillBuffer, key: string): number {
    return store.state(key) === "spilled" ? store.nbytes(key) : 0;
  }

  /** Never: the worker passes values. */
  mappedInput(): Promise<string | null> {
    return Promise.resolve(null);
  }

  /** Never: results come back to the worker. */
  prepareResult(): Promise<PreparedSpillFile | null> {
    return Promise.resolve(null);
  }

  /** Never: no peer shares this worker's files. */
  serveLinks(): Promise<DataReply | null> {
    return Promise.resolve(null);
  }

  /** No links are offered to a private worker; any that were fail. */
  adoptLinks(
    _store: PeerSpillBuffer,
    _holder: string,
    links: Record<string, SpilledFileRef>,
  ): Promise<string[]> {
    return Promise.resolve(Object.keys(links));
  }
}

/**
 * Shared-memory mode over a checked tmpfs spill root.
 *
 * @example
 * ```ts no-eval
 * import { SharedMode } from "./mode.ts";
 * const mode = new SharedMode("/dev/shm/spillway", 2 ** 30, "node-1", console.warn);
 * mode.linkAsk; // { host: "node-1", dev: <the tmpfs's st_dev>, rootId: <the root's id> }
 * ```
 */
export class SharedMode implements WorkerMode {
  /** The checked spill root. */
  readonly root: SharedSpillRoot;
  /** The spill root's random id (in `.spillway-root-id/`): host and `dev` alone can collide. */
  readonly rootId: string;
  /** The spill root's filesystem, for placement and peers. */
  readonly registration: Pick<RegisterWorker, "shared">;
  /** This host and tmpfs: a peer on both answers with links. */
  readonly linkAsk: GetData["link"];
  /** A same-host peer answers with a link, which needs no room. */
  readonly fetchReservesRoom = false;
  readonly #log: (message: string) => void;
  /** Links that failed, by reason: logged once each. */
  readonly #linkFailures = new Set<string>();

  /**
   * Checks the spill root first: a wrong root is a clear error, before
   * anything starts.
   *
   * @throws {SharedSpillRootError} when `root` is not a usable tmpfs.
   */
  constructor(
    root: string,
    memoryLimit: number,
    host: string,
    log: (message: string) => void,
  ) {
    this.root = checkSharedSpillRoot(root, memoryLimit);
    for (const warning of this.root.warnings) log(warning);
    this.#log = log;
    this.rootId = spillRootId(this.root.path);
    this.registration = {
      shared: { dev: this.root.dev, root: this.root.path, rootId: this.rootId },
    };
    this.linkAsk = { host, dev: this.root.dev, rootId: this.rootId };
  }

  /** Private memory only: mapped tmpfs pages are the tmpfs's. */
  ownMemory(): number {
    return privateMemory();
  }

  /** A shared tier on `spillDir`. */
  spillTo(
    spillDir: string,
  ): Pick<SpillBufferOptions, "directory" | "spillTier"> {
    return { spillTier: new SharedTier({ directory: spillDir }) };
  }

  /** Nothing: executors map spilled inputs. */
  readBackBytes(): number {
    return 0;
  }

  /** The file of an input on disk: the executor maps it. */
  async mappedInput(
    store: PeerSpillBuffer,
    key: string,
  ): Promise<string | null> {
    const state = store.state(key);
    if (state !== "spilled" && state !== "mapped") return null;
    return (await store.spilledFile(key)).path;
  }

  /**
   * At target 0 the executor writes a large result to the tmpfs itself and
   * frees it, so it never passes through the worker's thread (nor stays
   * there as garbage until a collection).
   */
  async prepareResult(
    store: PeerSpillBuffer,
    key: string,
    target: number | undefined,
  ): Promise<PreparedSpillFile | null> {
    return target === 0 ? await store.prepareSpillFile(key) : null;
  }

  /** Links for a peer on this host and tmpfs. */
  async serveLinks(
    store: PeerSpillBuffer,
    keys: string[],
    link: GetData["link"],
  ): Promise<DataReply | null> {
    if (
      !sameSpillRoot(link, this.linkAsk)
    ) {
      return null;
    }
    const links: Record<string, SpilledFileRef> = {};
    for (const key of keys) {
      if (!store.has(key)) continue;
      const file = await store.spilledFile(key);
      links[key] = { path: file.path, bytes: file.bytes };
    }
    return { data: {}, links };
  }

  /** Hard-links each offered file into this worker's spill directory. */
  async adoptLinks(
    store: PeerSpillBuffer,
    holder: string,
    links: Record<string, SpilledFileRef>,
    taken: (key: string, bytes: number) => void,
  ): Promise<string[]> {
    const failed: string[] = [];
    for (const [key, file] of Object.entries(links)) {
      if (store.has(key)) continue;
      try {
        await store.linkFrom(key, file.path, this.root.path, {
          bytes: file.bytes,
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? "error";
        if (!this.#linkFailures.has(code)) {
          this.#linkFailures.add(code);
          this.#log(
            `linking ${key} from ${holder} failed (${code}): ${
              (error as Error).message
            }; sending bytes instead (logged once per reason)`,
          );
        }
        failed.push(key);
        continue;
      }
      taken(key, file.bytes);
    }
    return failed;
  }
}

/**
 * Whether a peer's `link` (from its `get-data` request) names the same spill
 * root as `own`: the same host, `st_dev` and root id. A peer that sends no
 * root id (an older worker) matches on host and `dev` alone.
 *
 * @example
 * ```ts
 * import { sameSpillRoot } from "./mode.ts";
 * const own = { host: "h", dev: 40, rootId: "a".repeat(32) };
 * sameSpillRoot({ host: "h", dev: 40, rootId: "b".repeat(32) }, own); // false
 * sameSpillRoot({ ...own }, own); // true
 * ```
 */
export function sameSpillRoot(
  link: GetData["link"],
  own: GetData["link"],
): boolean {
  if (link === undefined || own === undefined) return false;
  if (link.host !== own.host || link.dev !== own.dev) return false;
  return link.rootId === undefined || own.rootId === undefined ||
    link.rootId === own.rootId;
}

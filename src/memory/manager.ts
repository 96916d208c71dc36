/**
 * The worker's memory manager: samples process memory and applies the
 * thresholds of Dask's worker memory model to a store.
 *
 * @module
 */

import { type MemoryThresholds, resolveThresholds } from "./thresholds.ts";

/**
 * What the memory manager needs from a store (the SpillBuffer implements it).
 * The store knows no thresholds: it keeps its managed bytes below `target`
 * and evicts when asked; the manager decides the target and when to ask.
 *
 * @example
 * ```ts
 * import type { ManagedStore, SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const managed: ManagedStore = store;
 * console.log(managed.managedBytes, managed.spilledBytes);
 * ```
 */
export interface ManagedStore {
  /** Bytes held in memory by the store (live values and serialized frames). */
  readonly managedBytes: number;
  /** Bytes in the store's spill files. */
  readonly spilledBytes: number;
  /** Managed-bytes target: the store evicts LRU keys down to it by itself. */
  target: number;
  /**
   * Evicts at least `bytes` of managed memory, least recently used first.
   *
   * @param bytes Managed bytes to free.
   * @returns Bytes freed: less than asked if nothing more can go.
   */
  evict(bytes: number): Promise<number>;
}

/**
 * Memory figures of one sample, in bytes.
 *
 * @example
 * ```ts
 * import type { MemoryManager, MemoryReport } from "@spillway/spillway";
 * declare const manager: MemoryManager;
 * manager.addEventListener("sample", (event) => {
 *   const report: MemoryReport = event.detail;
 *   console.log(report.process, report.managed, report.unmanaged, report.spilled);
 * });
 * ```
 */
export interface MemoryReport {
  /** Memory of the whole process (RSS by default). */
  process: number;
  /** Bytes the store holds in memory. */
  managed: number;
  /** `max(0, process - managed)`: the runtime, code, and everything sizeof misses. */
  unmanaged: number;
  /** Bytes in the store's spill files. */
  spilled: number;
  /** The memory limit, or `null` for none. */
  limit: number | null;
}

/**
 * Options of {@linkcode MemoryManager}.
 *
 * @example
 * ```ts
 * import { MemoryManager, type MemoryManagerOptions, parseMemoryLimit, type SpillBuffer } from "@spillway/spillway";
 * declare const store: SpillBuffer;
 * const options: MemoryManagerOptions = { limit: parseMemoryLimit("4GiB"), store, thresholds: { pause: false } };
 * const manager = new MemoryManager(options);
 * ```
 */
export interface MemoryManagerOptions {
  /** Memory limit in bytes (see `parseMemoryLimit`), or `null` for none. */
  limit: number | null;
  /** The store to keep within the limit. */
  store: ManagedStore;
  /** Thresholds to override; see {@linkcode resolveThresholds}. */
  thresholds?: Partial<MemoryThresholds>;
  /**
   * Milliseconds between samples once {@linkcode MemoryManager.start} runs.
   *
   * @default {100}
   */
  interval?: number;
  /**
   * Returns the process's memory in bytes.
   *
   * @default {() => Deno.memoryUsage().rss}
   */
  sampleProcessMemory?: () => number;
}

/**
 * The events a {@linkcode MemoryManager} dispatches.
 *
 * @example
 * ```ts
 * import type { MemoryManager, MemoryManagerEventMap } from "@spillway/spillway";
 * declare const manager: MemoryManager;
 * const onPause = (_event: MemoryManagerEventMap["pause"]) => console.log("paused");
 * manager.addEventListener("pause", onPause);
 * ```
 */
export interface MemoryManagerEventMap {
  /** After every sample, with its report as `detail`. */
  sample: CustomEvent<MemoryReport>;
  /** Process memory rose above the pause threshold: start no new tasks. */
  pause: Event;
  /** Process memory fell below the pause threshold again. */
  resume: Event;
  /** Process memory rose above the terminate threshold (dispatched once). */
  terminate: Event;
}

function sampleRss(): number {
  return Deno.memoryUsage().rss;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Keeps a store within a memory limit, following Dask's worker memory model:
 *
 * - At construction, with a limit, sets `store.target` to `target * limit`
 *   (`Infinity` if `target` is disabled): the store evicts LRU keys down to
 *   it by itself, judging by managed bytes.
 * - On each sample, if process memory exceeds `spill * limit`, asks the store
 *   to evict `process - target * limit` bytes (down to `spill * limit` if
 *   `target` is disabled). At most one eviction is in flight: a sample during
 *   one starts no other, but still checks the pause and terminate thresholds,
 *   so a disk that cannot keep up leads to a pause instead of a stall.
 * - Above `pause * limit` it is {@linkcode MemoryManager.paused} and
 *   dispatches `"pause"`; once memory falls below that, `"resume"`.
 * - Above `terminate * limit` it dispatches `"terminate"`, once; the
 *   supervisor ends the process.
 * - Every sample dispatches a `"sample"` `CustomEvent` with the report.
 *
 * Without a limit, samples only report. A failing eviction is logged with
 * `console.warn` (once per run of failures) and never stops the timer.
 *
 * @example Evict when process memory passes the spill threshold
 * ```ts
 * import { deepEqual, equal } from "node:assert/strict";
 * import { type ManagedStore, MemoryManager } from "./manager.ts";
 *
 * const asked: number[] = [];
 * const store: ManagedStore = {
 *   managedBytes: 500,
 *   spilledBytes: 0,
 *   target: Infinity,
 *   evict: (bytes) => {
 *     asked.push(bytes);
 *     return Promise.resolve(bytes);
 *   },
 * };
 * let rss = 750;
 * using manager = new MemoryManager({
 *   limit: 1000,
 *   store,
 *   sampleProcessMemory: () => rss,
 * });
 * equal(store.target, 600); // target (0.6) * limit
 * await manager.sample(); // 750 > spill (0.7) * limit: evict down to 600
 * deepEqual(asked, [150]);
 * rss = 850;
 * await manager.sample(); // above pause (0.8) * limit
 * equal(manager.paused, true);
 * ```
 */
export class MemoryManager extends EventTarget implements Disposable {
  readonly #store: ManagedStore;
  readonly #limit: number | null;
  readonly #thresholds: Readonly<MemoryThresholds>;
  readonly #interval: number;
  readonly #sampleProcessMemory: () => number;
  // Not `number`: with Node's types loaded (node:assert in a test) setInterval
  // returns a Timeout object.
  #timer: ReturnType<typeof setInterval> | undefined;
  #evicting = false;
  #paused = false;
  #terminated = false;
  #lastReport: MemoryReport | undefined;
  /** Warn once per run of failures, not every interval. */
  #evictFailing = false;
  #sampleFailing = false;

  /**
   * Resolves the thresholds and, with a limit, sets `store.target`.
   *
   * @param options The limit, the store, and optional thresholds, interval
   *   and process-memory sampler.
   * @throws {RangeError} If `limit` is not `null` or a positive number, if
   *   `interval` is not a positive number, or if a threshold is invalid.
   */
  constructor(options: MemoryManagerOptions) {
    super();
    const { limit, store, interval = 100 } = options;
    if (limit !== null && !(Number.isFinite(limit) && limit > 0)) {
      throw new RangeError(
        `invalid memory limit ${limit}: expected a positive number of bytes, or null for no limit`,
      );
    }
    if (!(Number.isFinite(interval) && interval > 0)) {
      throw new RangeError(
        `invalid memory-monitor interval ${interval}: expected a positive number of milliseconds`,
      );
    }
    this.#store = store;
    this.#limit = limit;
    this.#thresholds = Object.freeze(resolveThresholds(options.thresholds));
    this.#interval = interval;
    this.#sampleProcessMemory = options.sampleProcessMemory ?? sampleRss;
    if (limit !== null) {
      const { target } = this.#thresholds;
      store.target = target === false ? Infinity : Math.floor(target * limit);
    }
  }

  /** The memory limit in bytes, or `null` for none. */
  get limit(): number | null {
    return this.#limit;
  }

  /** The resolved thresholds (frozen). */
  get thresholds(): MemoryThresholds {
    return this.#thresholds;
  }

  /** Whether process memory was above the pause threshold at the last sample. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Samples every `interval` ms until {@linkcode MemoryManager.stop}. The
   * timer is unref'ed: it does not keep the process alive. Calling `start`
   * again while running does nothing.
   *
   * @example Start and stop
   * ```ts
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 0,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({ limit: null, store });
   * manager.start();
   * manager.stop();
   * ```
   */
  start(): void {
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#tick(), this.#interval);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /**
   * Stops the timer. An eviction in flight runs to its end.
   *
   * @example Stop
   * ```ts
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 0,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({ limit: null, store });
   * manager.start();
   * manager.stop();
   * ```
   */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Stops the timer, so that `using manager = new MemoryManager(...)` cleans
   * up.
   *
   * @example Dispose with `using`
   * ```ts
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 0,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * using manager = new MemoryManager({ limit: null, store });
   * manager.start();
   * ```
   */
  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * Measures once and acts on the thresholds: dispatches `"pause"`,
   * `"resume"` and `"terminate"` at their crossings, starts an eviction if
   * process memory is above the spill threshold and none is in flight, and
   * dispatches `"sample"`. Resolves when the eviction this sample started
   * (if any) has settled; a failed eviction is logged, not thrown.
   *
   * @returns The report of this sample (taken before any eviction).
   * @throws If the process-memory sampler or the store's getters throw.
   *
   * @example Sample with a fake process-memory figure
   * ```ts
   * import { equal } from "node:assert/strict";
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 300,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({
   *   limit: 1000,
   *   store,
   *   sampleProcessMemory: () => 400,
   * });
   * const report = await manager.sample();
   * equal(report.unmanaged, 100);
   * ```
   */
  async sample(): Promise<MemoryReport> {
    const report = this.#measure();
    this.#lastReport = report;
    let eviction: Promise<void> | undefined;
    if (report.limit !== null) {
      this.#checkPause(report.process, report.limit);
      this.#checkTerminate(report.process, report.limit);
      eviction = this.#maybeEvict(report.process, report.limit);
    }
    this.dispatchEvent(new CustomEvent("sample", { detail: report }));
    await eviction;
    return report;
  }

  /**
   * The figures of the last sample; before the first sample, a fresh
   * measurement (which acts on no threshold).
   *
   * @returns The report; `unmanaged` is `max(0, process - managed)`.
   *
   * @example Read the last figures
   * ```ts
   * import { equal } from "node:assert/strict";
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 300,
   *   spilledBytes: 50,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({
   *   limit: null,
   *   store,
   *   sampleProcessMemory: () => 200,
   * });
   * equal(manager.report().unmanaged, 0);
   * equal(manager.report().spilled, 50);
   * ```
   */
  report(): MemoryReport {
    return this.#lastReport ?? this.#measure();
  }

  /**
   * Adds a listener; `"sample"` listeners receive a
   * `CustomEvent<MemoryReport>`.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options `addEventListener` options (`once`, `signal`, ...).
   *
   * @example Listen for pauses
   * ```ts
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 0,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({ limit: null, store });
   * manager.addEventListener("sample", (event) => {
   *   console.log(event.detail.process);
   * });
   * ```
   */
  override addEventListener<K extends keyof MemoryManagerEventMap>(
    type: K,
    listener: (this: MemoryManager, event: MemoryManagerEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener for any event type.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options `addEventListener` options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with {@linkcode MemoryManager.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options `removeEventListener` options.
   *
   * @example Remove a listener
   * ```ts
   * import { MemoryManager } from "./manager.ts";
   *
   * const store = {
   *   managedBytes: 0,
   *   spilledBytes: 0,
   *   target: Infinity,
   *   evict: () => Promise.resolve(0),
   * };
   * const manager = new MemoryManager({ limit: null, store });
   * const onPause = () => console.log("paused");
   * manager.addEventListener("pause", onPause);
   * manager.removeEventListener("pause", onPause);
   * ```
   */
  override removeEventListener<K extends keyof MemoryManagerEventMap>(
    type: K,
    listener: (this: MemoryManager, event: MemoryManagerEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener for any event type.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options `removeEventListener` options.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  #measure(): MemoryReport {
    const process = this.#sampleProcessMemory();
    const managed = this.#store.managedBytes;
    return Object.freeze({
      process,
      managed,
      unmanaged: Math.max(0, process - managed),
      spilled: this.#store.spilledBytes,
      limit: this.#limit,
    });
  }

  #checkPause(process: number, limit: number): void {
    const { pause } = this.#thresholds;
    if (pause === false) return;
    // Strictly above pauses, strictly below resumes: at exactly the
    // threshold the state stays as it is.
    if (!this.#paused && process > pause * limit) {
      this.#paused = true;
      this.dispatchEvent(new Event("pause"));
    } else if (this.#paused && process < pause * limit) {
      this.#paused = false;
      this.dispatchEvent(new Event("resume"));
    }
  }

  #checkTerminate(process: number, limit: number): void {
    const { terminate } = this.#thresholds;
    if (terminate === false || this.#terminated) return;
    if (process > terminate * limit) {
      // Once: the supervisor acts on the first; repeating it every interval
      // while the process is being killed would only add noise.
      this.#terminated = true;
      this.dispatchEvent(new Event("terminate"));
    }
  }

  #maybeEvict(process: number, limit: number): Promise<void> | undefined {
    const { spill, target } = this.#thresholds;
    if (spill === false || this.#evicting || process <= spill * limit) {
      return undefined;
    }
    // Hysteresis: spilling starts above `spill` and frees down to `target`,
    // so that the next sample does not spill again at once.
    const goal = (target === false ? spill : target) * limit;
    const bytes = Math.ceil(process - goal);
    this.#evicting = true;
    let evicted: Promise<number>;
    try {
      evicted = this.#store.evict(bytes);
    } catch (error) {
      evicted = Promise.reject(error);
    }
    return Promise.resolve(evicted).then(
      () => {
        this.#evictFailing = false;
      },
      (error: unknown) => {
        if (!this.#evictFailing) {
          this.#evictFailing = true;
          console.warn(
            `memory manager: evicting ${bytes} bytes failed: ${
              message(error)
            }; ` +
              "will retry on the next sample above the spill threshold",
          );
        }
      },
    ).finally(() => {
      this.#evicting = false;
    });
  }

  #tick(): void {
    this.sample().then(
      () => {
        this.#sampleFailing = false;
      },
      (error: unknown) => {
        if (!this.#sampleFailing) {
          this.#sampleFailing = true;
          console.warn(
            `memory manager: sampling memory failed: ${message(error)}`,
          );
        }
      },
    );
  }
}

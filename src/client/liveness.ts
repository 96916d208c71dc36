/**
 * How a client notices that its scheduler is gone: its connection closes (a
 * killed process closes its sockets, so this is immediate), or it stops
 * answering pings (a stopped or hung process keeps its sockets open).
 * Either way the client is closed with a {@linkcode SchedulerLostError}
 * naming the scheduler's address, within the heartbeat timeout.
 *
 * @module
 */

/** Default heartbeat timeout of `Client.connect`, ms. */
export const DEFAULT_HEARTBEAT_TIMEOUT = 30_000;

/**
 * The client lost its scheduler (or never reached it): every pending
 * `result()` rejects with this, and so does every later call. A Client does
 * not reconnect; a new Client resubmits.
 *
 * @example
 * ```ts
 * import { Client, SchedulerLostError } from "@spillway/spillway";
 * await using client = await Client.connect("tcp://127.0.0.1:8786", {
 *   heartbeatTimeout: 10_000,
 * });
 * try {
 *   console.log(await client.submit<number>(new URL("./ops.ts", import.meta.url), "inc", 1).result());
 * } catch (error) {
 *   if (error instanceof SchedulerLostError) console.error(`gone: ${error.address}`);
 *   else throw error;
 * }
 * ```
 */
export class SchedulerLostError extends Error {
  /** The scheduler's address, as given to `Client.connect`. */
  readonly address: string;

  /**
   * The scheduler at `address` is gone, for the reason `why`.
   *
   * @param address The scheduler's address.
   * @param why What happened, e.g. `its connection closed`.
   * @param options Standard error options (`cause`).
   */
  constructor(address: string, why: string, options?: ErrorOptions) {
    super(
      `lost the scheduler at ${address}: ${why}; the client is closed (a new Client resubmits)`,
      options,
    );
    this.name = "SchedulerLostError";
    this.address = address;
  }
}

/**
 * What {@linkcode watchScheduler} watches.
 *
 * @example
 * ```ts
 * import type { SchedulerWatchOptions } from "./liveness.ts";
 * const options: SchedulerWatchOptions = {
 *   address: "tcp://127.0.0.1:8786",
 *   heartbeatTimeout: 1500,
 *   closed: new Promise<void>(() => {}),
 *   ping: (timeout) => new Promise((resolve) => setTimeout(resolve, Math.min(timeout, 10))),
 *   onLost: (error) => console.error(error.message),
 * };
 * ```
 */
export interface SchedulerWatchOptions {
  /** The scheduler's address, for the error. */
  address: string;
  /** The scheduler is declared lost when silent this long, ms. */
  heartbeatTimeout: number;
  /** Resolves when the connection to the scheduler has closed. */
  closed: Promise<void>;
  /** One ping; rejects when no reply came within `timeout` ms (or the connection failed). */
  ping: (timeout: number) => Promise<unknown>;
  /** Called once, when the scheduler is lost (not after `stop()`). */
  onLost: (error: SchedulerLostError) => void;
}

/**
 * A running watch; `stop()` it before closing the connection on purpose.
 *
 * @example
 * ```ts
 * import type { SchedulerWatch } from "./liveness.ts";
 * declare const watch: SchedulerWatch;
 * watch.stop();
 * ```
 */
export interface SchedulerWatch {
  /** Stops watching: no ping is sent and `onLost` is not called any more. */
  stop(): void;
}

/**
 * Watches a scheduler connection: `onLost` when it closes, or when a ping
 * gets no reply. One ping is in flight at a time, sent every
 * `heartbeatTimeout / 5` and given `3 × heartbeatTimeout / 5` to answer: a
 * scheduler that stops answering right after a reply is declared lost at
 * most `4/5` of the heartbeat timeout later.
 *
 * @param options What to watch and whom to tell.
 * @returns The watch, to stop.
 * @example
 * ```ts
 * import { watchScheduler } from "./liveness.ts";
 * const watch = watchScheduler({
 *   address: "tcp://127.0.0.1:8786",
 *   heartbeatTimeout: 30_000,
 *   closed: new Promise<void>(() => {}),
 *   ping: () => Promise.resolve("pong"),
 *   onLost: (error) => console.error(error.message),
 * });
 * watch.stop();
 * ```
 */
export function watchScheduler(options: SchedulerWatchOptions): SchedulerWatch {
  const { address, heartbeatTimeout } = options;
  let stopped = false;
  let pinging = false;
  const lost = (why: string, cause?: unknown): void => {
    if (stopped) return;
    stop();
    options.onLost(
      new SchedulerLostError(
        address,
        why,
        cause === undefined ? undefined : { cause },
      ),
    );
  };
  const answerWithin = Math.max(1, Math.round(heartbeatTimeout * 3 / 5));
  const timer = setInterval(() => {
    if (stopped || pinging) return;
    pinging = true;
    options.ping(answerWithin).then(
      () => pinging = false,
      (error) => {
        pinging = false;
        lost(
          `no reply to a ping within ${answerWithin} ms (heartbeat timeout ${heartbeatTimeout} ms)`,
          error,
        );
      },
    );
  }, Math.max(1, Math.round(heartbeatTimeout / 5)));
  // The pings must not keep a program alive that is otherwise done.
  Deno.unrefTimer(timer);
  options.closed.then(() => lost("its connection closed"));
  function stop(): void {
    stopped = true;
    clearInterval(timer);
  }
  return { stop };
}

/**
 * Checks the `heartbeatTimeout` option of `Client.connect`.
 *
 * @param value The option, if given.
 * @returns Milliseconds, {@linkcode DEFAULT_HEARTBEAT_TIMEOUT} by default.
 * @throws {RangeError} If it is not a positive finite number.
 * @example
 * ```ts
 * import { heartbeatTimeoutOf } from "./liveness.ts";
 * console.log(heartbeatTimeoutOf(undefined)); // 30000
 * ```
 */
export function heartbeatTimeoutOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_HEARTBEAT_TIMEOUT;
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) {
    throw new RangeError(
      `heartbeatTimeout must be a positive number of milliseconds, got ${value}`,
    );
  }
  return value;
}

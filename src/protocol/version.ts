/**
 * The version of the wire protocol. Every connection's handshake carries it
 * (`src/comm/handshake.ts`): a client, scheduler or worker of another
 * version is refused with a message naming both. Raise it with any change
 * to a message's shape that an older peer would misread.
 *
 * @module
 */

/**
 * The protocol version this code speaks.
 *
 * @example
 * ```ts
 * import { PROTOCOL_VERSION } from "./version.ts";
 * console.log(PROTOCOL_VERSION); // 1
 * ```
 */
export const PROTOCOL_VERSION: number = 1;

/**
 * The default largest message a scheduler, worker or client accepts after
 * the handshake (`--max-message-size`, the client's `maxMessageSize`):
 * 16 GiB, well above the largest value a worker can hold in memory on
 * most machines (a value travels as one message, except a spilled key too
 * large for the holder's memory, which goes in slices).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE } from "./version.ts";
 * console.log(DEFAULT_MAX_MESSAGE_SIZE / 2 ** 30); // 16
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE: number = 16 * 2 ** 30;

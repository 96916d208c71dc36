/**
 * Reading whole messages off a byte stream, one message = one Spillway encoding (see
 * `src/serialize/frames.ts`): the 16-byte prelude says how long the rest is, so no extra
 * length prefix is needed.
 *
 * What is checked, and when:
 * 1. magic, version and flags, as soon as their bytes arrive (garbage is refused after its
 *    first bytes, without waiting for a whole prelude);
 * 2. that the buffer-length table and the header fit in `maxMessageBytes`, before the table
 *    is read;
 * 3. every buffer length, and the running total against `maxMessageBytes`, before the message
 *    buffer is allocated.
 *
 * Only then is ONE `Uint8Array` allocated for the whole message, and the rest of the bytes are
 * read straight into it: a big payload is never copied through an intermediate buffer. Small
 * pieces (the prelude, small messages, the tail of a message) go through one reused scratch
 * buffer, which may read ahead into the next message. The message buffer starts at offset 0 of
 * a fresh `ArrayBuffer` (or wherever the `allocate` option says, 64-byte aligned), so the
 * 64-byte alignment of the encoding holds in memory and typed arrays can view it.
 *
 * @module
 */

import {
  alignFrameOffset as alignUp,
  FRAME_ALIGNMENT,
  FRAME_MAGIC as MAGIC,
  FRAME_PRELUDE_BYTES as PRELUDE,
  FRAME_VERSION as VERSION,
  readBufferLength,
} from "../serialize/layout.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Where bytes come from: the `read` half of a `Deno.Conn` (or any `Deno.Reader`).
 *
 * @example
 * ```ts
 * import type { ByteSource } from "./message_reader.ts";
 * const empty: ByteSource = { read: () => Promise.resolve(null) };
 * ```
 */
export interface ByteSource {
  /**
   * Reads up to `p.byteLength` bytes into `p`.
   *
   * @param p where to put the bytes
   * @returns the number of bytes read, or `null` at end of stream
   */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Default limit on the size of one message: 2 GiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_BYTES } from "./message_reader.ts";
 * console.log(DEFAULT_MAX_MESSAGE_BYTES); // 2147483648
 * ```
 */
export const DEFAULT_MAX_MESSAGE_BYTES: number = 2 ** 31;

/**
 * Options of {@link MessageReader}.
 *
 * @example
 * ```ts
 * import type { MessageReaderOptions } from "./message_reader.ts";
 * const options: MessageReaderOptions = { maxMessageBytes: 64 * 2 ** 20 };
 * ```
 */
export interface MessageReaderOptions {
  /**
   * Largest message accepted, in bytes; a message declaring more is refused before anything
   * is allocated for it. Default {@link DEFAULT_MAX_MESSAGE_BYTES} (2 GiB).
   */
  maxMessageBytes?: number;
  /**
   * Allocates the buffer a message is read into. It must return a `Uint8Array` of exactly
   * `byteLength` bytes whose `byteOffset` is a multiple of 64; the reader fills all of it and
   * hands it out, so it must not be reused while the message is in use. Default: a fresh
   * `new Uint8Array(byteLength)`. A pool of pre-touched buffers, or an mmap of a file, can be
   * plugged in here.
   */
  allocate?: (byteLength: number) => Uint8Array;
}

/** Scratch size: small reads (preludes, small messages) go through it. */
const SCRATCH_BYTES = 64 * 1024;
/** Remainders smaller than this are read through the scratch buffer (with read-ahead). */
const SMALL_READ = 16 * 1024;

/**
 * Reads whole messages from a {@link ByteSource}, validating the prelude and the declared
 * sizes before allocating. One reader per stream; calls to {@link MessageReader.next} must not
 * overlap (a `Connection` serializes them).
 *
 * @example
 * ```ts
 * import { MessageReader } from "./message_reader.ts";
 * import { encodeFrames, serialize } from "../serialize/mod.ts";
 *
 * const chunks = encodeFrames(serialize({ hello: "world" }));
 * const source = {
 *   read(p: Uint8Array): Promise<number | null> {
 *     const c = chunks.shift();
 *     if (c === undefined) return Promise.resolve(null);
 *     p.set(c); // (these chunks are small enough for one read)
 *     return Promise.resolve(c.byteLength);
 *   },
 * };
 * const reader = new MessageReader(source);
 * const message = await reader.next(); // Uint8Array: the whole encoding
 * console.log(await reader.next()); // null: clean end of stream
 * ```
 */
export class MessageReader {
  #source: ByteSource;
  #max: number;
  #allocate: ((byteLength: number) => Uint8Array) | undefined;
  #scratch: Uint8Array = new Uint8Array(SCRATCH_BYTES);
  /** Unconsumed bytes are `#scratch[#start, #end)`. */
  #start = 0;
  #end = 0;
  #bytesRead = 0;

  /**
   * Creates a reader.
   *
   * @param source where the bytes come from, e.g. a `Deno.Conn`
   * @param options size limit and allocator
   */
  constructor(source: ByteSource, options: MessageReaderOptions = {}) {
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isSafeInteger(max) || max < PRELUDE) {
      throw new RangeError(
        `maxMessageBytes must be an integer >= ${PRELUDE}, got ${max}`,
      );
    }
    this.#source = source;
    this.#max = max;
    this.#allocate = options.allocate;
  }

  /** Bytes read from the source so far (including read-ahead not yet returned). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** The size limit in force, in bytes. */
  get maxMessageBytes(): number {
    return this.#max;
  }

  /**
   * Changes the size limit for the messages read from now on (the handshake reads with a small
   * one, then raises it).
   *
   * @throws {RangeError} for a limit that is not an integer >= 16
   */
  set maxMessageBytes(max: number) {
    if (!Number.isSafeInteger(max) || max < PRELUDE) {
      throw new RangeError(
        `maxMessageBytes must be an integer >= ${PRELUDE}, got ${max}`,
      );
    }
    this.#max = max;
  }

  /**
   * Reads the next whole message.
   *
   * @returns the message's bytes (one complete encoding, not yet decoded), or `null` when the
   *   stream ended cleanly between two messages
   * @throws {ProtocolError} for a malformed prelude, corrupt or oversized lengths, or a stream
   *   that ends inside a message; the stream is then unusable
   */
  async next(): Promise<Uint8Array | null> {
    if (this.#buffered() === 0 && !(await this.#readMore())) return null;
    // 1. The fixed prelude, validated field by field as its bytes arrive.
    for (;;) {
      this.#checkPrelude();
      if (this.#buffered() >= PRELUDE) break;
      if (!(await this.#readMore())) {
        throw new ProtocolError(
          `truncated: end of stream after ${this.#buffered()} bytes of the ${PRELUDE}-byte prelude`,
        );
      }
    }
    const s = this.#scratch;
    const at = this.#start;
    const view = new DataView(s.buffer, s.byteOffset + at, PRELUDE);
    const headerLength = view.getUint32(8, true);
    const count = view.getUint32(12, true);
    const max = this.#max;
    // 2. Table and header must fit before the table is read (count * 8 is exact: count < 2^32).
    if (count * 8 > max - PRELUDE) {
      throw new ProtocolError(
        `buffer table of ${count} entries exceeds the ${max}-byte message limit`,
      );
    }
    const tableEnd = PRELUDE + 8 * count;
    if (headerLength > max - tableEnd) {
      throw new ProtocolError(
        `header of ${headerLength} bytes after a ${count}-entry table exceeds the ${max}-byte message limit`,
      );
    }
    await this.#fill(tableEnd);
    // 3. The total, checked against the limit entry by entry, before allocating.
    const table = new DataView(
      this.#scratch.buffer,
      this.#scratch.byteOffset + this.#start,
      tableEnd,
    );
    let total = tableEnd + headerLength;
    for (let i = 0; i < count; i++) {
      const len = readBufferLength(table, i);
      if (len < 0) {
        throw new ProtocolError(
          `buffer ${i}: length exceeds Number.MAX_SAFE_INTEGER`,
        );
      }
      const start = alignUp(total);
      if (len > max - start) {
        throw new ProtocolError(
          `message exceeds the ${max}-byte limit (buffer ${i} of ${len} bytes ends at ${
            start + len
          })`,
        );
      }
      total = start + len;
    }
    // 4. One buffer for the whole message; the rest goes straight into it.
    const message = this.#allocateMessage(total);
    const have = Math.min(this.#buffered(), total);
    message.set(this.#scratch.subarray(this.#start, this.#start + have));
    this.#start += have;
    let filled = have;
    while (filled < total) {
      const remaining = total - filled;
      if (remaining < SMALL_READ) {
        // Small tail: read ahead through the scratch buffer.
        if (!(await this.#readMore())) this.#truncated(filled, total);
        const n = Math.min(this.#buffered(), remaining);
        message.set(
          this.#scratch.subarray(this.#start, this.#start + n),
          filled,
        );
        this.#start += n;
        filled += n;
      } else {
        // Not capped on purpose. An uncapped read empties the socket buffer, so the next read
        // finds nothing, waits, and the event loop runs timers meanwhile. With reads capped at
        // 1 MiB, data was always ready, each read completed at once, and timers starved:
        // longest loop gap 183-340 ms against 10-33 ms uncapped (1 GiB into fresh memory,
        // loopback, measured 2026-11 on the 2-vCPU VM).
        const n = await this.#source.read(message.subarray(filled));
        if (n === null) this.#truncated(filled, total);
        this.#bytesRead += n;
        filled += n;
      }
    }
    if (this.#buffered() === 0) {
      this.#start = this.#end = 0;
      // A big table made the scratch grow: give the memory back.
      if (this.#scratch.byteLength > SCRATCH_BYTES) {
        this.#scratch = new Uint8Array(SCRATCH_BYTES);
      }
    }
    return message;
  }

  #buffered(): number {
    return this.#end - this.#start;
  }

  #truncated(filled: number, total: number): never {
    throw new ProtocolError(
      `truncated: end of stream after ${filled} of ${total} message bytes`,
    );
  }

  /** Validates whatever part of the prelude has arrived. */
  #checkPrelude(): void {
    const s = this.#scratch;
    const at = this.#start;
    const n = Math.min(this.#buffered(), PRELUDE);
    for (let i = 0; i < Math.min(n, 4); i++) {
      if (s[at + i] !== MAGIC[i]) {
        // A TLS record (handshake 0x16 or alert 0x15, version 3.x): the
        // two ends disagree on TLS.
        const tls = (s[at] === 0x15 || s[at] === 0x16) &&
          (n < 2 || s[at + 1] === 0x03);
        throw new ProtocolError(
          `bad magic: not a Spillway "SPWF" message (first bytes ${
            hex(s.subarray(at, at + Math.min(n, 8)))
          })${
            tls
              ? "; these bytes are TLS: one end uses TLS and the other plain TCP (connect to a TLS server's tls:// address, with its CA)"
              : ""
          }`,
        );
      }
    }
    if (n >= 6) {
      const version = s[at + 4] | (s[at + 5] << 8);
      if (version !== VERSION) {
        throw new ProtocolError(
          `unsupported version ${version} (expected ${VERSION})`,
        );
      }
    }
    if (n >= 8) {
      const flags = s[at + 6] | (s[at + 7] << 8);
      if (flags !== 0) {
        throw new ProtocolError(`unsupported flags 0x${flags.toString(16)}`);
      }
    }
  }

  #allocateMessage(total: number): Uint8Array {
    let message: Uint8Array;
    try {
      message = this.#allocate === undefined
        ? new Uint8Array(total)
        : this.#allocate(total);
    } catch (e) {
      throw new ProtocolError(
        `cannot allocate ${total} bytes for a message: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { cause: e },
      );
    }
    if (
      !(message instanceof Uint8Array) || message.byteLength !== total ||
      message.byteOffset % FRAME_ALIGNMENT !== 0
    ) {
      throw new TypeError(
        `allocate(${total}) must return a Uint8Array of exactly ${total} bytes at a 64-byte aligned offset`,
      );
    }
    return message;
  }

  /** Ensures at least `n` bytes are buffered, growing the scratch buffer if needed. */
  async #fill(n: number): Promise<void> {
    while (this.#buffered() < n) {
      if (!(await this.#readMore(n))) {
        throw new ProtocolError(
          `truncated: end of stream after ${this.#buffered()} of ${n} bytes of prelude and buffer table`,
        );
      }
    }
  }

  /**
   * Reads once into the scratch buffer (compacting or growing it so that `want` bytes fit).
   * Returns false at end of stream.
   */
  async #readMore(want = 0): Promise<boolean> {
    const buffered = this.#buffered();
    let s = this.#scratch;
    if (this.#end === s.byteLength || want > s.byteLength - this.#start) {
      if (want > s.byteLength) {
        // Grow geometrically as the bytes arrive, never past what is needed.
        const grown = new Uint8Array(Math.min(want, 2 * s.byteLength));
        grown.set(s.subarray(this.#start, this.#end));
        this.#scratch = s = grown;
      } else {
        s.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = buffered;
    }
    const n = await this.#source.read(s.subarray(this.#end));
    if (n === null) return false;
    this.#bytesRead += n;
    this.#end += n;
    return true;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

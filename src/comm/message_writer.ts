/**
 * Writing messages to a byte stream, in order, one after the other.
 *
 * A message is given as the chunks of `encodeFrames` (the prelude and header, then each
 * payload buffer as the caller's own memory, with padding in between). The writer never builds
 * the message as one buffer:
 * - a large chunk is written in slices of at most `sliceBytes` (1 MiB by default), because Deno
 *   copies each write's buffer on the JS thread (docs/platform.md#blocking-writes): a 64 MiB write would
 *   stall the event loop for tens of ms, a 1 MiB slice costs well under one;
 * - runs of small chunks (prelude, padding, small buffers) are gathered into one write, so a
 *   small message is one write (one packet with `setNoDelay`), not five.
 *
 * Messages are queued: concurrent {@link MessageWriter.write} calls never interleave on the
 * stream, and each completes when its last byte is handed to the OS.
 *
 * @module
 */

/**
 * Where bytes go: the `write` half of a `Deno.Conn` (or any `Deno.Writer`).
 *
 * @example
 * ```ts
 * import type { ByteSink } from "./message_writer.ts";
 * const discard: ByteSink = { write: (p) => Promise.resolve(p.byteLength) };
 * ```
 */
export interface ByteSink {
  /**
   * Writes some of `p` (possibly fewer bytes than given).
   *
   * @param p the bytes to write
   * @returns the number of bytes written
   */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Default largest single write, in bytes: 1 MiB.
 *
 * @example
 * ```ts
 * import { WRITE_SLICE_BYTES } from "./message_writer.ts";
 * console.log(WRITE_SLICE_BYTES); // 1048576
 * ```
 */
export const WRITE_SLICE_BYTES: number = 2 ** 20;

/** Chunks smaller than this are gathered with their neighbours into one write. */
const SMALL_CHUNK = 16 * 1024;
/** Largest gathered write. */
const GATHER_BYTES = 64 * 1024;

/**
 * Options of {@link MessageWriter}.
 *
 * @example
 * ```ts
 * import type { MessageWriterOptions } from "./message_writer.ts";
 * const options: MessageWriterOptions = { sliceBytes: 256 * 1024 };
 * ```
 */
export interface MessageWriterOptions {
  /** Largest single write, in bytes. Default {@link WRITE_SLICE_BYTES} (1 MiB). */
  sliceBytes?: number;
}

/**
 * A per-stream write queue: messages go out whole and in the order of the `write` calls.
 * After a failed write the stream is broken: that message and every later one reject with the
 * same error.
 *
 * @example
 * ```ts
 * import { MessageWriter } from "./message_writer.ts";
 * import { encodeFrames, serialize } from "../serialize/mod.ts";
 *
 * const received: Uint8Array[] = [];
 * const sink = {
 *   write(p: Uint8Array): Promise<number> {
 *     received.push(p.slice());
 *     return Promise.resolve(p.byteLength);
 *   },
 * };
 * const writer = new MessageWriter(sink);
 * await Promise.all([
 *   writer.write(encodeFrames(serialize("first"))),
 *   writer.write(encodeFrames(serialize("second"))),
 * ]);
 * console.log(writer.bytesWritten);
 * ```
 */
export class MessageWriter {
  #sink: ByteSink;
  #slice: number;
  #queue: QueuedMessage[] = [];
  #pumping = false;
  #failure: { error: unknown } | undefined;
  #bytesWritten = 0;
  #queuedBytes = 0;

  /**
   * Creates a writer.
   *
   * @param sink where the bytes go, e.g. a `Deno.Conn`
   * @param options slice size
   */
  constructor(sink: ByteSink, options: MessageWriterOptions = {}) {
    const slice = options.sliceBytes ?? WRITE_SLICE_BYTES;
    if (!Number.isSafeInteger(slice) || slice < 1) {
      throw new RangeError(
        `sliceBytes must be a positive integer, got ${slice}`,
      );
    }
    this.#sink = sink;
    this.#slice = slice;
  }

  /** Bytes handed to the sink so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Bytes of queued messages not yet written (a measure of backpressure). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Queues one message. Its chunks are written after every earlier message, consecutively.
   * The chunks are read while they are written: leave them unchanged until this resolves.
   *
   * @param chunks the message, e.g. `encodeFrames(serialize(value))`
   * @returns resolves when the last byte has been written
   * @throws the sink's error, for this message and all later ones, once a write fails
   */
  write(chunks: readonly Uint8Array[]): Promise<void> {
    let bytes = 0;
    for (const c of chunks) bytes += c.byteLength;
    this.#queuedBytes += bytes;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ chunks, bytes, resolve, reject });
      if (!this.#pumping) {
        this.#pumping = true;
        // Start after this turn, so that the messages queued in it can share writes.
        queueMicrotask(() => this.#pump());
      }
    });
  }

  /**
   * Writes queued messages in order. A run of small messages (an RPC burst:
   * a reply per request, a notification per task) is coalesced into one
   * write, so a burst costs one system call, not one per message.
   */
  async #pump(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = [this.#queue.shift()!];
      let total = batch[0].bytes;
      while (
        total < GATHER_BYTES && this.#queue.length > 0 &&
        total + this.#queue[0].bytes <= GATHER_BYTES
      ) {
        const next = this.#queue.shift()!;
        batch.push(next);
        total += next.bytes;
      }
      // Bytes of the batch written so far: on a failure, the messages
      // written whole before it still resolve.
      let written = 0;
      try {
        if (this.#failure !== undefined) throw this.#failure.error;
        if (batch.length === 1) {
          await this.#writeChunks(batch[0].chunks);
        } else {
          const bytes = concat(batch.flatMap((m) => m.chunks), total);
          await this.#writeAll(bytes, (n) => written += n);
        }
        for (const m of batch) m.resolve();
      } catch (error) {
        this.#failure ??= { error };
        let end = 0;
        for (const m of batch) {
          end += m.bytes;
          if (batch.length > 1 && end <= written) m.resolve();
          else m.reject(error);
        }
      } finally {
        this.#queuedBytes -= total;
      }
    }
    this.#pumping = false;
  }

  async #writeChunks(chunks: readonly Uint8Array[]): Promise<void> {
    let gathered: Uint8Array[] = [];
    let gatheredBytes = 0;
    for (const chunk of chunks) {
      const n = chunk.byteLength;
      if (n === 0) continue;
      if (n < SMALL_CHUNK && gatheredBytes + n <= GATHER_BYTES) {
        gathered.push(chunk);
        gatheredBytes += n;
        continue;
      }
      if (gatheredBytes > 0) {
        await this.#writeAll(concat(gathered, gatheredBytes));
        gathered = [];
        gatheredBytes = 0;
      }
      if (n < SMALL_CHUNK) {
        gathered.push(chunk);
        gatheredBytes = n;
      } else {
        await this.#writeAll(chunk);
      }
    }
    if (gatheredBytes > 0) {
      await this.#writeAll(concat(gathered, gatheredBytes));
    }
  }

  /** Writes all of `bytes`, in slices of at most `#slice`, retrying partial writes. */
  async #writeAll(
    bytes: Uint8Array,
    progress?: (n: number) => void,
  ): Promise<void> {
    let at = 0;
    while (at < bytes.byteLength) {
      const end = Math.min(bytes.byteLength, at + this.#slice);
      const n = await this.#sink.write(bytes.subarray(at, end));
      this.#bytesWritten += n;
      progress?.(n);
      at += n;
    }
  }
}

interface QueuedMessage {
  chunks: readonly Uint8Array[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Writing a value's frames to a file, for tests that map files directly. */
import { encodeFrames } from "../../src/serialize/frames.ts";
import { serialize } from "../../src/serialize/serialize.ts";

/** Writes `value` serialized (the spill-file layout) to `path`; returns the file's bytes. */
export async function writeValueFile(
  path: string,
  value: unknown,
): Promise<Uint8Array> {
  const chunks = encodeFrames(serialize(value));
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  await Deno.writeFile(path, bytes);
  return bytes;
}

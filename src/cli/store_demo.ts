/**
 * `spillway store-demo`: the store on its own, with a data set larger than
 * its memory target, read back and checked.
 *
 * @module
 */
import { parseFlags, size } from "./args.ts";
import { USAGE } from "./usage.ts";

/**
 * `spillway store-demo`.
 *
 * @param args The arguments after the command name.
 * @returns The exit status: 0 when every chunk read back intact, else 1.
 */
export async function storeDemoCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(
    args,
    {
      data: { type: "string" },
      chunk: { type: "string" },
      memory: { type: "string" },
      dir: { type: "string" },
    },
    USAGE,
    { wholeMessage: true },
  );
  if (parsed === null) return 0;
  const v = parsed.values;
  const dataBytes = size("data", (v.data as string) ?? "1GiB", USAGE);
  const chunkBytes = size("chunk", (v.chunk as string) ?? "32MiB", USAGE);
  const memory = size("memory", (v.memory as string) ?? "256MiB", USAGE);
  const { runStoreDemo } = await import("../demo/store_demo.ts");
  const result = await runStoreDemo({
    dataBytes,
    chunkBytes,
    target: memory,
    directory: v.dir as string | undefined,
  });
  const chunks = Math.max(1, Math.floor(dataBytes / chunkBytes));
  if (result.verified !== chunks) {
    console.error(
      `spillway: ${chunks - result.verified} chunks read back wrong`,
    );
    return 1;
  }
  return 0;
}

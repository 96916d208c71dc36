/**
 * Spillway imported the way Deno users import it: by a program in another
 * directory with no deno.json of its own (so no import map), by path and by
 * `file:` URL, and over `http:` from a local server with
 * `--allow-import=127.0.0.1:<port>`. Each child program does real work with
 * what it imported.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MOD = join(ROOT, "mod.ts");

/** A round trip through the codec, with a class of the child's own. */
function codecProgram(specifier: string): string {
  return `import { deserialize, registerCodec, serialize } from ${
    JSON.stringify(specifier)
  };
class P {
  constructor(readonly x: number) {}
}
registerCodec(P, { name: "child.P", encode: (p) => p.x, decode: (x: number) => new P(x) });
const back = deserialize(serialize({ p: new P(3), xs: new Float64Array([1, 2]) })) as {
  p: P;
  xs: Float64Array;
};
console.log(JSON.stringify({ isP: back.p instanceof P, x: back.p.x, xs: [...back.xs] }));
`;
}

/** Runs `source` as main.ts of a fresh directory with no deno.json. */
async function runProgram(
  source: string,
  flags: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "spillway-import-" });
  try {
    await Deno.writeTextFile(join(dir, "main.ts"), source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, "main.ts"],
      cwd: dir,
      stdin: "null",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertRoundTrip(
  run: { code: number; stdout: string; stderr: string },
): void {
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim().split("\n").at(-1)!), {
    isP: true,
    x: 3,
    xs: [1, 2],
  });
}

Deno.test("a program elsewhere with no deno.json imports mod.ts by path", async () => {
  assertRoundTrip(await runProgram(codecProgram(MOD), []));
});

Deno.test("a program elsewhere with no deno.json imports mod.ts by file: URL and runs a LocalCluster", async () => {
  const url = new URL("../../mod.ts", import.meta.url).href;
  const source = `import { Client, LocalCluster } from ${JSON.stringify(url)};
const dir = await Deno.makeTempDir();
await Deno.writeTextFile(dir + "/ops.ts", "export const add = (a: number, b: number) => a + b;\\n");
await using cluster = await LocalCluster.start({ workers: 1, modules: [dir], log: () => {} });
await using client = await Client.connect(cluster.address, { log: () => {} });
const ops = client.module<{ add(a: number, b: number): number }>(new URL("file://" + dir + "/ops.ts"));
console.log(JSON.stringify({ sum: await ops.add(ops.add(1, 2), 4).result() }));
await Deno.remove(dir, { recursive: true });
`;
  const run = await runProgram(source, ["-A"]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim().split("\n").at(-1)!), {
    sum: 7,
  });
});

Deno.test("a program imports mod.ts over http from 127.0.0.1 with --allow-import", async () => {
  // The checkout, served as files.
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path.includes("..")) return new Response(null, { status: 400 });
      try {
        return new Response(await Deno.readFile(join(ROOT, path)), {
          headers: { "content-type": "application/typescript" },
        });
      } catch {
        return new Response(null, { status: 404 });
      }
    },
  );
  const port = server.addr.port;
  const run = await runProgram(
    codecProgram(`http://127.0.0.1:${port}/mod.ts`),
    [`--allow-import=127.0.0.1:${port}`],
  );
  assertRoundTrip(run);
});

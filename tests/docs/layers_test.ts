/**
 * The layer rules of docs/architecture.md, enforced: every folder under
 * `src/` is in the table of its "Layers" section, and each of its modules
 * imports (statically or with `import()`) only from its own folder and
 * the folders its row allows.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SRC = join(ROOT, "src");

/** The rows of the "Layers" table: folder → folders it may import. */
async function layerTable(): Promise<Map<string, Set<string>>> {
  const text = await Deno.readTextFile(join(ROOT, "docs/architecture.md"));
  const section = text.split(/^## /m).find((s) => s.startsWith("Layers"));
  if (section === undefined) throw new Error("no ## Layers section");
  const table = new Map<string, Set<string>>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    // | `folder` | `a`, `b` | what it is |
    const folder = /^`([a-z_]+)\/?`$/.exec(cells[1] ?? "")?.[1];
    if (folder === undefined) continue;
    const allowed = [...(cells[2] ?? "").matchAll(/`([a-z_]+)\/?`/g)].map((
      m,
    ) => m[1]);
    table.set(folder, new Set(allowed));
  }
  return table;
}

async function* modules(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* modules(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Relative specifiers a module imports, outside comments. */
function importsOf(source: string): string[] {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /\bfrom\s+"(\.{1,2}\/[^"]+)"/g,
    /\bimport\s*\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g,
    /^\s*import\s+"(\.{1,2}\/[^"]+)"/gm,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) found.push(match[1]);
  }
  return found;
}

function folderOf(path: string): string {
  return relative(SRC, path).split("/")[0];
}

Deno.test("every folder under src/ has a row in docs/architecture.md's layer table", async () => {
  const table = await layerTable();
  const folders: string[] = [];
  for await (const entry of Deno.readDir(SRC)) {
    if (entry.isDirectory) folders.push(entry.name);
  }
  assertEquals(
    folders.filter((f) => !table.has(f)).sort(),
    [],
    "folders missing from the table",
  );
  assertEquals(
    [...table.keys()].filter((f) => !folders.includes(f)).sort(),
    [],
    "rows naming no folder",
  );
});

Deno.test("each folder imports only what docs/architecture.md allows it", async () => {
  const table = await layerTable();
  const violations: string[] = [];
  for await (const path of modules(SRC)) {
    const from = folderOf(path);
    const allowed = table.get(from) ?? new Set<string>();
    for (const specifier of importsOf(await Deno.readTextFile(path))) {
      const target = resolve(dirname(path), specifier);
      if (!target.startsWith(SRC + "/")) {
        violations.push(
          `${relative(ROOT, path)} imports ${specifier} (outside src/)`,
        );
        continue;
      }
      const to = folderOf(target);
      if (to !== from && !allowed.has(to)) {
        violations.push(
          `${relative(ROOT, path)} (${from}) imports ${to}: ${specifier}`,
        );
      }
    }
  }
  assertEquals(violations, []);
});

Deno.test("the import check sees static, dynamic and type imports", () => {
  const source = [
    'import { a } from "../store/a.ts";',
    'import type { B } from "../protocol/b.ts";',
    'const c = await import("../worker/c.ts");',
    '// import { d } from "../cli/d.ts";',
    '/** import { e } from "../demo/e.ts"; */',
  ].join("\n");
  assertEquals(importsOf(source), [
    "../store/a.ts",
    "../protocol/b.ts",
    "../worker/c.ts",
  ]);
});

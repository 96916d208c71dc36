/**
 * Run by tmpfs_check_test.ts in a child process with chosen permissions:
 * `check <dir> <limit>` prints what checkSharedSpillRoot says; `map <file>`
 * prints what mapping the file says. One JSON line on stdout.
 */
// The whole store module: importing it must need no --allow-ffi.
import {
  checkSharedSpillRoot,
  mapFile,
  SharedSpillRootError,
} from "../../src/store/mod.ts";

const [mode, path, limit] = Deno.args;
try {
  if (mode === "check") {
    const root = checkSharedSpillRoot(path, Number(limit));
    console.log(
      JSON.stringify({ ok: true, dev: root.dev, warnings: root.warnings }),
    );
  } else {
    console.log(JSON.stringify({ ok: true, bytes: mapFile(path).byteLength }));
  }
} catch (error) {
  console.log(JSON.stringify({
    ok: false,
    name: (error as Error).name,
    message: (error as Error).message,
    codes: error instanceof SharedSpillRootError
      ? error.problems.map((p) => p.code)
      : [],
  }));
}

/**
 * In shared-memory mode a worker's memory limit counts `RssAnon`:
 * the tmpfs pages it maps and only reads are the tmpfs's, counted once for
 * the host; the pages it writes to (copy-on-write) are its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { mountTmpfs, tmpfsUnavailable } from "../_support/tmpfs.ts";
import { runDeno } from "../_support/run.ts";

const MiB = 2 ** 20;
const CHILD = new URL("./_private_memory_child.ts", import.meta.url);

interface Figures {
  private: number;
  rss: number;
}

Deno.test({
  name:
    "privateMemory: mapped tmpfs pages that are only read do not count; pages written to do",
  ignore: tmpfsUnavailable !== null,
  async fn() {
    await using tmpfs = await mountTmpfs("96m");
    const file = join(tmpfs.path, "value.spw");
    await Deno.writeFile(file, new Uint8Array(64 * MiB).fill(3));
    const output = await runDeno(["-A"], CHILD, [file]);
    assert.ok(output.code === 0, "the child ran");
    const { before, read, written, sum } = JSON.parse(output.stdout) as {
      before: Figures;
      read: Figures;
      written: Figures;
      sum: number;
    };
    assert.equal(sum, 3 * 16 * 1024, "every page was read");
    // Reading brought the whole file into the process's RSS...
    assert.ok(
      read.rss - before.rss > 56 * MiB,
      JSON.stringify({ before, read }),
    );
    // ...but not into the memory its limit counts.
    assert.ok(
      read.private - before.private < 8 * MiB,
      JSON.stringify({ before, read }),
    );
    // Writing made each page the process's own copy.
    assert.ok(
      written.private - before.private > 56 * MiB,
      JSON.stringify({ before, written }),
    );
  },
});

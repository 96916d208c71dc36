/**
 * Run by private_memory_test.ts in a child process (so that no other test's
 * memory is counted): maps the file given, reads every page, then writes
 * every page, and prints what `privateMemory()` and VmRSS said after each
 * step, as one JSON line.
 */
import { mapFile } from "../../src/store/mapping.ts";
import { privateMemory } from "../../src/worker/private_memory.ts";

const PAGE = 4096;
const rss = () =>
  Number(
    /^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))![1],
  ) *
  1024;

const view = mapFile(Deno.args[0]);
const before = { private: privateMemory(), rss: rss() };
let sum = 0;
for (let i = 0; i < view.length; i += PAGE) sum += view[i];
const read = { private: privateMemory(), rss: rss() };
for (let i = 0; i < view.length; i += PAGE) view[i] = 1;
const written = { private: privateMemory(), rss: rss() };
console.log(JSON.stringify({ before, read, written, sum }));

/**
 * Child of libc_test.ts: counts `Deno.dlopen` calls while it imports the
 * store, the worker, the scheduler, the nanny and the public module, then
 * runs a private-mode store through a spill and a read back. Prints the
 * count.
 */
let opens = 0;
const dlopen = Deno.dlopen;
Object.defineProperty(Deno, "dlopen", {
  value: (...args: Parameters<typeof Deno.dlopen>) => {
    opens++;
    return dlopen(...args);
  },
});

await import("../../mod.ts");
await import("../../src/store/mod.ts");
await import("../../src/worker/worker_node.ts");
await import("../../src/scheduler/mod.ts");
await import("../../src/cluster/nanny.ts");
const { PeerSpillBuffer } = await import("../../src/store/peer_files.ts");

const directory = await Deno.makeTempDir();
try {
  await using store = new PeerSpillBuffer({ directory, target: 0 });
  store.set("x", new Float64Array(1024).fill(7));
  await store.idle();
  const state = store.state("x");
  const x = await store.get("x") as Float64Array;
  console.log(JSON.stringify({ opens, state, sum: x.reduce((a, b) => a + b) }));
} finally {
  await Deno.remove(directory, { recursive: true });
}

/**
 * The program that started a LocalCluster dies without close() (SIGKILL):
 * its scheduler, nannies and workers exit, and every spill directory, the
 * cluster's root included, is removed.
 */
import assert from "node:assert/strict";
import { exists, until } from "../cluster/_support.ts";

/** Pids of processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

Deno.test("SIGKILL of the program that started a LocalCluster: no process and no spill directory stays behind", async () => {
  const base = await Deno.makeTempDir({ prefix: "spillway-orphan-test-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_orphan_child.ts", import.meta.url).pathname,
        base,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    let root = "";
    while (root === "") {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      root = /^ready (.*)\n/m.exec(text)?.[1] ?? "";
    }
    assert.ok(root.startsWith(base), `the child's cluster started: ${root}`);
    const processes = processesMentioning(root);
    // The scheduler and two nannies, each nanny's worker process.
    assert.ok(processes.length >= 5, `processes: ${processes.join(", ")}`);
    const spilled = filesUnder(root).filter((f) => !f.includes("/tls/"));
    assert.ok(spilled.length >= 4, `spill files: ${spilled.join(", ")}`);

    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    await until(
      () => processesMentioning(root).length === 0,
      "the cluster's processes to exit",
    );
    await until(() => !exists(root), "the cluster's root to be removed");
    assert.deepEqual(filesUnder(base), []);
  } finally {
    // Whatever a failure left: its processes, then the directory.
    for (const pid of processesMentioning(base)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
});

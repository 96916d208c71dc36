import assert from "node:assert/strict";
import { ExecutorPool } from "../../src/worker/executor_pool.ts";
import { runDeno } from "../_support/run.ts";

const SCRIPT = new URL("./fixtures/sandbox_main.ts", import.meta.url).pathname;

async function sandboxReport(flags: string[], args: string[] = []) {
  const { code, stdout, stderr } = await runDeno(
    ["-A", ...flags],
    SCRIPT,
    args,
  );
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

Deno.test("permissions without the worker-options flag are refused, not fatal", () => {
  assert.throws(
    () =>
      new ExecutorPool({
        permissions: { read: [] },
        workerOptionsEnabled: false,
      }),
    { name: "TypeError", message: /--unstable-worker-options/ },
  );
});

Deno.test("with --unstable-worker-options, executors are sandboxed", async () => {
  const report = await sandboxReport(["--unstable-worker-options"]);
  assert.equal(report.flag, true);
  assert.deepEqual(report.add, { ok: 3 });
  assert.ok(report.ownDir.ok > 0, JSON.stringify(report));
  assert.deepEqual(report.etcPasswd, { remoteName: "NotCapable" });
  assert.deepEqual(report.env, { remoteName: "NotCapable" });
});

Deno.test("the flag as a script argument is not mistaken for the Deno flag", async () => {
  const report = await sandboxReport([], ["--unstable-worker-options"]);
  assert.equal(report.flag, false);
  assert.match(report.refused, /^TypeError: .*--unstable-worker-options/);
});

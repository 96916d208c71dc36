/** The process layer's pure parts: role commands, child permissions, durations, RSS. */
import assert from "node:assert/strict";
import { parseDuration } from "../../src/cli/args.ts";
import { pumpLines } from "../../src/cluster/lines.ts";
import {
  childFlags,
  type PermissionQuery,
} from "../../src/cluster/permissions.ts";
import { RssProbe } from "../../src/platform/rss_probe.ts";
import {
  CLI_URL,
  roleCommand,
  workerArgs,
  workerV8Flags,
} from "../../src/cluster/spawn.ts";
import { parseFlags } from "../../src/cli/args.ts";
import {
  WORKER_FLAGS,
  WORKER_USAGE,
  workerSettings,
} from "../../src/cli/worker_flags.ts";
import type { WorkerConfig } from "../../src/worker/config.ts";

Deno.test("roleCommand: deno run … cli.ts from source, the binary itself when compiled", () => {
  const source = roleCommand(
    "worker-process",
    ["tcp://h:1"],
    ["--allow-net"],
    false,
  );
  assert.equal(source.command, Deno.execPath());
  assert.deepEqual(source.args, [
    "run",
    "--no-prompt",
    "--allow-net",
    CLI_URL.pathname,
    "worker-process",
    "tcp://h:1",
  ]);
  const compiled = roleCommand(
    "worker-process",
    ["tcp://h:1"],
    ["--allow-net"],
    true,
  );
  assert.equal(compiled.command, Deno.execPath());
  assert.deepEqual(compiled.args, ["worker-process", "tcp://h:1"]);
});

/** A nanny holding exactly `grants`. */
function holding(grants: {
  net?: string[] | true;
  read?: string[] | true;
  write?: string[] | true;
  sys?: string[];
  all?: boolean;
}): PermissionQuery {
  const covers = (granted: string[] | true | undefined, item?: string) =>
    granted === true ||
    (item !== undefined && granted !== undefined &&
      granted.some((g) => item === g || item.startsWith(`${g}/`)));
  return (d) => {
    if (grants.all) return true;
    switch (d.name) {
      case "net":
        return covers(grants.net, d.host);
      case "read":
        return covers(grants.read, d.path?.toString());
      case "write":
        return covers(grants.write, d.path?.toString());
      case "sys":
        return d.kind !== undefined && (grants.sys ?? []).includes(d.kind);
      default:
        return false;
    }
  };
}

const needs = {
  netHosts: ["127.0.0.1"],
  spillDir: "/spill/w0/spillway-worker-1",
  read: ["/tasks", "/src/worker"],
  anyRead: false,
};

Deno.test("childFlags: what the worker needs, within what the nanny holds", () => {
  const scoped = holding({
    net: ["127.0.0.1"],
    read: ["/spill/w0", "/tasks", "/src/worker"],
    write: ["/spill/w0"],
    sys: ["hostname"],
  });
  assert.deepEqual(childFlags(needs, scoped), [
    "--allow-net=127.0.0.1",
    "--allow-read=/spill/w0/spillway-worker-1,/tasks,/src/worker",
    "--allow-write=/spill/w0/spillway-worker-1",
    "--allow-sys=hostname",
  ]);
  // Never more than the nanny holds: no /tasks, no sys.
  const less = holding({
    net: ["127.0.0.1"],
    read: ["/spill"],
    write: ["/spill"],
  });
  assert.deepEqual(childFlags(needs, less), [
    "--allow-net=127.0.0.1",
    "--allow-read=/spill/w0/spillway-worker-1",
    "--allow-write=/spill/w0/spillway-worker-1",
  ]);
  // A nanny with whole categories: all of the network (peers anywhere),
  // all reads when no module directories were named, writes still only
  // the spill dir.
  const broad = holding({
    net: true,
    read: true,
    write: true,
    sys: ["hostname"],
  });
  assert.deepEqual(childFlags({ ...needs, anyRead: true }, broad), [
    "--allow-net",
    "--allow-read",
    "--allow-write=/spill/w0/spillway-worker-1",
    "--allow-sys=hostname",
  ]);
  // A spill dir under /dev needs -A, and gets it only from a nanny with -A.
  const dev = { ...needs, spillDir: "/dev/shm/w" };
  assert.deepEqual(childFlags(dev, holding({ all: true })), ["-A"]);
  assert.ok(!childFlags(dev, broad).includes("-A"));
});

Deno.test("workerArgs writes a worker's configuration as the command line the worker command reads back", () => {
  const configs: WorkerConfig[] = [
    {
      scheduler: "tcp://127.0.0.1:8786",
      hostname: "127.0.0.1",
      port: 0,
      nthreads: 1,
      memoryLimit: null,
      spillDir: "/tmp/spill",
      sharedMemory: false,
      insecureAllowRemote: false,
    },
    {
      scheduler: "tcp://10.0.0.1:9000",
      hostname: "0.0.0.0",
      port: 4321,
      nthreads: 8,
      memoryLimit: 3 * 2 ** 30,
      spillDir: "/mnt/spillway/worker-0",
      sharedMemory: true,
      target: 0,
      insecureAllowRemote: true,
      reconnectTimeout: 5_000,
      codecs: ["file:///srv/codecs.ts"],
    },
  ];
  for (const config of configs) {
    const parsed = parseFlags(workerArgs(config), WORKER_FLAGS, WORKER_USAGE, {
      positionals: 1,
    });
    assert.ok(parsed !== null);
    assert.deepEqual(workerSettings(parsed, WORKER_USAGE), {
      target: undefined,
      ...config,
    });
  }
});

Deno.test("workerV8Flags adds --expose-gc once", () => {
  assert.equal(workerV8Flags(), "--expose-gc");
  assert.equal(
    workerV8Flags("--max-old-space-size=100,--expose-gc"),
    "--expose-gc,--max-old-space-size=100",
  );
});

Deno.test("parseDuration", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseDuration("1.5"), 1500);
  for (const bad of ["0", "0s", "-1s", "soon", "1d", ""]) {
    assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  }
});

Deno.test("pumpLines splits lines across chunks", async () => {
  const parts = ["wor", "ker a\r\nb\n", "", "c"];
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
      controller.close();
    },
  });
  const lines: string[] = [];
  await pumpLines(stream, (line) => lines.push(line));
  assert.deepEqual(lines, ["worker a", "b", "c"]);
});

Deno.test("RssProbe reads a process's RSS; null for a process that is gone", async () => {
  const probe = new RssProbe();
  const rss = await probe.read(Deno.pid);
  assert.ok(rss !== null && rss > 10 * 2 ** 20, String(rss));
  assert.equal(probe.mode, "direct"); // -A here
  assert.equal(await probe.read(2 ** 22 + 12345), null);
});

/** The sandbox's pure parts: grants, the executors' permissions, flags, hints. */
import assert from "node:assert/strict";
import { parseFlags } from "../../src/cli/args.ts";
import {
  bareTaskGrants,
  WORKER_FLAGS,
  WORKER_USAGE,
  workerSettings,
} from "../../src/cli/worker_flags.ts";
import {
  childFlags,
  nannyFlags,
  type PermissionQuery,
  workerFlags,
} from "../../src/cluster/permissions.ts";
import { workerArgs } from "../../src/cluster/spawn.ts";
import type { WorkerConfig } from "../../src/worker/config.ts";
import {
  checkTaskPermissions,
  denoCachePaths,
  executorSandbox,
  missingGrants,
  sandboxMessage,
  spillwaySource,
  taskGrantArgs,
} from "../../src/worker/task_permissions.ts";

Deno.test("grants travel as --task-allow-* and read back the same, bare ones included", () => {
  assert.deepEqual(
    taskGrantArgs({ read: ["/a", "/b"], write: false, net: true, run: [] }),
    ["--task-allow-read=/a,/b", "--task-allow-net"],
  );
  const config: WorkerConfig = {
    scheduler: "tcp://127.0.0.1:8786",
    hostname: "127.0.0.1",
    port: 0,
    nthreads: 1,
    memoryLimit: null,
    spillDir: "/tmp/spill",
    sharedMemory: false,
    insecureAllowRemote: false,
    taskModules: ["/srv/tasks", "/srv/more"],
    denoDir: "/home/me/.cache/deno",
    taskPermissions: {
      read: ["/etc/passwd"],
      write: ["/srv/out"],
      net: ["db:5432", "api.example.com"],
      env: true,
      run: ["true"],
    },
  };
  const parsed = parseFlags(
    bareTaskGrants(workerArgs(config)),
    WORKER_FLAGS,
    WORKER_USAGE,
    { positionals: 1 },
  );
  assert.ok(parsed !== null);
  const settings = workerSettings(parsed, WORKER_USAGE);
  assert.deepEqual(
    {
      taskModules: settings.taskModules,
      denoDir: settings.denoDir,
      taskPermissions: settings.taskPermissions,
    },
    {
      taskModules: config.taskModules,
      denoDir: config.denoDir,
      taskPermissions: config.taskPermissions,
    },
  );
});

Deno.test("--task-allow-* on the command line: lists as Deno takes them, bare for all, empty refused", () => {
  const settings = (...flags: string[]) => {
    const parsed = parseFlags(
      bareTaskGrants(["tcp://h:1", ...flags]),
      WORKER_FLAGS,
      WORKER_USAGE,
      { positionals: 1 },
    );
    assert.ok(parsed !== null);
    return workerSettings(parsed, WORKER_USAGE).taskPermissions;
  };
  assert.equal(settings(), undefined);
  assert.deepEqual(settings("--task-allow-read", "--task-allow-net=a:1,b"), {
    read: true,
    net: ["a:1", "b"],
  });
  assert.deepEqual(settings("--task-allow-write=rel/dir"), {
    write: [`${Deno.cwd()}/rel/dir`],
  });
  assert.throws(
    () => settings("--task-allow-env="),
    /--task-allow-env: expected a comma-separated list, or no value for all/,
  );
  // A bare flag does not take the next argument as its value.
  assert.throws(
    () => settings("--task-allow-run", "/bin/x"),
    /unexpected argument "\/bin\/x"/,
  );
});

Deno.test("executorSandbox: defaults it may read, the grants, nothing else; shared mode adds FFI and its spill dir", () => {
  const held: PermissionQuery = (d) =>
    d.name === "read" && !String(d.path).startsWith("/elsewhere");
  const sandbox = executorSandbox({
    modules: ["/srv/tasks", "/elsewhere/tasks"],
    codecs: ["file:///srv/codecs.ts", "https://example.com/c.ts"],
    denoDir: "/home/me/.cache/deno",
  }, held);
  assert.deepEqual(sandbox, {
    read: [
      "/srv/tasks",
      "/srv/codecs.ts",
      spillwaySource(),
      "/home/me/.cache/deno/npm",
      "/home/me/.cache/deno/remote",
    ],
    write: false,
    net: false,
    env: false,
    run: false,
    ffi: false,
    import: "inherit",
  });
  const granted = executorSandbox({
    modules: [],
    grants: { read: true, net: ["db:5432"], env: ["HOME"], run: ["true"] },
    sharedSpillDir: "/mnt/spill/w0",
  }, () => true);
  assert.equal(granted.read, true);
  assert.deepEqual(granted.write, ["/mnt/spill/w0"]);
  assert.deepEqual(granted.net, ["db:5432"]);
  assert.deepEqual(granted.env, ["HOME"]);
  assert.deepEqual(granted.run, ["true"]);
  assert.equal(granted.ffi, true);
  assert.deepEqual(denoCachePaths(null), []);
});

Deno.test("a worker process holds what it grants: one flag per permission; the nanny hands on what it holds", () => {
  const needs = {
    netHosts: ["127.0.0.1"],
    spillDir: "/spill/w0",
    read: ["/tasks"],
    tasks: {
      read: ["/data"],
      write: ["/out"],
      net: ["db:5432"],
      env: true,
      run: ["true"],
    },
  };
  assert.deepEqual(workerFlags(needs), [
    "--allow-net=127.0.0.1,db:5432",
    "--allow-read=/spill/w0,/tasks,/data",
    "--allow-write=/spill/w0,/out",
    "--allow-sys=hostname",
    "--allow-env",
    "--allow-run=true",
  ]);
  const nanny = nannyFlags({ ...needs, tasks: { ...needs.tasks, run: true } });
  assert.deepEqual(nanny.filter((f) => f.startsWith("--allow-run")), [
    "--allow-run",
  ]);
  assert.deepEqual(
    nannyFlags(needs).filter((f) => f.startsWith("--allow-run")),
    [`--allow-run=${Deno.execPath()},cat,true`],
  );
  // A nanny holding all but /out and db:5432: the child gets the rest.
  const query: PermissionQuery = (d) => {
    if (d.name === "write") return d.path === "/spill/w0";
    if (d.name === "net") return d.host === "127.0.0.1";
    return d.name !== "ffi";
  };
  assert.deepEqual(childFlags({ ...needs, anyRead: false }, query), [
    "--allow-net=127.0.0.1",
    "--allow-read=/spill/w0,/tasks,/data",
    "--allow-write=/spill/w0",
    "--allow-sys=hostname",
    "--allow-env",
    "--allow-run=true",
  ]);
  assert.deepEqual(
    missingGrants(needs.tasks, query),
    ["--allow-write=/out", "--allow-net=db:5432"],
  );
});

Deno.test("checkTaskPermissions: Deno's shape only, paths made absolute", () => {
  assert.deepEqual(checkTaskPermissions({ read: ["data"], net: true }), {
    read: [`${Deno.cwd()}/data`],
    net: true,
  });
  assert.throws(
    () => checkTaskPermissions({ ffi: true } as never),
    /taskPermissions\.ffi: tasks may be granted only read, write, net, env, run/,
  );
  assert.throws(
    () => checkTaskPermissions({ read: "/etc" } as never),
    /taskPermissions\.read must be true, false or a list of strings/,
  );
  assert.throws(
    () => checkTaskPermissions({ env: ["A,B"] }),
    /holds a comma/,
  );
});

Deno.test("sandboxMessage names the grant instead of Deno's flag; other errors are left alone", () => {
  // What Deno throws in an executor without read access.
  const error = new Deno.errors.NotCapable(
    'Requires read access to "/etc/passwd", run again with the --allow-read flag',
  );
  assert.equal(
    sandboxMessage(error),
    'Requires read access to "/etc/passwd" (tasks run in a sandbox: grant ' +
      "read access to them with --task-allow-read on `spillway worker`, or " +
      "taskPermissions.read on LocalCluster.start)",
  );
  assert.match(
    sandboxMessage(
      new Deno.errors.NotCapable('Requires sys access to "hostname"'),
    )!,
    /no grant lifts that/,
  );
  assert.equal(sandboxMessage(new RangeError("boom")), null);
});

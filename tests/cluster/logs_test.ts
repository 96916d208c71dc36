/**
 * Logs of real processes: a flood of garbage connections prints a bounded
 * number of lines; `logFormat: "json"` and `logLevel` reach every process
 * of a LocalCluster; pauses, resumes, lost workers and recomputations are
 * logged at warn or info.
 */
import * as assert from "node:assert/strict";
import { Client, LocalCluster } from "../../mod.ts";
import { CliProcess, FIXTURES, OPS, type Ops, until } from "./_support.ts";

const HOLD = new URL("./fixtures/hold.ts", import.meta.url);
type Hold = typeof import("./fixtures/hold.ts");
const quiet = { log: () => {} };

Deno.test("10,000 garbage connections to a scheduler print a bounded number of lines, with how many were suppressed", async () => {
  await using s = new CliProcess(["--allow-net=127.0.0.1"], [
    "scheduler",
    "--port",
    "0",
  ]);
  const [, address] = await s.line(/^scheduler listening at (tcp:\/\/\S+)$/);
  const port = Number(address.split(":").pop());
  const junk = new Uint8Array(64);
  let next = 0;
  const connections = 10_000;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < connections) {
      next++;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      crypto.getRandomValues(junk);
      await conn.write(junk).catch(() => {});
      // Wait until the scheduler has read the junk and closed: then every
      // connection is one bad message it saw (none is gone unread).
      const sink = new Uint8Array(64);
      while (await conn.read(sink).catch(() => null) !== null);
      conn.close();
    }
  }));
  // A real client's round trip: the scheduler still serves.
  {
    await using client = await Client.connect(address, quiet);
    assert.deepEqual(await client.workers(), []);
  }
  await s.stop("SIGTERM");
  const bad = s.stderr.filter((l) => l.includes("closing connection with"));
  assert.ok(bad.length > 0, s.stderr.join("\n"));
  assert.ok(
    s.stderr.length <= 50,
    `${s.stderr.length} lines:\n${s.stderr.join("\n")}`,
  );
  for (const line of bad) {
    assert.match(
      line,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN scheduler /,
    );
  }
  // What was held back is counted: written + suppressed covers (nearly)
  // every connection (a few junk prefixes may be a message still incomplete
  // when its connection closes, which is not an error).
  const suppressed = bad
    .map((l) => /… (\d+) similar lines? suppressed/.exec(l))
    .reduce((n, m) => n + (m === null ? 0 : Number(m[1])), 0);
  assert.ok(suppressed > 0, s.stderr.join("\n"));
  const shown = bad.filter((l) => !l.includes("suppressed")).length;
  assert.ok(
    shown + suppressed <= connections &&
      shown + suppressed >= connections * 0.9,
    `${shown} shown + ${suppressed} suppressed`,
  );
});

/** A LocalCluster's captured line: the process's name, and its JSON record. */
function records(lines: string[]): {
  name: string;
  time: string;
  level: string;
  role: string;
  message: string;
}[] {
  return lines.flatMap((line) => {
    const match = /^([\w-]+): (\{.*\})$/.exec(line);
    return match === null ? [] : [{ name: match[1], ...JSON.parse(match[2]) }];
  });
}

Deno.test("logFormat json reaches the cluster's processes; a worker's pause and resume are logged with its address", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 1,
    nanny: false,
    memoryLimit: "160MiB",
    modules: [FIXTURES],
    logFormat: "json",
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, quiet);
  const worker = cluster.workers[0].address;
  // 70 MiB held by a task pushes the worker past 80% of 160 MiB; then it
  // is let go and collected.
  assert.equal(await client.module<Hold>(HOLD).hold(70, 1500).result(), 1);
  const seen = await until(() => {
    const all = records(lines);
    const paused = all.find((r) => /^paused: /.test(r.message));
    const resumed = all.find((r) => /^resumed /.test(r.message));
    return paused && resumed ? { all, paused, resumed } : undefined;
  }, `a pause and a resume in:\n${lines.join("\n")}`);
  assert.equal(seen.paused.level, "warn");
  assert.equal(seen.paused.role, `worker ${worker}`);
  assert.equal(seen.paused.name, "worker-0");
  assert.equal(seen.resumed.level, "info");
  assert.equal(seen.resumed.role, `worker ${worker}`);
  const joined = seen.all.find((r) =>
    r.message.startsWith(`worker ${worker} joined`)
  );
  assert.ok(joined, lines.join("\n"));
  assert.equal(joined.role, "scheduler");
  assert.equal(joined.level, "info");
  for (const r of seen.all) {
    assert.ok(!Number.isNaN(Date.parse(r.time)), JSON.stringify(r));
    assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});

Deno.test("logLevel warn drops info lines everywhere, but a lost worker, its recomputation and its restart are logged", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 2,
    modules: [FIXTURES],
    logLevel: "warn",
    log: (line) => lines.push(line),
  });
  await using client = await Client.connect(cluster.address, quiet);
  const ops = client.module<Ops>(OPS);
  const chunks = [ops.chunk(0, 1000), ops.chunk(1, 1000)];
  await client.gather(chunks);
  const victim = cluster.workers[0].address;
  const pid = cluster.killWorker(0);
  await cluster.restarted(0, pid);
  // The chunk it held is computed again for a result asked after.
  assert.equal(typeof (await ops.dot(chunks[0], chunks[1]).result()), "number");
  const removed = await until(
    () =>
      lines.find((l) =>
        l.startsWith("scheduler: ") && l.includes(`worker ${victim} removed`)
      ),
    `the removal in:\n${lines.join("\n")}`,
  );
  assert.match(
    removed,
    /^scheduler: \S+ WARN scheduler worker \S+ removed \(disconnected\); its \d+ keys will be recomputed if needed/,
  );
  const restart = lines.find((l) =>
    /was killed by SIGKILL; restarting/.test(l)
  );
  assert.match(restart ?? "", /^worker-0: \S+ WARN nanny worker process \d+ /);
  assert.deepEqual(
    lines.filter((l) => / INFO /.test(l)),
    [],
    "no info line at level warn",
  );
});

/**
 * Several hosts, simulated with network namespaces joined by a bridge (root
 * only; skipped with a message otherwise): the scheduler in one namespace,
 * workers in all, each listening on its namespace's address with an auth
 * token, and the client in the root namespace (on the bridge).
 *
 * - Shared mode across three "hosts": every namespace has the same hostname
 *   (namespaces share it); two of them have spill roots that are different
 *   mounts of one tmpfs (bind mounts: the same `st_dev`, the collision real
 *   hosts can have), the third its own tmpfs. Keys move by hard link only
 *   inside a namespace, by TCP between them, and nothing is ever linked
 *   (nor tried) across.
 * - A link cut: one namespace's veth goes down for a few seconds mid-run,
 *   with the heartbeat timeout lowered; every result is still correct.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { ROOT_ID_DIR } from "../../src/store/root_id.ts";
import { filesUnder } from "../_support/files.ts";
import { mountTmpfs } from "../_support/mount.ts";
import {
  CLI,
  expectedDot,
  FIXTURES,
  OPS,
  type Ops,
  until,
} from "../cluster/_support.ts";
import {
  makeNetwork,
  type Namespace,
  networkUnavailable,
  NsProcess,
  run,
} from "./_network.ts";

const TOKEN = crypto.randomUUID() + crypto.randomUUID();
const MiB = 2 ** 20;

/** The scheduler in `ns`; resolves with it and its address. */
async function startScheduler(
  ns: Namespace,
  heartbeatTimeout: string,
  stack: AsyncDisposableStack,
): Promise<{ address: string; scheduler: NsProcess }> {
  const scheduler = stack.use(
    new NsProcess(ns, CLI, [
      "scheduler",
      "--host",
      ns.address,
      "--port",
      "0",
      "--no-dashboard",
      "--heartbeat-timeout",
      heartbeatTimeout,
    ], TOKEN),
  );
  const address = (await scheduler.line(/listening at (tcp:\/\/\S+)/))[1];
  return { address, scheduler };
}

/** A worker in `ns` joining `scheduler`, spilling under `spillDir`. */
function startWorker(
  ns: Namespace,
  scheduler: string,
  spillDir: string,
  extra: string[],
  stack: AsyncDisposableStack,
): NsProcess {
  return stack.use(
    new NsProcess(ns, CLI, [
      "worker",
      scheduler,
      "--host",
      ns.address,
      "--spill-dir",
      spillDir,
      "--memory-limit",
      "256MiB",
      "--target",
      "0",
      "--modules",
      FIXTURES.pathname,
      ...extra,
    ], TOKEN),
  );
}

/** Inode numbers of the files under `root`. */
async function inodes(root: string): Promise<Set<number>> {
  return new Set((await filesUnder(root)).map((f) => f.info.ino!));
}

Deno.test({
  name:
    "hosts: shared mode across three namespaces with one hostname: links inside a namespace, TCP between them, no link across equal st_dev",
  ignore: networkUnavailable !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const network = stack.use(await makeNetwork(3));
    const [ns0, ns1, ns2] = network.namespaces;
    // ns0 and ns1: two bind mounts of one tmpfs (same st_dev, different
    // mounts); ns2: a tmpfs of its own.
    const one = stack.use(await mountTmpfs("1g"));
    const own = stack.use(await mountTmpfs("1g"));
    const base = await Deno.makeTempDir({ prefix: "spillway-hosts-" });
    stack.defer(() => Deno.remove(base, { recursive: true }));
    const roots: string[] = [];
    for (const ns of [ns0, ns1]) {
      const source = join(one.path, ns.name);
      const root = join(base, ns.name);
      await Deno.mkdir(source);
      await Deno.mkdir(root);
      await run(["mount", "--bind", source, root]);
      stack.defer(() => run(["umount", root]).then(() => {}));
      roots.push(root);
    }
    roots.push(own.path);
    assert.equal(Deno.statSync(roots[0]).dev, Deno.statSync(roots[1]).dev);
    assert.notEqual(Deno.statSync(roots[0]).dev, Deno.statSync(roots[2]).dev);

    const { address } = await startScheduler(ns0, "30s", stack);
    const workers = [
      [ns0, 0],
      [ns0, 0],
      [ns1, 1],
      [ns1, 1],
      [ns2, 2],
    ].map(([ns, i]) =>
      startWorker(
        ns as Namespace,
        address,
        roots[i as number],
        ["--shared-memory"],
        stack,
      )
    );
    const addresses = await Promise.all(
      workers.map(async (w) =>
        (await w.line(/worker listening at (tcp:\/\/\S+)/))[1]
      ),
    );
    const nsOf = (worker: string) =>
      network.namespaces.find((ns) => worker.includes(`//${ns.address}:`))!;

    const client = stack.use(
      await Client.connect(address, { authToken: TOKEN }),
    );
    await until(
      async () => (await client.workers()).length === 5,
      "five workers",
    );
    // The same hostname everywhere; each root has its own id.
    const hosts = new Set((await client.workers()).map((w) => w.host));
    assert.equal(hosts.size, 1, [...hosts].join(", "));
    const ids = roots.map((r) =>
      [...Deno.readDirSync(join(r, ROOT_ID_DIR))][0].name
    );
    assert.equal(new Set(ids).size, 3);

    const m = client.module<Ops>(OPS);
    const n = MiB / 8;
    const chunks = Array.from({ length: 10 }, (_, i) => m.chunk(i, n));
    const dots = [];
    const expected = [];
    for (let i = 0; i < chunks.length; i++) {
      for (let j = i; j < chunks.length; j++) {
        dots.push(m.dot(chunks[i], chunks[j]));
        expected.push(expectedDot(i, j, n));
      }
    }
    assert.deepEqual(await client.gather(dots), expected);

    // While the chunks are held: no file is in two roots of one st_dev.
    const [a, b] = await Promise.all([inodes(roots[0]), inodes(roots[1])]);
    assert.ok(a.size > 0 && b.size > 0, "both roots hold spilled keys");
    assert.deepEqual([...a].filter((ino) => b.has(ino)), []);

    // Heartbeats carry the transfer figures (every second).
    const figures = await until(async () => {
      const ws = await client.workers();
      const linked = ws.reduce(
        (s, w) => s + (w.transfers?.linkedBytes ?? 0),
        0,
      );
      const fetched = ws.reduce(
        (s, w) => s + (w.transfers?.fetchedBytes ?? 0),
        0,
      );
      return linked > 0 && fetched > 0 ? ws : null;
    }, "links and fetches in the workers' figures");
    const alone = figures.find((w) => nsOf(w.address) === ns2)!;
    assert.equal(
      alone.transfers?.linkedBytes ?? 0,
      0,
      "ns2 has no same-root peer",
    );
    assert.ok(
      figures.some((w) => (w.transfers?.fetchedBytes ?? 0) > 0),
      "keys crossed namespaces over TCP",
    );
    // Nobody tried a link across (it would fail with EXDEV and be logged).
    for (const [i, w] of workers.entries()) {
      assert.doesNotMatch(
        w.stderr.join("\n"),
        /linking .* failed/,
        `worker ${addresses[i]}`,
      );
    }
    for (const c of chunks) c.release();
    for (const d of dots) d.release();
  },
});

Deno.test({
  name:
    "hosts: a namespace's link cut for a few seconds mid-run: its workers are declared lost and register again, every result is correct",
  ignore: networkUnavailable !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const network = stack.use(await makeNetwork(2));
    const [ns0, ns1] = network.namespaces;
    const base = await Deno.makeTempDir({ prefix: "spillway-hosts-" });
    stack.defer(() => Deno.remove(base, { recursive: true }));
    const { address, scheduler } = await startScheduler(ns0, "1500ms", stack);
    const workers = [ns0, ns1, ns1].map((ns) =>
      startWorker(ns, address, base, ["--reconnect-timeout", "60s"], stack)
    );
    await Promise.all(workers.map((w) => w.line(/worker listening at/)));
    const client = stack.use(
      await Client.connect(address, { authToken: TOKEN }),
    );
    await until(
      async () => (await client.workers()).length === 3,
      "three workers",
    );
    const m = client.module<Ops>(OPS);
    const n = MiB / 8;
    const chunks = Array.from({ length: 8 }, (_, i) => m.chunk(i, n));
    const tasks = [];
    const expected = [];
    for (let i = 0; i < chunks.length; i++) {
      for (let j = i; j < chunks.length; j++) {
        // Each takes a while, so that the cut comes mid-run.
        tasks.push(m.sum(m.dot(chunks[i], chunks[j]), m.spin(60)));
        expected.push(expectedDot(i, j, n) + 60);
      }
    }
    const all = client.gather(tasks);
    // Cut once the chunks exist (some on ns1's workers).
    await client.gather(chunks);
    await network.link(ns1, false);
    await new Promise((r) => setTimeout(r, 4000));
    await network.link(ns1, true);
    assert.deepEqual(await all, expected);
    // Silent for 4 s with a 1.5 s timeout: ns1's workers were declared
    // lost, and came back (registered again) once the link was up.
    const lost = scheduler.stderr.filter((l) =>
      l.includes(`//${ns1.address}:`) && /removed \(no heartbeat/.test(l)
    );
    assert.ok(lost.length > 0, scheduler.stderr.join("\n"));
    await until(
      async () =>
        (await client.workers()).length === 3 &&
        workers.slice(1).every((w) =>
          w.stderr.some((l) => l.includes("registered again"))
        ),
      "ns1's workers to register again",
      30_000,
    );
  },
});

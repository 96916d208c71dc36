/**
 * TLS on every connection of a real cluster (`LocalCluster.start({ tls:
 * true })`): client ↔ scheduler, worker ↔ scheduler, worker ↔ worker and
 * client ↔ worker, with mutual TLS; clients with the wrong CA, without a
 * certificate, with another CA's certificate, or on plain TCP are refused.
 */
import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { LocalCluster } from "../../src/cluster/mod.ts";
import { makeTestCertificates } from "../../src/cluster/certs.ts";
import { connect } from "../../src/comm/server.ts";
import { expectedDot, FIXTURES, OPS, type Ops, until } from "./_support.ts";

const N = 50_000;
const quiet = () => {};

/** The error `f` rejects with; fails when it resolves. */
async function rejection(f: () => Promise<unknown>): Promise<Error> {
  try {
    await f();
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

Deno.test("a TLS cluster computes end to end over tls:// and refuses strangers", async () => {
  const lines: string[] = [];
  await using cluster = await LocalCluster.start({
    workers: 2,
    memoryLimit: "1GiB",
    modules: [FIXTURES],
    tls: true,
    log: (line) => lines.push(line),
  });
  assert.match(cluster.address, /^tls:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(cluster.mutualTls, true);
  const tls = cluster.tls!;
  assert.ok(tls.ca && tls.cert && tls.key);
  // The node key stays in the cluster's directory, readable by its owner only.
  const keyMode = (await Deno.stat(`${cluster.spillRoot}/tls/node.key`)).mode!;
  assert.equal(keyMode & 0o777, 0o600);

  await using client = await Client.connect(cluster.address, {
    tls,
    log: quiet,
  });
  const workers = await client.workers();
  assert.equal(workers.length, 2);
  for (const w of workers) assert.match(w.address, /^tls:\/\//);

  // Chunks made on both workers; dot products fetch from the peer; the
  // client fetches every result from the workers.
  const m = client.module<Ops>(OPS);
  const chunks = Array.from({ length: 8 }, (_, i) => m.chunk(i, N));
  const dots = [];
  const expected = [];
  for (let i = 0; i < 8; i++) {
    for (let j = i + 1; j < 8; j++) {
      dots.push(m.dot(chunks[i], chunks[j]));
      expected.push(expectedDot(i, j, N));
    }
  }
  assert.deepEqual(await client.gather(dots), expected);
  const first = await chunks[0].result();
  assert.equal(first.length, N);
  // (The workers' counters come with their heartbeats.)
  await until(async () =>
    (await client.workers()).reduce(
      (n, w) => n + (w.transfers?.fetchedBytes ?? 0),
      0,
    ) > 0, "workers to have fetched inputs from each other");

  // The wrong CA: the scheduler's certificate does not verify.
  const otherDir = await Deno.makeTempDir({ prefix: "spillway-other-ca-" });
  const other = await makeTestCertificates(otherDir);
  await Deno.remove(otherDir, { recursive: true });
  const wrongCa = await rejection(() =>
    Client.connect(cluster.address, {
      tls: { ...tls, ca: other.client.ca },
      log: quiet,
    })
  );
  assert.match(wrongCa.message, /invalid peer certificate/);

  // No client certificate, or one from another CA: refused by the server.
  for (
    const bad of [
      { ca: tls.ca },
      { ca: tls.ca, cert: other.client.cert, key: other.client.key },
    ]
  ) {
    await rejection(() =>
      Client.connect(cluster.address, {
        tls: bad,
        log: quiet,
        heartbeatTimeout: 5_000,
      })
    );
  }
  // A worker refuses them too.
  const worker = workers[0].address;
  await rejection(async () => {
    await using peer = await connect(worker, {
      tls: { ca: tls.ca },
      log: quiet,
    });
    await peer.request("ping" as never);
  });
  assert.ok(
    lines.some((l) => /refused a TLS connection/.test(l)),
    "the servers log their refusals",
  );

  // Plain TCP to the TLS scheduler: fails, saying the other end is TLS.
  const plain = await rejection(() =>
    Client.connect(cluster.address.replace("tls://", "tcp://"), {
      log: quiet,
      heartbeatTimeout: 5_000,
    })
  );
  assert.match(String(plain.message), /TLS/);

  // The dashboard serves HTTPS with the same certificate.
  assert.match(cluster.dashboardUrl!, /^https:\/\//);
  using http = Deno.createHttpClient({ caCerts: [tls.ca!] });
  const page = await fetch(new URL("metrics", cluster.dashboardUrl!), {
    client: http,
  });
  assert.equal(page.status, 200);
  await page.body?.cancel();

  // The legitimate client is still served.
  assert.equal(await m.sum(1, 2, 3).result(), 6);
});

Deno.test("--tls-cert and --tls-key go together; mutual TLS needs the CA too", async () => {
  const { mutualTls, tlsFiles, UsageError } = await import(
    "../../src/cli/args.ts"
  );
  assert.throws(
    () => tlsFiles({ "tls-cert": "a.pem" }, "usage"),
    (e: unknown) => e instanceof UsageError && /--tls-key/.test(e.message),
  );
  assert.throws(
    () => tlsFiles({ "tls-key": "a.key" }, "usage"),
    (e: unknown) => e instanceof UsageError && /--tls-cert/.test(e.message),
  );
  const files = tlsFiles(
    { "tls-cert": "a.pem", "tls-key": "a.key", "tls-ca": "ca.pem" },
    "usage",
  );
  assert.ok(files.ca!.startsWith("/"), "paths made absolute");
  assert.equal(mutualTls(files), true);
  assert.equal(mutualTls({ cert: "a.pem", key: "a.key" }), false);
});

/**
 * `client.progress` on a real cluster: plain lines when not on a
 * terminal, a block redrawn in place on one, and resolution once every
 * future has settled, failed ones included.
 */
import * as assert from "node:assert/strict";
import { Client, type Future, LocalCluster } from "../../mod.ts";
import { FIXTURES, OPS, type Ops, until } from "./_support.ts";

const quiet = { log: () => {} };

Deno.test("progress, not on a terminal: a line per tenth with done/total per function and the bytes moved; resolves once all settled, failures included", async () => {
  await using cluster = await LocalCluster.start({
    workers: 2,
    threadsPerWorker: 2,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, quiet);
  const ops = client.module<Ops>(OPS);
  // Held open until the workers have reported what the dot products
  // fetched from each other; then cancelled (it counts as failed).
  const gate = ops.spin(60_000);
  const chunks = Array.from({ length: 4 }, (_, i) => ops.chunk(i, 100_000));
  const dots: Future<number>[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = i; j < 4; j++) dots.push(ops.dot(chunks[i], chunks[j]));
  }
  const failed = ops.fail("on purpose");
  const texts: string[] = [];
  const all = [...chunks, ...dots, failed, gate];
  let resolved = false;
  const shown = client.progress(all, {
    write: (text) => texts.push(text),
    interval: 50,
  }).then(() => resolved = true);
  await client.gather(dots);
  await until(
    async () =>
      (await client.workers()).some((w) =>
        (w.transfers?.fetchedBytes ?? 0) > 0
      ),
    "a transfer between workers",
  );
  assert.equal(resolved, false, "the gate has not settled");
  await gate.cancel();
  await shown;
  // Every future has settled when it resolves.
  assert.ok(all.every((f) => f.done));
  await assert.rejects(failed.result(), /on purpose/);

  assert.ok(texts.every((t) => t.endsWith("\n") && !t.includes("\r")));
  const lines = texts.join("").split("\n").filter((l) => l !== "");
  assert.ok(lines.length >= 1 && lines.length <= 11, lines.join("\n"));
  const percents = lines.map((l) => Number(/^progress (\d+)%: /.exec(l)?.[1]));
  assert.ok(
    percents.every((p, i) => i === 0 || p > percents[i - 1]),
    lines.join("\n"),
  );
  const last = lines.at(-1)!;
  assert.match(
    last,
    /^progress 100%: chunk 4\/4, dot 10\/10, fail 1\/1 \(1 erred\), spin 1\/1 \(1 erred\); on disk [\d.]+ \w*B, spilled [\d.]+ \w*B, moved between workers [\d.]+ \w*B; \d+ s$/,
  );
  // Dot products on two workers fetched chunks from each other.
  assert.doesNotMatch(last, /moved between workers 0 B/, last);
});

Deno.test("progress on a terminal redraws its block in place with \\r and ends with a newline", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, quiet);
  const ops = client.module<Ops>(OPS);
  const futures = [
    ...Array.from({ length: 5 }, (_, i) => ops.inc(i)),
    ops.spin(300),
  ];
  let out = "";
  await client.progress(futures, {
    write: (text) => out += text,
    tty: true,
    interval: 50,
    width: 10,
  });
  assert.ok(out.endsWith("\n"), JSON.stringify(out));
  assert.ok(out.includes("\r"), JSON.stringify(out));
  // The last frame: one bar per function, then the movement line.
  const frame = out.slice(out.lastIndexOf("\r") + 1).split("\n")
    .map((l) => l.replaceAll("\x1b[2K", ""))
    .filter((l) => l !== "");
  assert.deepEqual(frame.slice(0, 2), [
    "inc  [##########] 5/5",
    "spin [##########] 1/1",
  ]);
  assert.match(frame[2], /^on disk .* · \d+ s$/);
  // Redrawn in place: each later frame moves the cursor up over the block.
  assert.ok(out.split("\r").length > 2, JSON.stringify(out));
  assert.ok(out.includes("\x1b[2A"), JSON.stringify(out));
});

Deno.test("progress of no futures resolves at once; a non-future is refused", async () => {
  await using cluster = await LocalCluster.start({
    workers: 1,
    modules: [FIXTURES],
    log: () => {},
  });
  await using client = await Client.connect(cluster.address, quiet);
  const texts: string[] = [];
  await client.progress([], { write: (t) => texts.push(t) });
  assert.equal(texts.length, 1);
  assert.match(texts[0], /^progress 100%: ; /);
  await assert.rejects(
    client.progress([42 as unknown as Future], { write: () => {} }),
    TypeError,
  );
});

import { equal, notEqual } from "node:assert/strict";
import {
  chooseWorker,
  localityGroup,
  type PlacementCandidate,
} from "../../src/scheduler/placement.ts";

function candidate(
  id: string,
  host: string,
  processing = 0,
  nthreads = 1,
): PlacementCandidate {
  return { id, host, nthreads, processing: { size: processing } };
}

Deno.test("chooseWorker: no candidates gives undefined", () => {
  equal(chooseWorker([], []), undefined);
});

Deno.test("chooseWorker: the most input bytes wins over load", () => {
  const a = candidate("a", "h1", 3);
  const b = candidate("b", "h2", 0);
  const c = candidate("c", "h3", 1);
  const inputs = [
    { nbytes: 100, holders: [b] },
    { nbytes: 500, holders: [a] },
    { nbytes: 300, holders: [c] },
    { nbytes: 300, holders: [c] },
  ];
  equal(chooseWorker(inputs, [a, b, c])?.id, "c"); // 600 > 500 > 100
});

Deno.test("chooseWorker: a holder that is not a candidate does not count", () => {
  const busy = candidate("busy", "h1");
  const b = candidate("b", "h2", 1);
  const c = candidate("c", "h3", 0);
  equal(chooseWorker([{ nbytes: 1000, holders: [busy] }], [b, c])?.id, "c");
});

Deno.test("chooseWorker: equal bytes, then processing / nthreads", () => {
  const a = candidate("a", "h", 2, 1); // load 2
  const b = candidate("b", "h", 3, 4); // load 0.75
  const c = candidate("c", "h", 1, 1); // load 1
  equal(chooseWorker([], [a, b, c])?.id, "b");
});

Deno.test("chooseWorker: full ties go to the smallest id, whatever the order", () => {
  const ws = ["w3", "w1", "w2"].map((id) => candidate(id, "h"));
  equal(chooseWorker([], ws)?.id, "w1");
  equal(chooseWorker([], [...ws].reverse())?.id, "w1");
  // Equal loads written differently (1/2 and 2/4) are a tie too.
  const x = candidate("x", "h", 2, 4);
  const y = candidate("y", "h", 1, 2);
  equal(chooseWorker([], [y, x])?.id, "x");
});

Deno.test("chooseWorker: sameHostIsLocal counts a same-host holder as local", () => {
  const holder = candidate("holder", "h1", 2); // busy, holds the input
  const neighbour = candidate("neighbour", "h1", 0); // same host, idle
  const remote = candidate("remote", "h2", 0);
  const inputs = [{ nbytes: 1000, holders: [holder] }];
  // Default: only the holder has the bytes.
  equal(chooseWorker(inputs, [holder, neighbour, remote])?.id, "holder");
  // Shared memory: holder and neighbour both have them; the idler one wins.
  equal(
    chooseWorker(inputs, [holder, neighbour, remote], {
      sameHostIsLocal: true,
    })?.id,
    "neighbour",
  );
});

Deno.test("chooseWorker: sameHostIsLocal counts a key once per host", () => {
  const a1 = candidate("a1", "A");
  const a2 = candidate("a2", "A");
  const b1 = candidate("b1", "B");
  const inputs = [
    { nbytes: 100, holders: [a1, a2] }, // two copies on host A: 100, not 200
    { nbytes: 150, holders: [b1] },
  ];
  equal(chooseWorker(inputs, [a1, b1], { sameHostIsLocal: true })?.id, "b1");
});

Deno.test("localityGroup: shared-memory workers on one host and one tmpfs are one group; private workers are each their own", () => {
  const w = (port: number, host: string, dev?: number) =>
    localityGroup({
      address: `tcp://${host}:${port}`,
      host,
      ...(dev === undefined ? {} : { shared: { dev } }),
    });
  equal(w(1, "h", 7), w(2, "h", 7));
  notEqual(w(1, "h", 7), w(2, "h", 8), "another tmpfs: bytes, not links");
  notEqual(w(1, "h", 7), w(2, "g", 7), "another host with the same dev");
  notEqual(w(1, "h"), w(2, "h"), "private workers copy even on one host");
  notEqual(w(1, "h"), w(2, "h", 7));
});

Deno.test("placement with locality groups: an idle shared-mode neighbour of the holder takes the task; an idle private one does not", () => {
  const group = (port: number, dev?: number) =>
    localityGroup({
      address: `tcp://h:${port}`,
      host: "h",
      ...(dev === undefined ? {} : { shared: { dev } }),
    });
  const options = { sameHostIsLocal: true };
  // Shared mode: the busy holder's neighbour maps the same file.
  const holder = candidate("holder", group(1, 7), 3);
  const neighbour = candidate("neighbour", group(2, 7), 0);
  const inputs = [{ nbytes: 1 << 28, holders: [holder] }];
  equal(chooseWorker(inputs, [holder, neighbour], options)?.id, "neighbour");
  // Private mode on the same host: moving 256 MiB is a copy; the holder wins.
  const privateHolder = candidate("holder", group(1), 3);
  const privateNeighbour = candidate("neighbour", group(2), 0);
  equal(
    chooseWorker(
      [{ nbytes: 1 << 28, holders: [privateHolder] }],
      [privateHolder, privateNeighbour],
      options,
    )?.id,
    "holder",
  );
});

/**
 * Real mmaps of real files: zero-copy views, copy-on-write, release by the
 * FinalizationRegistry after gc, empty and bad files, and the same inside a
 * Web Worker (where task executors map their inputs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deserialize } from "../../src/serialize/serialize.ts";
import { FrameDecodeError } from "../../src/serialize/frames.ts";
import {
  isMappedBuffer,
  mapFile,
  mapFrames,
  mappingStats,
} from "../../src/store/mapping.ts";
import {
  close,
  errnoName,
  fstat,
  LibcError,
  open,
  statfs,
} from "../../src/platform/libc.ts";
import { TMPFS_MAGIC } from "../../src/store/tmpfs.ts";
import { collectUntil, gcUnavailable } from "../_support/gc.ts";
import { writeValueFile } from "../_support/frames_file.ts";

async function scratch(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "spillway-map-" });
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function ramp(n: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = i * 0.5;
  return a;
}

Deno.test("libc: errors carry the errno name and the path; fstat and statfs read real structs", async () => {
  await using s = await scratch();
  const missing = join(s.dir, "missing");
  assert.throws(() => open(missing), (error: unknown) => {
    assert.ok(error instanceof LibcError);
    assert.equal(error.code, "ENOENT");
    assert.equal(error.path, missing);
    assert.match(error.message, /open\(".*missing"\): ENOENT/);
    return true;
  });
  assert.equal(errnoName(18), "EXDEV");
  assert.equal(errnoName(4095), "E4095");

  const path = join(s.dir, "f");
  await Deno.writeFile(path, new Uint8Array(12345));
  await Deno.link(path, join(s.dir, "g"));
  const fd = open(path);
  try {
    const st = fstat(fd);
    const info = await Deno.stat(path);
    assert.deepEqual(st, {
      dev: info.dev,
      ino: info.ino,
      nlink: 2,
      size: 12345,
      isFile: true,
    });
  } finally {
    close(fd);
  }
  assert.equal(statfs("/dev/shm").type, TMPFS_MAGIC);
  assert.notEqual(statfs("/proc").type, TMPFS_MAGIC);
});

Deno.test("mapFrames: typed arrays view the mapping, no copy; the value round-trips", async () => {
  await using s = await scratch();
  const path = join(s.dir, "v.spw");
  const original = { x: ramp(100_000), label: "hello", n: 7n };
  await writeValueFile(path, original);
  const frames = mapFrames(path);
  const value = deserialize(frames) as typeof original;
  assert.deepEqual(value, original);
  assert.ok(isMappedBuffer(value.x.buffer));
  assert.ok(isMappedBuffer(frames.header.buffer));
  assert.equal(value.x.buffer, frames.buffers[0].buffer);
  assert.equal(value.x.byteOffset % 64, 0);
  assert.equal(isMappedBuffer(new ArrayBuffer(8)), false);
});

Deno.test("a write into a mapped Float64Array never reaches the file or another mapping (MAP_PRIVATE)", async () => {
  await using s = await scratch();
  const path = join(s.dir, "v.spw");
  const bytes = await writeValueFile(path, ramp(50_000));
  const a = deserialize(mapFrames(path)) as Float64Array;
  const b = deserialize(mapFrames(path)) as Float64Array;
  a[0] = 1e9;
  a[49_999] = -1;
  assert.equal(a[0], 1e9);
  assert.equal(b[0], 0); // the second mapping still sees the file
  assert.equal(b[49_999], 49_999 * 0.5);
  assert.deepEqual(await Deno.readFile(path), bytes);
  const c = deserialize(mapFrames(path)) as Float64Array; // mapped after the write
  assert.equal(c[0], 0);
});

Deno.test("an empty file is not mapped (mmap refuses 0 bytes); a truncated or bad file is a clear error", async () => {
  await using s = await scratch();
  const empty = join(s.dir, "empty.spw");
  await Deno.writeFile(empty, new Uint8Array(0));
  const before = mappingStats().total;
  const bytes = mapFile(empty);
  assert.equal(bytes.byteLength, 0);
  assert.equal(isMappedBuffer(bytes.buffer), false);
  assert.equal(mappingStats().total, before);
  assert.throws(() => mapFrames(empty), (error: unknown) => {
    assert.ok(error instanceof FrameDecodeError);
    assert.match(error.message, /empty\.spw: truncated/);
    return true;
  });
  const bad = join(s.dir, "bad.spw");
  await Deno.writeTextFile(bad, "not a spill file at all");
  assert.throws(() => mapFrames(bad), /bad\.spw: bad magic/);
  assert.throws(() => mapFile(s.dir), /not a regular file/);
  assert.throws(
    () => mapFile(join(s.dir, "nope")),
    (error: unknown) => error instanceof LibcError && error.code === "ENOENT",
  );
});

Deno.test({
  name:
    "mappings are released by the FinalizationRegistry once unreachable: gc + event-loop turns bring live mappings to 0",
  ignore: gcUnavailable !== null,
  async fn() {
    await using s = await scratch();
    const path = join(s.dir, "v.spw");
    await writeValueFile(path, ramp(1 << 16));
    assert.equal((await collectUntil(0)).live, 0);
    const size = (await Deno.stat(path)).size;
    const sums: number[] = [];
    (() => {
      for (let i = 0; i < 5; i++) {
        const a = deserialize(mapFrames(path)) as Float64Array;
        sums.push(a[a.length - 1]);
      }
    })();
    const during = mappingStats();
    assert.equal(during.live, 5);
    assert.equal(during.bytes, 5 * size);
    const after = await collectUntil(0);
    assert.equal(after.live, 0);
    assert.equal(after.bytes, 0);
    assert.deepEqual(sums, Array(5).fill(((1 << 16) - 1) * 0.5));
  },
});

Deno.test({
  name:
    "a Web Worker maps a file itself, reads it zero-copy, writes copy-on-write, and releases its mapping",
  ignore: gcUnavailable !== null,
  async fn() {
    await using s = await scratch();
    const path = join(s.dir, "v.spw");
    const bytes = await writeValueFile(path, ramp(200_000));
    const worker = new Worker(
      new URL("./_map_worker.ts", import.meta.url),
      { type: "module" },
    );
    try {
      const reply = await new Promise<Record<string, unknown>>(
        (resolve, reject) => {
          worker.onmessage = (e) => resolve(e.data);
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(e.message));
          };
          worker.postMessage({ path });
        },
      );
      assert.equal(reply.error, undefined);
      assert.equal(reply.length, 200_000);
      assert.equal(reply.sum, 0.5 * (199_999 * 200_000) / 2);
      assert.equal(reply.mapped, true);
      assert.equal(reply.afterWrite, -5);
      assert.deepEqual(reply.during, {
        live: 1,
        bytes: bytes.length,
        total: 1,
      });
      assert.deepEqual(reply.after, { live: 0, bytes: 0, total: 1 });
    } finally {
      worker.terminate();
    }
    assert.deepEqual(await Deno.readFile(path), bytes);
  },
});

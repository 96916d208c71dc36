/**
 * Model-based property test of SpillBuffer: random sequences of set,
 * setFrames, get, getFrames, delete and overwrite, some launched
 * concurrently, checked against a plain Map. After every step: every read
 * returned a value the model allows, the keys match, the byte accounting
 * matches the files on disk, no temporary file is left, and nothing is lost.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { SpillBuffer } from "../../src/store/mod.ts";
import {
  decodeFrames,
  encodeFrames,
  type Frames,
} from "../../src/serialize/frames.ts";
import { deserialize, serialize } from "../../src/serialize/serialize.ts";
import { KeyNotFoundError } from "../../src/store/spill_buffer.ts";

/** A value that says which write made it: `id` and a payload filled with `id`. */
interface Tagged {
  id: number;
  payload: Float64Array;
  note: string;
}

type Op =
  | { kind: "set"; key: string; length: number }
  | { kind: "setFrames"; key: string; length: number }
  | { kind: "get"; key: string }
  | { kind: "getFrames"; key: string }
  | { kind: "delete"; key: string };

const keyArb = fc.constantFrom("a", "b", "c", "d", "e", "f");
const lengthArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 16_384 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("set" as const),
    key: keyArb,
    length: lengthArb,
  }),
  fc.record({
    kind: fc.constant("setFrames" as const),
    key: keyArb,
    length: lengthArb,
  }),
  fc.record({ kind: fc.constant("get" as const), key: keyArb }),
  fc.record({ kind: fc.constant("getFrames" as const), key: keyArb }),
  fc.record({ kind: fc.constant("delete" as const), key: keyArb }),
);
/** Steps: groups of operations launched together, awaited together. */
const stepsArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), {
  minLength: 1,
  maxLength: 14,
});

/** The bytes a peer would send: frames encoded and decoded again. */
function overTheWire(frames: Frames): Frames {
  const chunks = encodeFrames(frames);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return decodeFrames(bytes);
}

function idOf(value: unknown): number {
  const tagged = value as Tagged;
  assert.equal(
    tagged.payload.length > 0 ? tagged.payload[0] : tagged.id,
    tagged.id,
    "payload matches id",
  );
  assert.equal(tagged.note, `value ${tagged.id}`);
  return tagged.id;
}

async function diskFiles(
  dir: string,
): Promise<{ spills: number; bytes: number; temporary: number }> {
  let spills = 0, bytes = 0, temporary = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".tmp")) temporary++;
      else {
        spills++;
        bytes += (await Deno.stat(join(dir, entry.name))).size;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return { spills, bytes, temporary };
}

Deno.test("SpillBuffer behaves like a Map under random concurrent operations", async () => {
  const root = await Deno.makeTempDir({ prefix: "spillway-model-" });
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        stepsArb,
        fc.integer({ min: 0, max: 96 * 1024 }),
        async (steps, target) => {
          const dir = join(root, `run-${run++}`);
          const store = new SpillBuffer({
            directory: dir,
            target,
            log: () => {},
          });
          const model = new Map<string, number>();
          let nextId = 1;
          try {
            for (const group of steps) {
              // Each read may see the model's value at launch or any later one in its group.
              const allowed: Array<
                { key: string; ids: Set<number | "absent"> }
              > = [];
              const pending: Array<Promise<void>> = [];
              for (const op of group) {
                if (op.kind === "set" || op.kind === "setFrames") {
                  const id = nextId++;
                  const value: Tagged = {
                    id,
                    payload: new Float64Array(op.length).fill(id),
                    note: `value ${id}`,
                  };
                  if (op.kind === "set") store.set(op.key, value);
                  else store.setFrames(op.key, overTheWire(serialize(value)));
                  model.set(op.key, id);
                } else if (op.kind === "delete") {
                  assert.equal(store.delete(op.key), model.has(op.key));
                  model.delete(op.key);
                } else {
                  const ids = new Set<number | "absent">([
                    model.get(op.key) ?? "absent",
                  ]);
                  allowed.push({ key: op.key, ids });
                  const read = op.kind === "get"
                    ? store.get(op.key)
                    : store.getFrames(op.key).then((frames) =>
                      deserialize(frames)
                    );
                  pending.push(read.then(
                    (value) => {
                      const id = idOf(value);
                      assert.ok(
                        ids.has(id),
                        `${op.kind}(${op.key}) gave ${id}, allowed ${[...ids]}`,
                      );
                    },
                    (error) => {
                      if (!(error instanceof KeyNotFoundError)) throw error;
                      assert.ok(
                        ids.has("absent"),
                        `${op.kind}(${op.key}) missed, allowed ${[...ids]}`,
                      );
                    },
                  ));
                }
                // Later operations of the group widen what earlier reads may see.
                for (const a of allowed) {
                  a.ids.add(model.get(a.key) ?? "absent");
                }
              }
              await Promise.all(pending);
              await store.idle();

              assert.deepEqual(
                [...store.keys()].sort(),
                [...model.keys()].sort(),
              );
              const m = store.metrics();
              const files = await diskFiles(dir);
              assert.equal(files.temporary, 0, "no temporary file left");
              assert.equal(
                m.spilled.count,
                files.spills,
                "spilled count = files on disk",
              );
              assert.equal(
                m.spilled.bytes,
                files.bytes,
                "spilled bytes = bytes on disk",
              );
              assert.ok(
                m.spilled.count <= model.size,
                "no file outlives its key",
              );
              assert.ok(
                m.managed <= target,
                `managed ${m.managed} <= target ${target}`,
              );
              assert.deepEqual(m.failures, {});
            }
            for (const [key, id] of model) {
              assert.equal(idOf(await store.get(key)), id, key);
            }
          } finally {
            await store.close();
          }
          assert.equal(
            (await diskFiles(dir)).spills,
            0,
            "close removes every file",
          );
        },
      ),
      { numRuns: 60 },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

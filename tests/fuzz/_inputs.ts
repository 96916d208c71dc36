/**
 * The hostile inputs of the live fuzz test, by category. Each is built from
 * the real serializer and frame encoder (`serialize`, `encodeFrames`), then
 * mutated; fast-check draws the random parts from one seeded generator, so
 * a run is repeatable from its seed.
 */
import fc from "fast-check";
import { encodeFrames, serialize } from "../../src/serialize/mod.ts";
import { FRAME_PRELUDE_BYTES } from "../../src/serialize/layout.ts";

/** Where an input goes. */
export type Target = "scheduler" | "worker";

/** The kinds of attack, as the closing note lists them. */
export const CATEGORIES = [
  "random-bytes",
  "magic-then-random",
  "mutated-prelude",
  "huge-length",
  "truncated",
  "mutated-header",
  "wrong-types",
  "unknown-op",
  "bad-body",
  "deep-nesting",
  "wrong-role",
  "unsolicited-reply",
  "path-traversal",
  "before-handshake",
  "bad-handshake",
] as const;

/** Categories sent on a fresh connection, in the handshake's place. */
export const BEFORE_HANDSHAKE: ReadonlySet<Category> = new Set([
  "before-handshake",
  "bad-handshake",
]);

/** Categories of bytes that are no message at all: the server must close. */
export const NOT_MESSAGES: ReadonlySet<Category> = new Set([
  "random-bytes",
  "magic-then-random",
  "huge-length",
  "truncated",
]);

/** One of {@linkcode CATEGORIES}. */
export type Category = typeof CATEGORIES[number];

/**
 * One input: raw bytes that make no valid message (`raw`: the server must
 * close the connection), or valid-framed messages (`messages`: the server
 * may answer each; a `ping` probe follows them on the same connection).
 */
export type Input =
  & { category: Category; target: Target }
  & ({ raw: Uint8Array } | { messages: Uint8Array[] });

/** The bytes of one message carrying `value`, as `Connection.send` writes it. */
export function encode(value: unknown): Uint8Array {
  const chunks = encodeFrames(serialize(value));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A value nested `depth` levels deep (built without recursion). */
function deep(depth: number, kind: "array" | "object" | "map"): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) {
    value = kind === "array"
      ? [value]
      : kind === "object"
      ? { a: value }
      : new Map([["a", value]]);
  }
  return value;
}

const SCHEDULER_OPS = [
  "heartbeat",
  "task-finished",
  "task-erred",
  "add-replica",
  "register-client",
  "submit",
  "add-data",
  "release",
  "cancel",
  "who-has",
  "workers",
  "task-stream",
  "snapshot",
  "ping",
] as const;
const WORKER_OPS = [
  "get-data",
  "get-slice",
  "put-data",
  "replicate",
  "ping",
  "register-client",
] as const;
/** What the worker serves on its scheduler connection only, and what the scheduler sends clients. */
const CONTROL_OPS = ["compute", "cancel", "release", "task-done", "task-erred"];

/** Keys the fuzzer uses: never those of the legitimate client. */
const KEY = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => `fuzz-${s}`),
  fc.constantFrom("../../etc/passwd", "/etc/passwd", "\0", "a/b", ""),
);

/** A plausible but wrong value for any field. */
const ANY = fc.oneof(
  { weight: 3, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 4 }) },
  fc.constantFrom(
    null,
    undefined,
    -1,
    NaN,
    Infinity,
    2 ** 53,
    "",
    [],
    {},
    "tcp://127.0.0.1:1",
    new Float64Array(3),
  ),
);

/** Bodies shaped like an op's request, with wrong fields. */
function bodyFor(op: string): fc.Arbitrary<unknown> {
  const keys = fc.array(KEY, { maxLength: 4 });
  switch (op) {
    case "submit":
      return fc.record({
        tasks: fc.oneof(
          ANY,
          fc.array(
            fc.record({
              key: fc.oneof(KEY, ANY),
              module: fc.oneof(
                ANY,
                fc.constantFrom(
                  "data:text/javascript,export const f=()=>1",
                  "javascript:alert(1)",
                  "node:fs",
                  "npm:left-pad",
                  "file:///nonexistent/x.ts",
                  "ftp://example.com/x.js",
                ),
              ),
              exportName: fc.oneof(
                fc.constantFrom("f", "constructor", "__proto__"),
                ANY,
              ),
              args: fc.oneof(
                ANY,
                fc.array(
                  fc.oneof(
                    fc.record({ value: ANY }),
                    fc.record({ key: fc.oneof(KEY, ANY) }),
                    fc.record({ nested: ANY }),
                    ANY,
                  ),
                  { maxLength: 3 },
                ),
              ),
              retries: fc.oneof(fc.constant(undefined), ANY),
              priority: fc.oneof(fc.constant(undefined), ANY),
            }, { requiredKeys: [] }),
            { maxLength: 3 },
          ),
        ),
        wanted: fc.oneof(keys, ANY),
      }, { requiredKeys: [] });
    case "add-data":
      return fc.record({
        key: fc.oneof(KEY, ANY),
        workers: fc.oneof(fc.array(fc.oneof(ANY, KEY)), ANY),
        nbytes: ANY,
      }, { requiredKeys: [] });
    case "release":
    case "cancel":
    case "who-has":
      return fc.oneof(fc.record({ keys: fc.oneof(keys, ANY) }), ANY);
    case "heartbeat":
      return fc.oneof(
        fc.record({ status: ANY, store: ANY, memory: ANY }, {
          requiredKeys: [],
        }),
        ANY,
      );
    case "task-finished":
      return fc.oneof(fc.record({ tasks: fc.oneof(fc.array(ANY), ANY) }), ANY);
    case "task-erred":
    case "add-replica":
      return fc.oneof(
        fc.record({ key: fc.oneof(KEY, ANY), error: ANY, nbytes: ANY }),
        ANY,
      );
    case "task-stream":
      return fc.oneof(fc.record({ since: ANY }), ANY);
    case "get-data":
      return fc.oneof(
        fc.record({
          keys: fc.oneof(keys, ANY),
          link: ANY,
          slices: ANY,
        }, { requiredKeys: [] }),
        ANY,
      );
    case "get-slice":
      return fc.record({
        key: fc.oneof(KEY, ANY),
        file: fc.oneof(
          ANY,
          fc.constantFrom("/etc/passwd", "../../../etc/passwd", "1-x.spw"),
        ),
        offset: ANY,
        length: fc.oneof(ANY, fc.constantFrom(0, 2 ** 20, 2 ** 31)),
      }, { requiredKeys: [] });
    case "put-data":
      return fc.oneof(
        fc.record({
          data: fc.oneof(
            ANY,
            fc.dictionary(
              KEY,
              fc.oneof(
                ANY,
                fc.record({
                  header: fc.oneof(fc.uint8Array({ maxLength: 32 }), ANY),
                  buffers: fc.oneof(
                    fc.array(fc.uint8Array({ maxLength: 64 }), {
                      maxLength: 2,
                    }),
                    ANY,
                  ),
                }),
              ),
              { maxKeys: 3 },
            ),
          ),
        }),
        ANY,
      );
    case "replicate":
      return fc.record({
        keys: fc.oneof(keys, ANY),
        who: fc.oneof(
          ANY,
          fc.dictionary(
            KEY,
            fc.array(fc.oneof(ANY, fc.constant("tcp://127.0.0.1:1"))),
            { maxKeys: 2 },
          ),
        ),
        sizes: ANY,
      }, { requiredKeys: [] });
    default:
      return ANY;
  }
}

const ID = fc.oneof(fc.nat(), fc.string({ maxLength: 8 }));

/** Every category's generator, for `target`. */
function generators(
  target: Target,
  others: { worker: string; scheduler: string },
): Record<Category, fc.Arbitrary<Input>> {
  const ops = target === "scheduler" ? SCHEDULER_OPS : WORKER_OPS;
  const raw = (category: Category) => (bytes: Uint8Array): Input => ({
    category,
    target,
    raw: bytes,
  });
  const messages = (category: Category) => (values: unknown[]): Input => ({
    category,
    target,
    messages: values.map(encode),
  });
  const request = fc.constantFrom(...ops).chain((op) =>
    fc.tuple(ID, bodyFor(op)).map(([id, body]) => ({ id, op, body }))
  );
  const validBytes = request.map(encode);
  return {
    "random-bytes": fc.uint8Array({ minLength: 1, maxLength: 512 }).map(
      raw("random-bytes"),
    ),
    "magic-then-random": fc.uint8Array({ minLength: 0, maxLength: 512 }).map(
      (rest) => {
        const out = new Uint8Array(4 + rest.byteLength);
        out.set([0x53, 0x50, 0x57, 0x46]);
        out.set(rest, 4);
        return raw("magic-then-random")(out);
      },
    ),
    // Bytes of the prelude and buffer table flipped: a different version,
    // flags, lengths or count.
    "mutated-prelude": fc.tuple(
      validBytes,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
    ).map(([bytes, flips]) => {
      const out = bytes.slice();
      const span = Math.min(out.byteLength, FRAME_PRELUDE_BYTES + 16);
      for (const [at, x] of flips) out[4 + (at % (span - 4))] ^= x;
      return raw("mutated-prelude")(out);
    }),
    // Lengths at and past every limit, in the header length, the buffer
    // count and each buffer length.
    "huge-length": fc.tuple(
      validBytes,
      fc.constantFrom("header", "count", "buffer"),
      fc.constantFrom(
        2 ** 31,
        2 ** 32 - 1,
        2 ** 30,
        2 ** 40,
        2 ** 53 - 1,
        2 ** 53,
        2 ** 64 - 1,
      ),
    ).map(([bytes, field, n]) => {
      const withBuffer = encode({ id: 1, op: "ping", body: new Uint8Array(8) });
      const out = (field === "buffer" ? withBuffer : bytes).slice();
      const view = new DataView(out.buffer);
      if (field === "header") view.setUint32(8, Math.min(n, 2 ** 32 - 1), true);
      else if (field === "count") {
        view.setUint32(12, Math.min(n, 2 ** 32 - 1), true);
      } else view.setBigUint64(16, BigInt(n), true);
      return raw("huge-length")(out);
    }),
    "truncated": fc.tuple(validBytes, fc.nat()).map(([bytes, at]) =>
      raw("truncated")(bytes.subarray(0, at % bytes.byteLength))
    ),
    // The msgpack header mutated (its length kept): flipped bytes, or
    // random bytes of the same length.
    "mutated-header": fc.tuple(
      validBytes,
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
    ).map(([bytes, randomize, flips]) => {
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      const count = view.getUint32(12, true);
      const start = FRAME_PRELUDE_BYTES + 8 * count;
      const length = view.getUint32(8, true);
      for (const [at, x] of flips) {
        const i = start + (at % length);
        out[i] = randomize ? (out[i] + x * 31) & 0xff : out[i] ^ x;
      }
      return raw("mutated-header")(out);
    }),
    // Messages that decode, but are not RPC messages of the right shape.
    "wrong-types": fc.array(
      fc.oneof(
        ANY,
        fc.record({ id: ANY, op: fc.constantFrom(...ops), body: ANY }),
        fc.record({ op: ANY, body: ANY }),
        fc.record({ re: ANY, ok: ANY, value: ANY, error: ANY }, {
          requiredKeys: ["re"],
        }),
      ),
      { minLength: 1, maxLength: 3 },
    ).map(messages("wrong-types")),
    "unknown-op": fc.array(
      fc.record({
        id: fc.oneof(ID, fc.constant(undefined)),
        op: fc.oneof(
          fc.string({ maxLength: 16 }),
          fc.constantFrom(
            "__proto__",
            "constructor",
            "toString",
            "hasOwnProperty",
          ),
        ),
        body: ANY,
      }).map((m) => m.id === undefined ? { op: m.op, body: m.body } : m),
      { minLength: 1, maxLength: 4 },
    ).map(messages("unknown-op")),
    // Known operations with wrong bodies, requests and notifications.
    "bad-body": fc.array(
      fc.tuple(request, fc.boolean()).map(([m, notify]) =>
        notify ? { op: m.op, body: m.body } : m
      ),
      { minLength: 1, maxLength: 4 },
    ).map(messages("bad-body")),
    "deep-nesting": fc.tuple(
      fc.constantFrom(...ops),
      fc.constantFrom("array", "object", "map") as fc.Arbitrary<
        "array" | "object" | "map"
      >,
      fc.constantFrom(1_000, 5_000, 20_000),
      fc.constantFrom("body", "args", "keys"),
    ).map(([op, kind, depth, where]) => {
      const value = deep(depth, kind);
      const body = where === "body"
        ? value
        : where === "keys"
        ? { keys: [value], who: { k: [value] } }
        : {
          tasks: [{
            key: "fuzz-deep",
            module: "file:///nonexistent/deep.ts",
            exportName: "f",
            args: [{ nested: value }, { value }],
          }],
          wanted: [],
        };
      return messages("deep-nesting")([{ id: 1, op, body }]);
    }),
    // Operations of another role: the worker's to the scheduler, the
    // scheduler's to the worker, and the control messages the scheduler
    // sends on a worker's own connection, sent to its listener.
    "wrong-role": fc.array(
      fc.tuple(
        fc.constantFrom(
          ...(target === "scheduler" ? WORKER_OPS : SCHEDULER_OPS),
          ...CONTROL_OPS,
        ),
        ID,
        fc.boolean(),
      ).chain(([op, id, notify]) =>
        (op === "compute"
          ? fc.record({
            tasks: fc.array(
              fc.record({
                key: KEY,
                module: fc.constantFrom(
                  "file:///nonexistent/x.ts",
                  "data:text/javascript,export const f=()=>1",
                ),
                exportName: fc.constant("f"),
                args: fc.constant([]),
                who: fc.constant({}),
              }),
              { maxLength: 2 },
            ),
          })
          : bodyFor(op)).map((body) => notify ? { op, body } : { id, op, body })
      ),
      { minLength: 1, maxLength: 4 },
    ).map(messages("wrong-role")),
    // Replies to requests never made.
    "unsolicited-reply": fc.array(
      fc.record({
        re: fc.oneof(ID, ANY),
        ok: fc.boolean(),
        value: ANY,
        error: fc.oneof(
          fc.record({ name: ANY, message: ANY, stack: ANY }),
          ANY,
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ).map(messages("unsolicited-reply")),
    // Paths and keys that would lead out of a directory, where a peer may
    // name one.
    "path-traversal": fc.tuple(
      fc.constantFrom(
        "/etc/passwd",
        "../../../../etc/passwd",
        `${others.worker}/../x`,
        "\0/etc/passwd",
        "/proc/self/environ",
      ),
      fc.constantFrom("get-slice", "get-data", "put-data"),
    ).map(([path, op]) => {
      const body = op === "get-slice"
        ? { key: path, file: path, offset: 0, length: 64 }
        : op === "get-data"
        ? { keys: [path], link: { root: path, host: "x" }, slices: true }
        : { data: { [path]: serialize("x") } };
      return messages("path-traversal")([{ id: 1, op, body }]);
    }),
    // Valid messages of every role, where the handshake should be.
    "before-handshake": fc.array(request, { minLength: 1, maxLength: 3 }).map(
      messages("before-handshake"),
    ),
    // The connector's hello, malformed: another or no version, a nonce of
    // the wrong length or type, a proof in its place, oversized.
    "bad-handshake": fc.oneof(
      fc.record({
        handshake: fc.oneof(fc.constant("spillway"), ANY),
        version: fc.oneof(
          fc.constantFrom(0, 2, 999, -1, 1.5, 2 ** 53),
          ANY,
        ),
        nonce: fc.oneof(fc.uint8Array({ maxLength: 64 }), ANY),
      }),
      fc.record({
        handshake: fc.constant("spillway"),
        version: fc.constant(1),
        nonce: fc.oneof(
          fc.uint8Array({ maxLength: 31 }),
          fc.uint8Array({ minLength: 33, maxLength: 64 }),
          ANY.filter((x) => !(x instanceof Uint8Array)),
        ),
      }),
      fc.record({ proof: fc.oneof(fc.uint8Array({ maxLength: 40 }), ANY) }),
      fc.constant({
        handshake: "spillway",
        version: 1,
        nonce: new Uint8Array(32),
        padding: "x".repeat(8192),
      }),
    ).map((hello) => messages("bad-handshake")([hello])),
  };
}

/**
 * An endless, seeded stream of inputs: each category in turn, alternating
 * targets (the worker gets no scheduler-only path attacks and so on: every
 * category is tried on both).
 */
export function* inputs(
  seed: number,
  others: { worker: string; scheduler: string },
): Generator<Input> {
  const byTarget = {
    scheduler: generators("scheduler", others),
    worker: generators("worker", others),
  };
  const streams = new Map<string, Iterator<Input>>();
  let n = 0;
  const only = Deno.env.get("SPILLWAY_FUZZ_ONLY")?.split(",");
  for (;;) {
    for (const category of CATEGORIES) {
      if (only !== undefined && !only.includes(category)) continue;
      const target: Target = n++ % 2 === 0 ? "scheduler" : "worker";
      const id = `${target}/${category}`;
      let stream = streams.get(id);
      if (stream === undefined) {
        // Samples in batches from one seeded generator per stream.
        stream = (function* () {
          let round = 0;
          for (;;) {
            yield* fc.sample(byTarget[target][category], {
              seed: seed + round++ * 7919 + n,
              numRuns: 64,
            });
          }
        })();
        streams.set(id, stream);
      }
      yield stream.next().value as Input;
    }
  }
}

/**
 * The typed proxy's parameters: for a parameter of type `T`, a `T`, a
 * `Future<T>`, or a container of `T` whose elements may be futures; the
 * wrong types still fail. This file fails at type checking (which
 * `deno test` runs first) if a `@ts-expect-error` line compiles, or if a
 * line that should compile does not.
 */
import assert from "node:assert/strict";
import type {
  Client,
  Future,
  Gathered,
  MaybeFuture,
  ModuleProxy,
} from "../../mod.ts";
import { Future as FutureClass } from "../../src/client/future.ts";
import { taskArg } from "../../src/client/nested.ts";

type Ops = {
  total(xs: number[]): number;
  sum(...xs: number[]): number;
  pair(p: { a: Float64Array; b: Float64Array }): number;
  byName(m: Map<string, number>, s: Set<string>): number;
  tuple(t: [number, string]): string;
  bytes(b: Uint8Array): number;
  deep(d: { rows: { cells: number[] }[] }): number;
  label(x: number): string;
};

/** Never called: what the compiler accepts and refuses. */
export function proxyTypeCases(
  client: Client,
  ops: ModuleProxy<Ops>,
  n: Future<number>,
  s: Future<string>,
  chunk: Future<Float64Array>,
): void {
  // Accepted: values, futures, futures inside containers at any depth.
  const t1: Future<number> = ops.total([1, n, 3]);
  ops.sum(1, n, ops.total([n]));
  ops.pair({ a: chunk, b: new Float64Array(2) });
  // (Mixed Map entries need the type spelled out: TypeScript's own rule.)
  ops.byName(
    new Map<string, MaybeFuture<number>>([["a", n], ["b", 2]]),
    new Set([s, "x"]),
  );
  ops.byName(new Map([["a", n]]), new Set(["x"]));
  ops.tuple([n, s]);
  ops.deep({ rows: [{ cells: [1, n] }, { cells: [n] }] });
  ops.bytes(new Uint8Array(1));
  const label: Future<string> = ops.label(n);
  void t1;
  void label;

  // @ts-expect-error a string where a number is expected
  ops.total([1, "2"]);
  // @ts-expect-error a Future<string> where a number is expected
  ops.total([1, s]);
  // @ts-expect-error a Future<string> deep inside
  ops.deep({ rows: [{ cells: [s] }] });
  // @ts-expect-error a Future<string> as a Map value of numbers
  ops.byName(new Map([["a", s]]), new Set(["x"]));
  // @ts-expect-error a Future<number> in a Set of strings
  ops.byName(new Map([["a", 1]]), new Set([n]));
  // @ts-expect-error a typed array is taken as it is, not as an array of futures
  ops.bytes([n]);
  // @ts-expect-error the tuple's second element is a string
  ops.tuple([n, n]);
  // @ts-expect-error a Future<string> result is not a Future<number>
  const wrong: Future<number> = ops.label(1);
  void wrong;

  // client.map: iterables typed after the function's parameters.
  const m: Future<string>[] = client.map(ops.label, [1, n]);
  client.map(ops.tuple, [[1, "a"] as [number, string]]);
  // @ts-expect-error strings where numbers are expected
  client.map(ops.label, ["1"]);
  void m;

  // gather: the same shape, with values.
  const g: Promise<{ a: number; b: [string, number]; m: Map<string, number> }> =
    client.gather({ a: n, b: [s, 2], m: new Map([["k", n]]) });
  // @ts-expect-error the value of a Future<number> is not a string
  const h: Promise<string> = client.gather(n);
  void g;
  void h;
}

// A gathered type, checked by assignment.
const gathered: Gathered<[Future<number>, { s: Future<string> }]> = [1, {
  s: "s",
}];
void gathered;

Deno.test("what the proxy's types accept travels as futures in their places", () => {
  const owner = { resultOf: () => Promise.resolve(0), releaseKey: () => {} };
  const n = new FutureClass<number>("n", owner);
  const arg: MaybeFuture<{ rows: { cells: number[] }[] }> = {
    rows: [{ cells: [1, n] }],
  };
  const wire = taskArg(arg);
  assert.ok("keys" in wire);
  assert.deepEqual(wire.keys, ["n"]);
});

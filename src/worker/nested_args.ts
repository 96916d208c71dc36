/**
 * A task's arguments with futures inside containers ({@linkcode NestedArg}):
 * the keys they need, and each key's value put in its mark's place before
 * the task runs.
 *
 * @module
 */
import {
  CONTAINER,
  containerKind,
  FUTURE_MARK,
  type NestedArg,
  type TaskArg,
} from "../protocol/task.ts";

/**
 * Whether `arg` has futures inside it.
 *
 * @example
 * ```ts
 * import { isNestedArg } from "./nested_args.ts";
 * isNestedArg({ value: [0], keys: ["a"] }); // true
 * isNestedArg({ value: [0] }); // false
 * ```
 */
export function isNestedArg(arg: TaskArg): arg is NestedArg {
  return "keys" in arg && Array.isArray(arg.keys);
}

/**
 * The keys a task's arguments need: top-level futures and those inside
 * containers, each once, in argument order.
 *
 * @example
 * ```ts
 * import { argumentKeys } from "./nested_args.ts";
 * argumentKeys([{ key: "a" }, { value: [0, 0], keys: ["b", "a"] }]); // ["a", "b"]
 * ```
 */
export function argumentKeys(args: readonly TaskArg[]): string[] {
  const keys = new Set<string>();
  for (const arg of args) {
    if ("key" in arg) keys.add(arg.key);
    else if (isNestedArg(arg)) { for (const key of arg.keys) keys.add(key); }
  }
  return [...keys];
}

/**
 * The keys only nested arguments need (their values must be passed, not
 * mapped by the executor as a top-level argument's may be).
 *
 * @example
 * ```ts
 * import { nestedKeys } from "./nested_args.ts";
 * nestedKeys([{ key: "a" }, { value: [0], keys: ["b"] }]).has("b"); // true
 * ```
 */
export function nestedKeys(args: readonly TaskArg[]): Set<string> {
  const keys = new Set<string>();
  for (const arg of args) {
    if (isNestedArg(arg)) { for (const key of arg.keys) keys.add(key); }
  }
  return keys;
}

const { array: ARRAY, object: OBJECT, map: MAP } = CONTAINER;

/** The key of a future's mark, or `null` if `v` is not one. */
function markKey(v: object): string | null {
  if (Object.getPrototypeOf(v) !== Object.prototype) return null;
  const key = (v as Record<string, unknown>)[FUTURE_MARK];
  if (typeof key !== "string" || !Object.hasOwn(v, FUTURE_MARK)) return null;
  return Object.keys(v).length === 1 ? key : null;
}

/**
 * A copy of a nested argument's value with each mark replaced by its key's
 * value. Containers are copied (the message's value is left as it was, so
 * that it can run again), shared ones stay shared; anything else (typed
 * arrays, the inputs' values) is passed as it is. The walk does not
 * recurse, so a deep value does not overflow the stack.
 *
 * @param value the argument's value, with marks
 * @param valueOf the value of a key (every key of the argument's `keys`)
 *
 * @example
 * ```ts
 * import { deepEqual } from "node:assert/strict";
 * import { FUTURE_MARK } from "../protocol/task.ts";
 * import { fillNested } from "./nested_args.ts";
 * const values = new Map<string, unknown>([["a", 1], ["b", 2]]);
 * const filled = fillNested(
 *   { xs: [{ [FUTURE_MARK]: "a" }, 5], m: new Map([["k", { [FUTURE_MARK]: "b" }]]) },
 *   (key) => values.get(key),
 * );
 * deepEqual(filled, { xs: [1, 5], m: new Map([["k", 2]]) });
 * ```
 */
export function fillNested(
  value: unknown,
  valueOf: (key: string) => unknown,
): unknown {
  if (value === null || typeof value !== "object") return value;
  // Every container, with its copy.
  const copies = new Map<object, { kind: number; copy: object }>();
  const stack: object[] = [];
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== "object" || copies.has(v)) return;
    if (markKey(v) !== null) return;
    const kind = containerKind(v);
    if (kind < 0) return;
    let copy: object;
    if (kind === ARRAY) copy = new Array((v as unknown[]).length);
    else if (kind === OBJECT) {
      copy = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
    } else if (kind === MAP) copy = new Map();
    else copy = new Set();
    copies.set(v, { kind, copy });
    stack.push(v);
  };
  visit(value);
  while (stack.length > 0) {
    const v = stack.pop()!;
    const kind = copies.get(v)!.kind;
    if (kind === ARRAY) { for (const x of v as unknown[]) visit(x); }
    else if (kind === OBJECT) {
      for (const key of Object.keys(v)) {
        visit((v as Record<string, unknown>)[key]);
      }
    } else if (kind === MAP) {
      for (const [k, x] of v as Map<unknown, unknown>) {
        visit(k);
        visit(x);
      }
    } else for (const x of v as Set<unknown>) visit(x);
  }
  const fill = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    const key = markKey(v);
    if (key !== null) return valueOf(key);
    return copies.get(v)?.copy ?? v;
  };
  for (const [v, { kind, copy }] of copies) {
    if (kind === ARRAY) {
      const a = v as unknown[];
      const c = copy as unknown[];
      for (let i = 0; i < a.length; i++) c[i] = fill(a[i]);
    } else if (kind === OBJECT) {
      for (const key of Object.keys(v)) {
        Object.defineProperty(copy, key, {
          value: fill((v as Record<string, unknown>)[key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    } else if (kind === MAP) {
      for (const [k, x] of v as Map<unknown, unknown>) {
        (copy as Map<unknown, unknown>).set(fill(k), fill(x));
      }
    } else {
      for (const x of v as Set<unknown>) (copy as Set<unknown>).add(fill(x));
    }
  }
  return fill(value);
}

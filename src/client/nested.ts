/**
 * Futures inside containers: finding them in a task's argument (arrays,
 * plain objects, `Map` keys and values, `Set` elements, to any depth; never
 * inside typed arrays or `ArrayBuffer`s), replacing them by marks for the
 * wire or by their values for `gather`, and checking each argument at
 * submission so that a bad one fails its own call with an error in the
 * user's terms.
 *
 * @module
 */
import {
  CONTAINER,
  containerKind,
  FUTURE_MARK,
  type FutureMark,
  type TaskArg,
} from "../protocol/task.ts";
import { SerializationError, serialize } from "../serialize/serialize.ts";
import { Future } from "./future.ts";

const { array: ARRAY, object: OBJECT, map: MAP } = CONTAINER;

/** The children of a container (a Map's keys and values), in order. */
function* childrenOf(v: object, kind: number): Generator<unknown> {
  switch (kind) {
    case ARRAY: {
      const a = v as unknown[];
      for (let i = 0; i < a.length; i++) yield a[i];
      return;
    }
    case OBJECT:
      for (const key of Object.keys(v)) {
        yield (v as Record<string, unknown>)[key];
      }
      return;
    case MAP:
      for (const [k, x] of v as Map<unknown, unknown>) {
        yield k;
        yield x;
      }
      return;
    default:
      yield* v as Set<unknown>;
  }
}

interface Found {
  /** The futures, in the order first met, each once. */
  readonly futures: Future[];
  /** Every container reachable from the root (the root too, if it is one). */
  readonly containers: Map<object, number>;
}

/**
 * The futures inside `root` (not `root` itself), walked without recursion so
 * that deep values do not overflow the stack; `null` when there are none.
 */
function findFutures(root: unknown): Found | null {
  if (root === null || typeof root !== "object" || root instanceof Future) {
    return null;
  }
  const futures = new Set<Future>();
  const containers = new Map<object, number>();
  // Pre-order: a container's children are pushed last first.
  const stack: object[] = [root];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v instanceof Future) {
      futures.add(v);
      continue;
    }
    if (containers.has(v)) continue;
    const kind = containerKind(v);
    if (kind < 0) continue;
    if (kind === OBJECT && Object.hasOwn(v, FUTURE_MARK)) {
      // It would be taken for a future's place on the worker.
      throw new SerializationError(
        `an object with the property name ${
          JSON.stringify(FUTURE_MARK)
        }, which spillway keeps for futures' places`,
        "value",
      );
    }
    containers.set(v, kind);
    const children: object[] = [];
    for (const child of childrenOf(v, kind)) {
      if (child !== null && typeof child === "object") children.push(child);
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return futures.size === 0 ? null : { futures: [...futures], containers };
}

/**
 * A copy of `root` with each future replaced by `replace(future)`: every
 * container reachable is copied (shared ones stay shared, cycles stay
 * cycles, array holes stay holes); anything else is kept as it is.
 */
function copyReplacing(
  root: unknown,
  found: Found,
  replace: (future: Future) => unknown,
): unknown {
  const copies = new Map<object, object>();
  for (const [v, kind] of found.containers) {
    let shell: object;
    if (kind === ARRAY) shell = new Array((v as unknown[]).length);
    else if (kind === OBJECT) {
      shell = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
    } else if (kind === MAP) shell = new Map();
    else shell = new Set();
    copies.set(v, shell);
  }
  const map = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (v instanceof Future) return replace(v);
    return copies.get(v) ?? v;
  };
  for (const [v, kind] of found.containers) {
    const copy = copies.get(v)!;
    if (kind === ARRAY) {
      const a = v as unknown[];
      const c = copy as unknown[];
      for (let i = 0; i < a.length; i++) if (i in a) c[i] = map(a[i]);
    } else if (kind === OBJECT) {
      for (const key of Object.keys(v)) {
        // defineProperty: a "__proto__" key stays an own property.
        Object.defineProperty(copy, key, {
          value: map((v as Record<string, unknown>)[key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      // Kept so that the check at submission still refuses them.
      for (const sym of Object.getOwnPropertySymbols(v)) {
        if (Object.prototype.propertyIsEnumerable.call(v, sym)) {
          (copy as Record<symbol, unknown>)[sym] =
            (v as Record<symbol, unknown>)[sym];
        }
      }
    } else if (kind === MAP) {
      for (const [k, x] of v as Map<unknown, unknown>) {
        (copy as Map<unknown, unknown>).set(map(k), map(x));
      }
    } else {
      for (const x of v as Set<unknown>) (copy as Set<unknown>).add(map(x));
    }
  }
  return map(root);
}

/**
 * The futures anywhere in `value` (`value` itself included), each once, in
 * the order first met.
 *
 * @example
 * ```ts
 * import { futuresIn } from "./nested.ts";
 * futuresIn({ a: [1, 2], b: new Map([["k", 3]]) }).length; // 0
 * ```
 */
export function futuresIn(value: unknown): Future[] {
  if (value instanceof Future) return [value];
  return findFutures(value)?.futures ?? [];
}

/**
 * A copy of `value` with each future replaced by `replace(future)`; `value`
 * itself when it holds none (a future at the top is replaced too).
 *
 * @example
 * ```ts
 * import { replaceFutures } from "./nested.ts";
 * const same = { a: [1, 2] };
 * replaceFutures(same, () => 0) === same; // true: no future inside
 * ```
 */
export function replaceFutures(
  value: unknown,
  replace: (future: Future) => unknown,
): unknown {
  if (value instanceof Future) return replace(value);
  const found = findFutures(value);
  return found === null ? value : copyReplacing(value, found, replace);
}

/**
 * A task argument for the wire: a future is `{ key }`, a value without
 * futures `{ value }`, and a value with futures inside a
 * {@linkcode NestedArg} (marks in their places, their keys in `keys`).
 *
 * @example
 * ```ts
 * import { taskArg } from "./nested.ts";
 * taskArg([1, 2, 3]); // { value: [1, 2, 3] }
 * ```
 */
export function taskArg(arg: unknown): TaskArg {
  if (arg instanceof Future) return { key: arg.key };
  const found = findFutures(arg);
  if (found === null) return { value: arg };
  const value = copyReplacing(
    arg,
    found,
    (f): FutureMark => ({ [FUTURE_MARK]: f.key }),
  );
  return { value, keys: found.futures.map((f) => f.key) };
}

/**
 * How a task is named in errors: the module's file name without its
 * extension, a dot, the export (`ops.sum` for `sum` of `…/ops.ts`).
 *
 * @example
 * ```ts
 * import { callName } from "./nested.ts";
 * callName("file:///srv/ops.ts", "sum"); // "ops.sum"
 * ```
 */
export function callName(module: string, exportName: string): string {
  const path = new URL(module).pathname;
  const file = path.slice(path.lastIndexOf("/") + 1);
  const dot = file.indexOf(".");
  const stem = dot > 0 ? file.slice(0, dot) : file;
  return `${stem || module}.${exportName}`;
}

/**
 * Checks that each argument can travel (futures count as their marks), and
 * returns them as task arguments.
 *
 * @param args the call's arguments
 * @param call how the call is named in an error (`ops.sum`)
 * @throws {SerializationError} for the first argument that cannot be
 *   serialized, naming it in the user's terms, from 1:
 *   `argument 2 of ops.sum: value.items[3] is a function`.
 *
 * @example
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { checkedTaskArgs } from "./nested.ts";
 * throws(
 *   () => checkedTaskArgs([1, { items: [0, 1, 2, () => 3] }], "ops.sum"),
 *   /argument 2 of ops.sum: value.items\[3\] is a function/,
 * );
 * ```
 */
export function checkedTaskArgs(
  args: readonly unknown[],
  call: string,
): TaskArg[] {
  return args.map((arg, i) => {
    let wire: TaskArg;
    try {
      wire = taskArg(arg);
    } catch (error) {
      if (!(error instanceof SerializationError)) throw error;
      throw new SerializationError(
        `argument ${i + 1} of ${call}: ${error.message}`,
        error.path,
      );
    }
    if ("key" in wire) return wire;
    const value = wire.value;
    const type = typeof value;
    // Primitives other than symbols always travel.
    if (
      value === null || type === "number" || type === "string" ||
      type === "boolean" || type === "undefined" || type === "bigint"
    ) return wire;
    try {
      serialize(value);
    } catch (error) {
      if (!(error instanceof SerializationError)) throw error;
      throw new SerializationError(
        `argument ${i + 1} of ${call}: ${inUserTerms(error)}`,
        error.path,
      );
    }
    return wire;
  });
}

/**
 * `cannot serialize a function at value.items[3]` as
 * `value.items[3] is a function`; other messages as they are.
 */
function inUserTerms(error: SerializationError): string {
  const prefix = "cannot serialize ";
  const at = ` at ${error.path}`;
  const message = error.message;
  const where = message.indexOf(at);
  if (!message.startsWith(prefix) || where < prefix.length) return message;
  const what = message.slice(prefix.length, where);
  const note = message.slice(where + at.length);
  return `${error.path} is ${what}${note}`;
}

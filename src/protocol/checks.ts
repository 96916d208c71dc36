/**
 * Checks of what a peer sends, at the edge where a role takes it: the
 * shapes the compiler checks at the sender cannot be trusted at the
 * receiver (an old, buggy or hostile peer sends anything). Each check
 * throws a `TypeError` saying what is wrong before the role touches its
 * state, so a bad request fails alone (an error reply) and leaves nothing
 * half done.
 *
 * @module
 */
import type { TaskSpec } from "./task.ts";

/**
 * The URL schemes a task module may have: a file, or a remote module
 * (`https:`, and `http:` as Deno imports it). `data:`, `blob:`,
 * `javascript:`, `node:`, `npm:`, `jsr:`, `ftp:` and the rest are refused.
 *
 * @example
 * ```ts
 * import { TASK_MODULE_SCHEMES } from "./checks.ts";
 * console.log(TASK_MODULE_SCHEMES.includes("file:")); // true
 * ```
 */
export const TASK_MODULE_SCHEMES: readonly string[] = [
  "file:",
  "https:",
  "http:",
];

/**
 * Checks a task module's URL: a string that parses as a URL whose scheme is
 * one of {@linkcode TASK_MODULE_SCHEMES}.
 *
 * @param module what a peer named as a task's module
 * @returns the module, as given
 * @throws {TypeError} naming the scheme refused and those allowed
 * @example
 * ```ts
 * import { checkTaskModule } from "./checks.ts";
 * checkTaskModule("file:///srv/ops.ts"); // "file:///srv/ops.ts"
 * try {
 *   checkTaskModule("data:text/javascript,export const f = () => 1");
 * } catch (error) {
 *   console.log((error as Error).message); // task module refused: scheme data: ...
 * }
 * ```
 */
export function checkTaskModule(module: unknown): string {
  if (typeof module !== "string" || !URL.canParse(module)) {
    throw new TypeError(
      `task module refused: ${describe(module)} is not a URL`,
    );
  }
  const scheme = new URL(module).protocol;
  if (!TASK_MODULE_SCHEMES.includes(scheme)) {
    throw new TypeError(
      `task module refused: scheme ${scheme} (${
        clip(module)
      }); task modules are imported from ${
        TASK_MODULE_SCHEMES.join(", ")
      } URLs only`,
    );
  }
  return module;
}

/**
 * Checks a list of keys: an array of strings.
 *
 * @param keys what a peer sent as keys
 * @param what the field, for the message (`"release: keys"`)
 * @returns the keys, as given
 * @throws {TypeError} when it is not an array of strings
 * @example
 * ```ts
 * import { checkKeys } from "./checks.ts";
 * checkKeys(["a", "b"], "release: keys"); // ["a", "b"]
 * ```
 */
export function checkKeys(keys: unknown, what: string): string[] {
  if (!Array.isArray(keys)) {
    throw new TypeError(
      `${what} must be an array of strings, got ${describe(keys)}`,
    );
  }
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string") {
      throw new TypeError(
        `${what}[${i}] must be a string, got ${describe(keys[i])}`,
      );
    }
  }
  return keys;
}

/**
 * Checks a map from key to worker addresses (`who`).
 *
 * @param who what a peer sent
 * @param what the field, for the message
 * @returns the map, as given
 * @throws {TypeError} when it is not a plain object of string arrays
 * @example
 * ```ts
 * import { checkHolders } from "./checks.ts";
 * checkHolders({ x: ["tcp://127.0.0.1:4001"] }, "replicate: who");
 * ```
 */
export function checkHolders(
  who: unknown,
  what: string,
): Record<string, string[]> {
  if (!isPlainRecord(who)) {
    throw new TypeError(`${what} must be an object, got ${describe(who)}`);
  }
  for (const [key, holders] of Object.entries(who)) {
    checkKeys(holders, `${what}[${JSON.stringify(clip(key))}]`);
  }
  return who as Record<string, string[]>;
}

/**
 * Checks a body that must be a plain object (not an array, not null).
 *
 * @param body what a peer sent
 * @param what the operation, for the message
 * @returns the body
 * @throws {TypeError} otherwise
 * @example
 * ```ts
 * import { checkBody } from "./checks.ts";
 * const body = checkBody({ keys: [] }, "release");
 * ```
 */
export function checkBody(
  body: unknown,
  what: string,
): Record<string, unknown> {
  if (!isPlainRecord(body)) {
    throw new TypeError(
      `${what}: the body must be an object, got ${describe(body)}`,
    );
  }
  return body;
}

/**
 * Checks the tasks of a `submit` as a client sends them: each with a
 * string key, a module URL of an allowed scheme
 * ({@linkcode checkTaskModule}), a string export name, an array of
 * arguments (each `{ key }`, `{ value }` or `{ value, keys }`), and
 * optional finite numbers for `retries` and `priority`.
 *
 * @param tasks what a peer sent as `tasks`
 * @returns the tasks, as given
 * @throws {TypeError} naming the first bad task and field
 * @example
 * ```ts
 * import { checkTaskSpecs } from "./checks.ts";
 * checkTaskSpecs([{ key: "x", module: "file:///srv/ops.ts", exportName: "f", args: [] }]);
 * ```
 */
export function checkTaskSpecs(tasks: unknown): TaskSpec[] {
  if (!Array.isArray(tasks)) {
    throw new TypeError(
      `submit: tasks must be an array, got ${describe(tasks)}`,
    );
  }
  for (let i = 0; i < tasks.length; i++) {
    const task: unknown = tasks[i];
    const at = `submit: tasks[${i}]`;
    if (!isPlainRecord(task)) {
      throw new TypeError(`${at} must be an object, got ${describe(task)}`);
    }
    if (typeof task.key !== "string") {
      throw new TypeError(
        `${at}.key must be a string, got ${describe(task.key)}`,
      );
    }
    try {
      checkTaskModule(task.module);
    } catch (error) {
      throw new TypeError(
        `${at} (${JSON.stringify(clip(task.key))}): ${
          (error as Error).message
        }`,
      );
    }
    if (typeof task.exportName !== "string") {
      throw new TypeError(
        `${at}.exportName must be a string, got ${describe(task.exportName)}`,
      );
    }
    if (!Array.isArray(task.args)) {
      throw new TypeError(
        `${at}.args must be an array, got ${describe(task.args)}`,
      );
    }
    for (let j = 0; j < task.args.length; j++) {
      const arg: unknown = task.args[j];
      const shaped = isPlainRecord(arg) &&
        (Object.hasOwn(arg, "key")
          ? typeof arg.key === "string"
          : Object.hasOwn(arg, "value"));
      if (!shaped) {
        throw new TypeError(
          `${at}.args[${j}] must be { key }, { value } or { value, keys }, got ${
            describe(arg)
          }`,
        );
      }
      if (Object.hasOwn(arg, "keys")) {
        checkKeys(arg.keys, `${at}.args[${j}].keys`);
      }
    }
    for (const field of ["retries", "priority"] as const) {
      const n = task[field];
      if (n !== undefined && !(typeof n === "number" && Number.isFinite(n))) {
        throw new TypeError(
          `${at}.${field} must be a finite number, got ${describe(n)}`,
        );
      }
    }
  }
  return tasks as TaskSpec[];
}

function isPlainRecord(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** A short description of a value for a message: never walks it. */
function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (typeof x === "string") return JSON.stringify(clip(x));
  if (typeof x === "object") {
    return `an object (${x.constructor?.name ?? "no prototype"})`;
  }
  return `${typeof x} ${clip(String(x))}`;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

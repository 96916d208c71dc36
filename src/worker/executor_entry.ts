/**
 * The body of an executor: a module Web Worker started once by
 * `ExecutorPool` and reused. It runs one task at a time: imports the task's
 * module by URL (cached by URL; a changed file needs a new URL), calls the
 * export with the arguments, awaits it, and posts the result back with the
 * lent inputs, transferring their buffers and the result's (see `lend.ts`).
 *
 * It is not imported by the control thread: the pool starts it with
 * `new Worker(new URL("./executor_entry.ts", import.meta.url))`.
 *
 * What holds:
 * - every task gets exactly one `done` or `failed` reply, and a `failed` one
 *   carries the inputs back whenever they can still be sent;
 * - a task that leaves the executor in an unknown state (an uncaught error or
 *   unhandled rejection, e.g. from a timer, `self.close()`, `Deno.exit()`)
 *   makes the executor announce `dying` and close; the pool replaces it;
 * - `shutdown` is answered with `shutdown-done` before the executor closes
 *   itself; that is where the shared-memory mode unmaps what it mapped,
 *   since `worker.terminate()` runs no finalizers
 *   (docs/platform.md#terminate-runs-no-finalizers).
 *
 * @example Started by the pool, never imported
 * ```ts
 * const executor = new Worker(new URL("./executor_entry.ts", import.meta.url), {
 *   type: "module",
 * });
 * ```
 *
 * @module
 */
import {
  packForTransfer,
  reachableBuffers,
  UnsendableValueError,
} from "./lend.ts";
import type {
  FromExecutor,
  RemoteFailure,
  ToExecutor,
} from "./executor_messages.ts";
import { epochMs, Timeline } from "./timeline.ts";
import { encodeResult, reviveCodecValues } from "./codec_wire.ts";
import { CodecValue } from "../serialize/codecs.ts";
import { sandboxHint, sandboxMessage } from "./task_permissions.ts";

/** The part of the worker global scope this file uses (no DOM/worker lib needed). */
interface ExecutorScope {
  postMessage(message: FromExecutor, transfer?: Transferable[]): void;
  close(): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
}

const scope = globalThis as unknown as ExecutorScope;
const closeExecutor = scope.close.bind(scope);
const exitExecutor = Deno.exit;
let leaving = false;

function describe(error: unknown): { text: string; stack: string } {
  if (error instanceof Error) {
    return {
      text: `${error.name}: ${error.message}`,
      stack: error.stack ?? "",
    };
  }
  return { text: String(error), stack: "" };
}

/** Tells the pool this executor is going away on its own (once). */
function announceDeath(reason: string, stack = ""): void {
  if (leaving) return;
  leaving = true;
  try {
    scope.postMessage({ type: "dying", reason, stack });
  } catch {
    // The pool will notice nothing more comes; nothing else to do here.
  }
}

// A task that closes or exits its executor would otherwise vanish silently:
// Deno fires no event on the Worker object when its worker closes itself.
scope.close = (): void => {
  announceDeath("the task called self.close()");
  closeExecutor();
};
Deno.exit = ((code?: number): never => {
  announceDeath(`the task called Deno.exit(${code ?? ""})`);
  return exitExecutor(code);
}) as typeof Deno.exit;
scope.addEventListener("unload", () => announceDeath("the executor exited"));

scope.addEventListener("error", (event) => {
  const e = event as ErrorEvent;
  e.preventDefault();
  const { text, stack } = describe(e.error ?? e.message);
  announceDeath(`uncaught ${text}`, stack);
  closeExecutor();
});
scope.addEventListener("unhandledrejection", (event) => {
  const e = event as PromiseRejectionEvent;
  e.preventDefault();
  const { text, stack } = describe(e.reason);
  announceDeath(`unhandled rejection: ${text}`, stack);
  closeExecutor();
});

/**
 * The shared-memory mode's code, loaded by the first task that maps an
 * input or writes its result to a spill file (private-mode executors never
 * load it).
 */
let sharedMode: typeof import("./executor_shared.ts") | null = null;

async function loadSharedMode(): Promise<
  typeof import("./executor_shared.ts")
> {
  sharedMode ??= await import("./executor_shared.ts");
  return sharedMode;
}

/** Whether `buffer` maps a spill file (never, before shared mode is loaded). */
function isMappedBuffer(buffer: ArrayBufferLike): boolean {
  return sharedMode?.isMappedBuffer(buffer) ?? false;
}

const namespaces = new Map<string, Record<string, unknown>>();

/**
 * What grants a module the executor was refused, when the refusal is a
 * permission: Deno's own message names a Deno flag, not the option of
 * spillway's that sets it.
 */
function permissionHint(error: unknown): string {
  // The module's own code was refused something (at its top level): the
  // sandbox's doing, not the import's.
  const sandbox = sandboxHint(error);
  if (sandbox !== "") return sandbox;
  const text = error instanceof Error ? `${error.name} ${error.message}` : "";
  if (
    /Requires read access|NotCapable.*read|PermissionDenied.*read/.test(text)
  ) {
    return " (tasks and their worker process may read only the paths " +
      "they were granted: add the module's directory or file to " +
      "`modules:` in LocalCluster.start, or to --modules of `spillway " +
      "worker`; a worker run with --no-nanny needs --allow-read on it too)";
  }
  if (/Requires import access|NotCapable.*import/.test(text)) {
    return " (the worker process may import remote modules only from the " +
      "hosts its --allow-import grants)";
  }
  return "";
}

/**
 * The modules of `codecs:` (LocalCluster) or `--codecs` (worker), imported
 * before any task runs: null once they are, or why one could not be.
 */
let codecModules: Promise<string | null> = Promise.resolve(null);

function loadCodecModules(modules: readonly string[]): void {
  codecModules = (async () => {
    for (const module of modules) {
      try {
        await importTask(module);
      } catch (error) {
        return `cannot import the codec module ${module} (named in LocalCluster's codecs: option or the worker's --codecs flag): ${
          describe(error).text
        }${permissionHint(error)}`;
      }
    }
    return null;
  })();
}

async function importTask(module: string): Promise<Record<string, unknown>> {
  let namespace = namespaces.get(module);
  if (namespace === undefined) {
    namespace = await import(module) as Record<string, unknown>;
    namespaces.set(module, namespace);
  }
  return namespace;
}

/**
 * The worker's pooled buffers this executor received (`run.pooled`): the
 * pool reuses their memory once this executor has collected its objects
 * of them, which the registry reports.
 */
const pooledBuffers = new WeakSet<SharedArrayBuffer>();
let collectedIds: number[] = [];
const pooledRegistry = new FinalizationRegistry<number>((id) => {
  if (collectedIds.length === 0) {
    setTimeout(() => {
      const ids = collectedIds;
      collectedIds = [];
      if (!leaving) scope.postMessage({ type: "released", ids });
    }, 0);
  }
  collectedIds.push(id);
});

/** Whether this executor ever received a pooled buffer. */
let receivedPooled = false;

function isPooled(buffer: ArrayBufferLike): boolean {
  return buffer instanceof SharedArrayBuffer && pooledBuffers.has(buffer);
}

/**
 * The value with every typed array or DataView that must not be sent back
 * as it is replaced by a copy over a fresh SharedArrayBuffer (containers
 * are updated in place): with `share`, those over a plain ArrayBuffer;
 * always, those over a pooled buffer, whose memory the pool will reuse
 * (and a pooled SharedArrayBuffer itself). The copy runs here, in the
 * executor, not on the control thread.
 */
function shareBuffers(
  value: unknown,
  lent: readonly ArrayBuffer[],
  share: boolean,
): unknown {
  const copies = new Map<ArrayBufferView, ArrayBufferView>();
  // Buffers of the result that were copied; freed at once below.
  const copied = new Set<ArrayBuffer>();
  const copyOf = (view: ArrayBufferView): ArrayBufferView => {
    if (view.buffer instanceof SharedArrayBuffer) {
      if (!isPooled(view.buffer)) return view;
    } else if (!share) return view;
    let copy = copies.get(view);
    if (copy === undefined) {
      const shared = new SharedArrayBuffer(view.byteLength);
      new Uint8Array(shared).set(
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
      );
      const Ctor = view.constructor as new (
        b: SharedArrayBuffer,
        o: number,
        n: number,
      ) => ArrayBufferView;
      const length = view instanceof DataView
        ? view.byteLength
        : (view as Uint8Array).length;
      copy = new Ctor(shared, 0, length);
      copies.set(view, copy);
      if (view.buffer instanceof ArrayBuffer) copied.add(view.buffer);
    }
    return copy;
  };
  const seen = new Set<unknown>();
  const visit = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v)) return copyOf(v);
    if (v instanceof SharedArrayBuffer && isPooled(v)) {
      const copy = new SharedArrayBuffer(v.byteLength);
      new Uint8Array(copy).set(new Uint8Array(v));
      return copy;
    }
    if (v === null || typeof v !== "object" || seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
    } else if (v instanceof Map) {
      for (const [k, item] of v) v.set(k, visit(item));
    } else if (v instanceof Set) {
      const items = [...v];
      v.clear();
      for (const item of items) v.add(visit(item));
    } else if (v instanceof CodecValue) {
      // Made by encodeResult for this reply: its encoded buffers too.
      (v as { value: unknown }).value = visit(v.value);
    } else if (
      Object.getPrototypeOf(v) === Object.prototype ||
      Object.getPrototypeOf(v) === null
    ) {
      for (const k of Object.keys(v)) {
        (v as Record<string, unknown>)[k] = visit(
          (v as Record<string, unknown>)[k],
        );
      }
    }
    return v;
  };
  const shared = visit(value);
  // Free the originals now instead of at the executor's next GC: a worker
  // making 64 MiB chunks otherwise held several dead copies and passed its
  // memory limit. Inputs (lent) are never freed here; a buffer the task
  // also keeps elsewhere (module state) would be detached, so tasks must
  // return fresh buffers, as the README says.
  const keep = new Set<ArrayBuffer>(lent);
  for (const buffer of copied) {
    // A mapped input returned as (part of) the result was copied too; its
    // mapping is released by its finalizer, never detached here.
    if (!keep.has(buffer) && !buffer.detached && !isMappedBuffer(buffer)) {
      buffer.transfer(0);
    }
  }
  return shared;
}

/** Posts `message`, lending back `lent` whole and transferring the result's buffers. */
function reply(
  message: FromExecutor,
  lent: ArrayBuffer[],
): void {
  const packed = (copyOthers: boolean) =>
    packForTransfer(message, { transferWhole: lent, copyOthers });
  let first = packed(false);
  try {
    scope.postMessage(first.value, first.transfer);
    return;
  } catch (error) {
    // A buffer that cannot be detached (e.g. WebAssembly.Memory) fails the
    // post before anything is detached: copy what is not ours and retry.
    if (first.transfer.some((b) => b.detached)) throw error;
    first = packed(true);
  }
  scope.postMessage(first.value, first.transfer);
}

function failure(
  kind: RemoteFailure["kind"],
  error: unknown,
  message?: string,
): RemoteFailure {
  const e = error instanceof Error ? error : undefined;
  return {
    kind,
    name: e?.name ?? "Error",
    message: message ?? (e ? e.message : String(error)),
    stack: e?.stack ?? "",
  };
}

async function runTask(
  message: Extract<ToExecutor, { type: "run" }>,
): Promise<void> {
  const { id, module, exportName } = message;
  const args = message.args;
  for (const [poolId, buffer] of message.pooled ?? []) {
    pooledBuffers.add(buffer);
    pooledRegistry.register(buffer, poolId);
    receivedPooled = true;
  }
  const lent = reachableBuffers(args);
  const fail = (f: RemoteFailure): void => sendFailure(id, f, args, lent);

  const codecFailure = await codecModules;
  if (codecFailure !== null) {
    return fail({
      kind: "import",
      name: "Error",
      message: codecFailure,
      stack: "",
    });
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = await importTask(module);
  } catch (error) {
    const { text } = describe(error);
    return fail(
      failure(
        "import",
        error,
        `cannot import ${module}: ${text}${permissionHint(error)}`,
      ),
    );
  }
  if (!(exportName in namespace)) {
    return fail({
      kind: "export",
      name: "TypeError",
      message: `module ${module} has no export ${exportName}`,
      stack: "",
    });
  }
  const fn = namespace[exportName];
  if (typeof fn !== "function") {
    return fail({
      kind: "export",
      name: "TypeError",
      message:
        `export ${exportName} of module ${module} is not a function (it is ${
          fn === null ? "null" : `a ${typeof fn}`
        })`,
      stack: "",
    });
  }

  // Values of registered classes, kept encoded by the control thread: the
  // task module (imported above) or a codec module registered their codecs.
  let callArgs = args;
  if (message.codecs !== undefined && message.codecs.length > 0) {
    try {
      callArgs = reviveCodecValues(args, message.codecs) as unknown[];
    } catch (error) {
      return fail(
        failure(
          "threw",
          error,
          `cannot decode the arguments of ${module}#${exportName}: ${
            error instanceof Error ? error.message : String(error)
          }`,
        ),
      );
    }
  }

  // Shared-memory mode: inputs mapped here from their spill files, no copy.
  const timeline = new Timeline();
  if (message.mapped !== undefined) {
    const start = epochMs();
    callArgs = callArgs.slice();
    try {
      const { mapInput } = await loadSharedMode();
      for (const [at, path] of Object.entries(message.mapped)) {
        callArgs[Number(at)] = mapInput(path);
      }
    } catch (error) {
      return fail(
        failure(
          "threw",
          error,
          `cannot map an input of ${module}#${exportName}: ${
            describe(error).text
          }`,
        ),
      );
    }
    timeline.add("deserialize", start, epochMs());
  }

  let value: unknown;
  const start = performance.now();
  const computeStart = epochMs();
  try {
    value = await fn(...callArgs);
  } catch (error) {
    // A sandbox refusal says which grant would allow it.
    return fail(failure("threw", error, sandboxMessage(error) ?? undefined));
  }
  const seconds = (performance.now() - start) / 1000;
  const computeStop = epochMs();
  // A result is held to the rule of an argument: a class instance travels
  // only through its codec (then as a CodecValue), else the task fails here,
  // instead of arriving as a plain object.
  let codecs: CodecValue[];
  try {
    ({ value, codecs } = encodeResult(value, "result"));
  } catch (error) {
    return fail(
      failure(
        "unsendable",
        error,
        `the result of ${module}#${exportName} cannot be serialized: ${
          error instanceof Error ? error.message : String(error)
        }`,
      ),
    );
  }
  timeline.add("compute", computeStart, computeStop);
  const phases = timeline.startstops;
  if (message.spillTo !== undefined) {
    const { spillResult } = await loadSharedMode();
    const spilled = spillResult(
      value,
      lent,
      message.spillTo,
      message.spillAbove ?? 0,
    );
    if (spilled !== null) {
      timeline.add("disk-write", computeStop, epochMs(), spilled);
      if (message.mapped !== undefined) collectSoon();
      reply(
        {
          type: "done",
          id,
          result: undefined,
          args,
          seconds,
          spilled,
          phases,
        },
        lent,
      );
      return;
    }
  }
  if (message.shareResult || receivedPooled) {
    const storeStart = epochMs();
    value = shareBuffers(value, lent, message.shareResult ?? false);
    timeline.add("store", storeStart, epochMs(), sharedBytes([value]));
  }

  // Mapped inputs are unmapped once collected, after this task.
  if (
    message.mapped !== undefined ||
    sharedBytes([...args, value]) >= COLLECT_AFTER_BYTES
  ) collectSoon();
  try {
    reply({
      type: "done",
      id,
      result: value,
      args,
      seconds,
      phases,
      ...(codecs.length > 0 ? { codecs } : {}),
    }, lent);
  } catch (error) {
    const why = error instanceof UnsendableValueError
      ? error.message
      : describe(error).text;
    fail(
      failure(
        "unsendable",
        error,
        `the result of ${module}#${exportName} cannot be sent back: ${why}`,
      ),
    );
  }
}

/**
 * Shared buffers (inputs, and results copied into shared memory) stay alive
 * while this isolate holds a wrapper of them, and a task that allocates
 * little never triggers a GC here: a worker making 32 MiB chunks kept every
 * chunk it had made after the store spilled them, and passed its memory
 * limit. So after a task with large shared inputs or result, collect once (when the process runs with
 * `--v8-flags=--expose-gc`, as worker processes do).
 */
const COLLECT_AFTER_BYTES = 8 * 2 ** 20;
let collectScheduled = false;

function collectSoon(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined || collectScheduled) return;
  collectScheduled = true;
  setTimeout(() => {
    collectScheduled = false;
    gc();
    // Finalizers (which unmap mapped inputs) run as tasks of this loop,
    // and an idle executor's loop did not turn again before its next
    // message: mappings of deleted files stayed for seconds. One more turn.
    setTimeout(() => {}, 0);
  }, 0);
}

/** Bytes of SharedArrayBuffer-backed views directly among `args` (one level deep). */
function sharedBytes(args: unknown[]): number {
  let bytes = 0;
  for (const arg of args) {
    if (ArrayBuffer.isView(arg) && arg.buffer instanceof SharedArrayBuffer) {
      bytes += arg.byteLength;
    }
  }
  return bytes;
}

/** Sends a failure with the inputs; without them if they cannot be sent. */
function sendFailure(
  id: number,
  f: RemoteFailure,
  args: unknown[],
  lent: ArrayBuffer[],
): void {
  try {
    reply({ type: "failed", id, failure: f, args }, lent);
  } catch (error) {
    const why = describe(error).text;
    scope.postMessage({
      type: "failed",
      id,
      failure: {
        ...f,
        message: `${f.message} (and the inputs could not be sent back: ${why})`,
      },
    });
  }
}

// A listener, not `onmessage`, which a task module could overwrite.
scope.addEventListener("message", (event): void => {
  const message = (event as MessageEvent<ToExecutor>).data;
  if (message.type === "run") {
    // Pooled inputs go back to the worker's pool once collected here, also
    // after a failure.
    void runTask(message).finally(() => {
      if (message.pooled !== undefined) collectSoon();
    });
  } else if (message.type === "codecs") {
    loadCodecModules(message.modules);
    void codecModules.then((error) => {
      if (!leaving) scope.postMessage({ type: "codecs-loaded", error });
    });
  } else if (message.type === "shutdown") {
    leaving = true;
    // Mappings are released (unmapped) before the pool terminates this
    // executor: terminate() runs no finalizers.
    (sharedMode?.collectMappings() ?? Promise.resolve()).finally(() => {
      scope.postMessage({ type: "shutdown-done" });
      closeExecutor();
    });
  }
});

scope.postMessage({ type: "ready" });

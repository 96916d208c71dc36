import { deepEqual, equal, notEqual, ok, throws } from "node:assert/strict";
import {
  DEFAULT_THRESHOLDS,
  type MemoryThresholds,
  resolveThresholds,
} from "../../src/memory/thresholds.ts";

Deno.test("DEFAULT_THRESHOLDS are Dask's and frozen", () => {
  deepEqual({ ...DEFAULT_THRESHOLDS }, {
    target: 0.6,
    spill: 0.7,
    pause: 0.8,
    terminate: 0.95,
  });
  ok(Object.isFrozen(DEFAULT_THRESHOLDS));
});

Deno.test("resolveThresholds fills in the defaults", () => {
  deepEqual(resolveThresholds(), { ...DEFAULT_THRESHOLDS });
  deepEqual(resolveThresholds({}), { ...DEFAULT_THRESHOLDS });
  deepEqual(resolveThresholds({ spill: undefined }), { ...DEFAULT_THRESHOLDS });
  deepEqual(resolveThresholds({ pause: 0.9, target: false }), {
    target: false,
    spill: 0.7,
    pause: 0.9,
    terminate: 0.95,
  });
  const resolved = resolveThresholds();
  notEqual(resolved, DEFAULT_THRESHOLDS);
  resolved.spill = 0.5; // a new object: the defaults are untouched
  equal(DEFAULT_THRESHOLDS.spill, 0.7);
});

Deno.test("resolveThresholds accepts the range ends and false", () => {
  deepEqual(
    resolveThresholds({ target: 0, spill: 1, pause: 1, terminate: 1 }),
    {
      target: 0,
      spill: 1,
      pause: 1,
      terminate: 1,
    },
  );
  deepEqual(
    resolveThresholds({
      target: false,
      spill: false,
      pause: false,
      terminate: false,
    }),
    { target: false, spill: false, pause: false, terminate: false },
  );
  equal(resolveThresholds({ spill: Number.MIN_VALUE }).spill, Number.MIN_VALUE);
});

Deno.test("resolveThresholds rejects out-of-range values with a RangeError", () => {
  const bad: Partial<Record<keyof MemoryThresholds, unknown>>[] = [
    { target: -0.1 },
    { target: 1.1 },
    { target: NaN },
    { target: true },
    { target: "0.5" },
    { target: null },
    { spill: 0 },
    { pause: 0 },
    { terminate: 0 },
    { spill: 1.5 },
    { pause: -1 },
    { terminate: Infinity },
  ];
  for (const partial of bad) {
    throws(
      () => resolveThresholds(partial as Partial<MemoryThresholds>),
      RangeError,
      JSON.stringify(partial),
    );
  }
  throws(() => resolveThresholds({ spill: 1.5 }), {
    message:
      "invalid memory threshold spill=1.5: expected a fraction of the memory limit (0 < x <= 1) or false to disable it",
  });
});

Deno.test("resolveThresholds rejects unknown names", () => {
  throws(
    () => resolveThresholds({ spil: 0.5 } as Partial<MemoryThresholds>),
    {
      name: "RangeError",
      message:
        'unknown memory threshold "spil": expected target, spill, pause or terminate',
    },
  );
});

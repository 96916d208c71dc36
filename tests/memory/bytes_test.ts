import { equal, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  formatBytes,
  parseBytes,
  parseMemoryLimit,
} from "../../src/memory/bytes.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

Deno.test("parseBytes reads SI, IEC and bare sizes", () => {
  const cases: [string | number, number][] = [
    ["4GiB", 4 * GiB],
    ["4 GiB", 4 * GiB],
    ["512MiB", 512 * MiB],
    ["2e9", 2e9],
    ["1.5GB", 1.5e9],
    ["100kB", 100_000],
    ["123", 123],
    ["123B", 123],
    ["123 b", 123],
    [1024, 1024],
    [0, 0],
    ["0", 0],
    ["1KiB", KiB],
    ["1TiB", 1024 * GiB],
    ["1TB", 1e12],
    ["2MB", 2e6],
    ["1PiB", 2 ** 50],
    ["1PB", 1e15],
    ["  8 gib  ", 8 * GiB],
    ["8GIB", 8 * GiB],
    ["8mb", 8e6],
    ["4G", 4e9],
    ["4Gi", 4 * GiB],
    ["10k", 10_000],
    ["1e3KiB", 1000 * KiB],
    [".5KiB", 512],
    ["1.KiB", KiB],
    ["2.5e-3MB", 2500],
    ["4.1MB", 4_100_000],
    [1.4, 1],
    [1.6, 2],
  ];
  for (const [text, bytes] of cases) {
    equal(parseBytes(text), bytes, `parseBytes(${JSON.stringify(text)})`);
  }
});

Deno.test("parseBytes rejects what is not a size with a RangeError", () => {
  const bad: (string | number)[] = [
    "banana",
    "",
    "   ",
    "GiB",
    "4 GiBs",
    "4 XB",
    "4 Gib extra",
    "-1",
    "-1GiB",
    "+1",
    "1,024",
    "0x10",
    "1e",
    "Infinity",
    "NaN",
    "1e400",
    "1e20",
    -1,
    NaN,
    Infinity,
    2 ** 60,
  ];
  for (const text of bad) {
    throws(() => parseBytes(text), RangeError, `parseBytes(${String(text)})`);
  }
  throws(() => parseBytes("banana"), {
    name: "RangeError",
    message:
      'invalid byte size "banana": expected a number with an optional unit such as 4GiB or 2e9',
  });
  throws(() => parseBytes(null as unknown as string), RangeError);
});

Deno.test("parseBytes of a whole number with a unit is exact (property)", () => {
  const units: [string, number][] = [
    ["", 1],
    ["B", 1],
    ["kB", 1e3],
    ["KiB", 2 ** 10],
    ["MB", 1e6],
    ["MiB", 2 ** 20],
    ["GB", 1e9],
    ["GiB", 2 ** 30],
  ];
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.constantFrom(...units),
      fc.constantFrom("", " "),
      (n, [unit, multiplier], space) => {
        equal(parseBytes(`${n}${space}${unit}`), n * multiplier);
      },
    ),
  );
});

Deno.test("formatBytes prints bytes and two decimals of IEC units", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [1536, "1.50 KiB"],
    [1.5 * GiB, "1.50 GiB"],
    [MiB - 1, "1.00 MiB"],
    [3 * 1024 * GiB, "3.00 TiB"],
    [-1.5 * GiB, "-1.50 GiB"],
    [-12, "-12 B"],
    [2 ** 70, "1024.00 EiB"],
    [NaN, "NaN B"],
  ];
  for (const [n, text] of cases) {
    equal(formatBytes(n), text, `formatBytes(${n})`);
  }
});

Deno.test("formatBytes output parses back to within rounding (property)", () => {
  fc.assert(
    // Up to 4 PiB: "8.00 PiB" would round past Number.MAX_SAFE_INTEGER,
    // which parseBytes refuses.
    fc.property(fc.integer({ min: 0, max: 2 ** 52 }), (n) => {
      const back = parseBytes(formatBytes(n));
      // Two decimals of the unit: a relative error of at most 0.5 %.
      equal(Math.abs(back - n) <= Math.max(1, n * 0.005), true);
    }),
  );
});

Deno.test("parseMemoryLimit: no limit", () => {
  for (const spec of [0, "0", "0B", "0 GiB", null, undefined]) {
    equal(parseMemoryLimit(spec, { totalMemory: 8 * GiB }), null);
  }
});

Deno.test("parseMemoryLimit: fractions of total memory and auto", () => {
  const totalMemory = 16 * GiB;
  equal(parseMemoryLimit(0.5, { totalMemory }), 8 * GiB);
  equal(parseMemoryLimit("0.5", { totalMemory }), 8 * GiB);
  equal(parseMemoryLimit(" .25 ", { totalMemory }), 4 * GiB);
  equal(parseMemoryLimit(1, { totalMemory }), totalMemory);
  equal(parseMemoryLimit("1", { totalMemory }), totalMemory);
  equal(parseMemoryLimit("1.0", { totalMemory }), totalMemory);
  equal(parseMemoryLimit("5e-1", { totalMemory }), 8 * GiB);
  equal(parseMemoryLimit("auto", { totalMemory }), totalMemory);
  equal(parseMemoryLimit("AUTO", { totalMemory }), totalMemory);
});

Deno.test("parseMemoryLimit: sizes go through parseBytes", () => {
  const totalMemory = 16 * GiB;
  equal(parseMemoryLimit("4GiB", { totalMemory }), 4 * GiB);
  equal(parseMemoryLimit("2e9", { totalMemory }), 2e9);
  equal(parseMemoryLimit(4096, { totalMemory }), 4096);
  equal(parseMemoryLimit("2", { totalMemory }), 2);
  equal(parseMemoryLimit("1B", { totalMemory }), 1);
  // Not capped at the total memory: capping would need --allow-sys always.
  equal(parseMemoryLimit("32GiB", { totalMemory }), 32 * GiB);
  // An explicit size never reads the system's memory.
  equal(parseMemoryLimit("4GiB"), 4 * GiB);
});

Deno.test("parseMemoryLimit rejects negative and malformed limits", () => {
  const totalMemory = 16 * GiB;
  for (const spec of [-1, -0.5, "-0.5", "-4GiB", " -1"]) {
    throws(
      () => parseMemoryLimit(spec, { totalMemory }),
      RangeError,
      `parseMemoryLimit(${JSON.stringify(spec)})`,
    );
  }
  throws(() => parseMemoryLimit("banana", { totalMemory }), {
    name: "RangeError",
    message: /invalid byte size "banana"/,
  });
  throws(() => parseMemoryLimit(NaN, { totalMemory }), RangeError);
  throws(() => parseMemoryLimit("0.5", { totalMemory: 0 }), RangeError);
  throws(() => parseMemoryLimit("auto", { totalMemory: NaN }), RangeError);
});

Deno.test("parseMemoryLimit reads the system's total memory by default", () => {
  const total = Deno.systemMemoryInfo().total;
  equal(parseMemoryLimit("auto"), total);
  equal(parseMemoryLimit(0.5), Math.round(total / 2));
});

Deno.test("parseMemoryLimit explains a missing --allow-sys", () => {
  const original = Deno.systemMemoryInfo;
  Deno.systemMemoryInfo = () => {
    throw new Deno.errors.NotCapable(
      'Requires sys access to "systemMemoryInfo", run again with the --allow-sys flag',
    );
  };
  try {
    throws(() => parseMemoryLimit("0.5"), {
      message:
        /--allow-sys=systemMemoryInfo, or pass an explicit size such as "4GiB"/,
    });
    throws(() => parseMemoryLimit("auto"), {
      message: /cannot resolve memory limit "auto"/,
    });
    // Sizes and no-limit need no system memory.
    equal(parseMemoryLimit("4GiB"), 4 * GiB);
    equal(parseMemoryLimit(null), null);
    // An injected total is used instead.
    equal(parseMemoryLimit("0.5", { totalMemory: 2 * GiB }), GiB);
  } finally {
    Deno.systemMemoryInfo = original;
  }
});

/** The cluster commands' command lines: errors exit 2 with one line and the usage; --help exits 0. */
import assert from "node:assert/strict";
import { CLI } from "./_support.ts";
import { runDeno, type RunResult } from "../_support/run.ts";

function spillway(...args: string[]): Promise<RunResult> {
  return runDeno(["--no-prompt", "--allow-net=127.0.0.1"], CLI, args);
}

const cases: [string[], RegExp, RegExp][] = [
  [
    ["scheduler", "--bogus"],
    /Unknown option '--bogus'/,
    /usage: spillway scheduler/,
  ],
  [
    ["scheduler", "--port", "70000"],
    /--port: expected an integer from 0 to 65535, got "70000"/,
    /usage: spillway scheduler/,
  ],
  [
    ["scheduler", "--heartbeat-timeout", "soon"],
    /--heartbeat-timeout: invalid duration "soon"/,
    /usage: spillway scheduler/,
  ],
  [
    ["scheduler", "--host", "no such host"],
    /--host: invalid host "no such host"/,
    /usage: spillway scheduler/,
  ],
  [
    ["scheduler", "extra"],
    /unexpected argument .extra./i,
    /usage: spillway scheduler/,
  ],
  [["worker"], /missing <scheduler-address>/, /usage: spillway worker/],
  [
    ["worker", "localhost"],
    /invalid address "localhost": no port/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "http://h:1"],
    /unsupported scheme "http"/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--memory-limit", "banana"],
    /--memory-limit: invalid byte size "banana"/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--memory-limit=-1GiB"],
    /--memory-limit: invalid memory limit "-1GiB"/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--memory-limit", "-1GiB"],
    /argument is ambiguous \(for a value starting with a dash, write --memory-limit=-XYZ\)/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--nthreads", "0"],
    /--nthreads: expected an integer from 1 to 1024, got "0"/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--nthreads"],
    /'--nthreads <value>' argument missing/,
    /usage: spillway worker/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "--no-nanny", "--v8-flags=--expose-gc"],
    /--v8-flags is for the nanny's worker process/,
    /usage: spillway worker/,
  ],
  [
    ["local", "--workers", "two"],
    /--workers: expected an integer from 1 to 1024, got "two"/,
    /usage: spillway local/,
  ],
  [
    ["local", "--memory-limit", "lots"],
    /--memory-limit: invalid byte size "lots"/,
    /usage: spillway local/,
  ],
  [
    ["worker", "tcp://127.0.0.1:8786", "extra"],
    /unexpected argument "extra"/,
    /usage: spillway worker/,
  ],
  [["frobnicate"], /unknown command "frobnicate"/, /usage: spillway <command>/],
];

Deno.test("a bad flag, value or command prints one line and the usage, exit 2", async () => {
  const results = await Promise.all(cases.map(([args]) => spillway(...args)));
  results.forEach((r, i) => {
    const [args, error, usage] = cases[i];
    const what = args.join(" ");
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.equal(r.stdout, "", what);
    const [first, second] = r.stderr.split("\n");
    assert.match(first, /^spillway: /, what);
    assert.match(first, error, what);
    assert.equal(second, "", `${what}: one line, then the usage`);
    assert.match(r.stderr, usage, what);
  });
});

Deno.test("--help of each command prints its usage, exit 0", async () => {
  const commands = [
    [
      "scheduler",
      /usage: spillway scheduler \[options\][\s\S]*--heartbeat-timeout/,
    ],
    ["worker", /usage: spillway worker <scheduler-address>[\s\S]*--no-nanny/],
    ["local", /usage: spillway local \[options\][\s\S]*--workers/],
  ] as const;
  const results = await Promise.all(
    commands.flatMap((
      [name],
    ) => [spillway(name, "--help"), spillway(name, "-h")]),
  );
  results.forEach((r, i) => {
    const [name, usage] = commands[Math.floor(i / 2)];
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, usage, name);
    assert.equal(r.stderr, "", name);
  });
  const top = await spillway("--help");
  assert.equal(top.code, 0);
  for (const name of ["scheduler", "worker", "local", "demo"]) {
    assert.match(top.stdout, new RegExp(`^  ${name} `, "m"));
  }
});

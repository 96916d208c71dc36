/**
 * The log: line formats, level filtering, and the rate limit on repeated
 * lines (with a clock the test moves).
 */
import * as assert from "node:assert/strict";
import {
  formatLogLine,
  LogSink,
  type LogSinkOptions,
  messageTemplate,
  safeLog,
} from "../../src/comm/log.ts";

function sink(options: LogSinkOptions = {}) {
  const lines: string[] = [];
  let now = Date.parse("2026-12-07T03:10:00.123Z");
  const s = new LogSink({
    write: (line) => lines.push(line),
    now: () => now,
    ...options,
  });
  return {
    sink: s,
    lines,
    advance(ms: number) {
      now += ms;
    },
  };
}

Deno.test("a text line is the time (ISO 8601), the level, the role and the message", () => {
  const { sink: s, lines } = sink();
  s.log("scheduler", "info", "worker tcp://127.0.0.1:40001 joined");
  s.log("worker tcp://127.0.0.1:40001", "warn", "paused", { status: "paused" });
  assert.deepEqual(lines, [
    "2026-12-07T03:10:00.123Z INFO scheduler worker tcp://127.0.0.1:40001 joined",
    "2026-12-07T03:10:00.123Z WARN worker tcp://127.0.0.1:40001 paused",
  ]);
});

Deno.test("a JSON line has time, level, role, message, then the fields; one line per event", () => {
  const { sink: s, lines } = sink({ format: "json" });
  s.log("nanny", "error", "giving up\nafter 5 failures", {
    failures: 5,
    level: "not this one",
  });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  const record = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(record), [
    "time",
    "level",
    "role",
    "message",
    "failures",
  ]);
  assert.deepEqual(record, {
    time: "2026-12-07T03:10:00.123Z",
    level: "error",
    role: "nanny",
    message: "giving up after 5 failures",
    failures: 5,
  });
  assert.equal(
    formatLogLine(
      { time: 0, level: "debug", role: "client", message: "x" },
      "text",
    ),
    "1970-01-01T00:00:00.000Z DEBUG client x",
  );
});

Deno.test("lines below the level are dropped", () => {
  const { sink: s, lines } = sink({ level: "warn" });
  for (const level of ["debug", "info", "warn", "error"] as const) {
    s.log("scheduler", level, `a ${level} line`);
  }
  assert.deepEqual(lines.map((l) => l.split(" ")[1]), ["WARN", "ERROR"]);
  s.configure({ level: "debug" });
  s.log("scheduler", "debug", "now shown");
  assert.equal(lines.length, 3);
});

Deno.test("a repeated line is rate-limited: a burst, then one per interval, and a count of what was suppressed", () => {
  const { sink: s, lines, advance } = sink({ burst: 5, interval: 10_000 });
  for (let port = 1000; port < 2000; port++) {
    s.log(
      "scheduler",
      "warn",
      `closing connection with 127.0.0.1:${port}: bad magic (first bytes 9b ${
        String(port % 100).padStart(2, "0")
      } 86)`,
    );
  }
  assert.equal(lines.length, 5, lines.join("\n"));
  // Another template, or another role, has its own budget.
  s.log("scheduler", "warn", "worker tcp://127.0.0.1:1 removed (disconnected)");
  s.log(
    "worker tcp://127.0.0.1:1",
    "warn",
    "closing connection with 127.0.0.1:5: bad magic",
  );
  assert.equal(lines.length, 7);
  // After an interval, one more line goes out, after the count of those held back.
  advance(10_000);
  s.log(
    "scheduler",
    "warn",
    "closing connection with 127.0.0.1:3000: bad magic (first bytes 00 01)",
  );
  assert.equal(lines.length, 9, lines.join("\n"));
  assert.match(
    lines[7],
    /^\S+ WARN scheduler … 995 similar lines suppressed \(the last: closing connection with 127\.0\.0\.1:1999: /,
  );
  assert.match(lines[8], /127\.0\.0\.1:3000/);
  // Held back again; flush owes the count.
  s.log(
    "scheduler",
    "warn",
    "closing connection with 127.0.0.1:3001: bad magic (first bytes 00 01)",
  );
  s.log(
    "scheduler",
    "warn",
    "closing connection with 127.0.0.1:3002: bad magic (first bytes 00 01)",
  );
  assert.equal(lines.length, 9);
  s.flush();
  assert.equal(lines.length, 10);
  assert.match(lines[9], /… 2 similar lines suppressed \(the last: .*:3002: /);
  s.flush();
  assert.equal(lines.length, 10, "nothing owed twice");
});

Deno.test("the summary of suppressed lines comes on its own, once per interval, without a new line to carry it", async () => {
  const lines: string[] = [];
  const s = new LogSink({
    write: (l) => lines.push(l),
    burst: 1,
    interval: 50,
    format: "json",
  });
  s.log("scheduler", "warn", "bad frame 1");
  s.log("scheduler", "warn", "bad frame 2");
  s.log("scheduler", "warn", "bad frame 3");
  assert.equal(lines.length, 1);
  while (lines.length < 2) await new Promise((r) => setTimeout(r, 10));
  const summary = JSON.parse(lines[1]);
  assert.equal(summary.suppressed, 2);
  assert.equal(summary.role, "scheduler");
  assert.equal(summary.level, "warn");
  s.flush(); // stops its timer
});

Deno.test("rate limiting off (burst 0) writes every line", () => {
  const { sink: s, lines } = sink({ burst: 0 });
  for (let i = 0; i < 100; i++) s.log("client", "info", `line ${i}`);
  assert.equal(lines.length, 100);
});

Deno.test("a template blanks numbers, addresses, byte dumps and quoted parts", () => {
  assert.equal(
    messageTemplate(
      'comm: closing connection with 127.0.0.1:49508: ProtocolError: bad magic: not a Spillway "SPWF" message (first bytes 92 42 5e d5 2e c7 7d ca)',
    ),
    messageTemplate(
      'comm: closing connection with 10.1.2.3:1: ProtocolError: bad magic: not a Spillway "XYZ" message (first bytes cf 84 cd f1 38 52 e3 37)',
    ),
  );
  assert.notEqual(
    messageTemplate("worker tcp://127.0.0.1:1 joined"),
    messageTemplate("worker tcp://127.0.0.1:1 paused"),
  );
});

Deno.test("old loggers taking only the line still work, and a throwing one is contained", () => {
  const lines: string[] = [];
  const log = safeLog((line: string) => lines.push(line));
  log("a line", "warn", { n: 1 });
  assert.deepEqual(lines, ["a line"]);
  safeLog(() => {
    throw new Error("broken");
  })("no throw");
});

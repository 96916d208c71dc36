/** Parsing and formatting of TCP addresses. */
import assert from "node:assert/strict";
import {
  formatAddress,
  parseAddress,
  toTcpAddress,
} from "../../src/comm/mod.ts";

Deno.test("parseAddress accepts tcp://host:port, host:port and bracketed IPv6", () => {
  assert.deepEqual(parseAddress("tcp://127.0.0.1:8786"), {
    hostname: "127.0.0.1",
    port: 8786,
  });
  assert.deepEqual(parseAddress("TCP://example.org:1/"), {
    hostname: "example.org",
    port: 1,
  });
  assert.deepEqual(parseAddress("  worker-3:65535 "), {
    hostname: "worker-3",
    port: 65535,
  });
  assert.deepEqual(parseAddress("[::1]:9000"), { hostname: "::1", port: 9000 });
  assert.deepEqual(parseAddress("tcp://[fe80::1]:80"), {
    hostname: "fe80::1",
    port: 80,
  });
});

Deno.test("parseAddress names the address and the problem", () => {
  const cases: [string, RegExp][] = [
    ["host", /no port/],
    ["udp://h:1", /unsupported scheme "udp"/],
    ["h:", /bad port/],
    ["h:-1", /bad port/],
    ["h:123456", /bad port/],
    ["h:0", /port out of range/],
    ["[::1]9000", /\[host\]:port/],
    ["fe80::1:80", /brackets/],
    ["a b:1", /bad host/],
    ["user@h:1", /bad host/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseAddress(text), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.ok(
        e.message.startsWith(`invalid address ${JSON.stringify(text)}: `),
        e.message,
      );
      assert.match(e.message, why);
      assert.match(e.message, /expected "tcp:\/\/host:port" or "host:port"/);
      return true;
    });
  }
});

Deno.test("toTcpAddress checks objects; formatAddress brackets IPv6", () => {
  assert.deepEqual(toTcpAddress({ hostname: "h", port: 1 }), {
    hostname: "h",
    port: 1,
  });
  assert.throws(
    () => toTcpAddress({ hostname: "", port: 1 }),
    /hostname must be/,
  );
  assert.throws(
    () => toTcpAddress({ hostname: "h", port: 1.5 }),
    /port must be/,
  );
  assert.throws(() => toTcpAddress(null as unknown as string), TypeError);
  assert.equal(
    formatAddress({ hostname: "127.0.0.1", port: 80 }),
    "127.0.0.1:80",
  );
  assert.equal(formatAddress({ hostname: "::1", port: 80 }), "[::1]:80");
  assert.deepEqual(parseAddress(formatAddress({ hostname: "::1", port: 80 })), {
    hostname: "::1",
    port: 80,
  });
});

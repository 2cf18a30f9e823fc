/** Parsing and formatting of IP addresses. */
import assert from "node:assert/strict";
import { formatIp, parseIp } from "../src/address.ts";

Deno.test("IPv4 and IPv6 addresses parse and format back (RFC 5952)", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["::", "::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:DB8::0001", "2001:db8::1"],
    ["fe80::1%3", "fe80::1"],
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1"],
    ["::ffff:7f00:1", "::ffff:127.0.0.1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
  ];
  for (const [input, want] of cases) {
    const ip = parseIp(input);
    assert.ok(ip, input);
    assert.equal(formatIp(ip.family, ip.bytes), want, input);
  }
  assert.equal(parseIp("fe80::1%3")?.scopeId, 3);
  for (const bad of ["localhost", "1.2.3", "256.1.1.1", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", ""]) {
    assert.equal(parseIp(bad), null, bad);
  }
});

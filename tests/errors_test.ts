/** Library codes become Deno.errors classes with code and osError. */
import assert from "node:assert/strict";
import { aioError, Code } from "../src/errors.ts";
import { ResourceExhausted } from "../mod.ts";

Deno.test("library codes map to Deno.errors classes with code and osError", () => {
  const cases: [number, unknown, string][] = [
    [Code.ECONNREFUSED, Deno.errors.ConnectionRefused, "ECONNREFUSED"],
    [Code.ECONNRESET, Deno.errors.ConnectionReset, "ECONNRESET"],
    [Code.EADDRINUSE, Deno.errors.AddrInUse, "EADDRINUSE"],
    [Code.EADDRNOTAVAIL, Deno.errors.AddrNotAvailable, "EADDRNOTAVAIL"],
    [Code.ETIMEDOUT, Deno.errors.TimedOut, "ETIMEDOUT"],
    [Code.ENOENT, Deno.errors.NotFound, "ENOENT"],
    [Code.EACCES, Deno.errors.PermissionDenied, "EACCES"],
    [Code.EPIPE, Deno.errors.BrokenPipe, "EPIPE"],
    [Code.EBADID, Deno.errors.BadResource, "EBADF"],
  ];
  for (const [code, cls, name] of cases) {
    const e = aioError(-code, 111, "op");
    assert.ok(e instanceof (cls as typeof Error), name);
    assert.equal(e.code, name);
    assert.equal(e.osError, 111);
  }
  assert.equal(aioError(-Code.EIO, 0, "op").osError, undefined, "no osError when the OS gave none");
});

Deno.test("EMFILE becomes ResourceExhausted, an Error with code EMFILE (no Deno.errors class fits)", () => {
  const e = aioError(-Code.EMFILE, 24, "connect 127.0.0.1:1");
  assert.ok(e instanceof ResourceExhausted);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "ResourceExhausted");
  assert.equal(e.code, "EMFILE");
  assert.equal(e.osError, 24);
  assert.match(e.message, /EMFILE/);
});

Deno.test("ENOTSUP and EEXIST map to NotSupported and AlreadyExists", () => {
  assert.ok(aioError(-Code.ENOTSUP, 1, "adopt") instanceof Deno.errors.NotSupported);
  assert.ok(aioError(-Code.EEXIST, 17, "adopt") instanceof Deno.errors.AlreadyExists);
});

/**
 * Issue 16 without @eve/aio (run by tools/repro_unload.sh, not by the
 * suite): a blocking C echo loop, served by a nonblocking FFI call, against
 * node:net; the node:net end stays open when the test ends. The test passes;
 * the process then crashes at exit unless the library pinned itself.
 *
 *   deno test -A native/test/unload_repro_test.ts -- server|client [pin]
 *
 * server: node:net client, C server (the crash of issue 16 under Wine);
 * client: C client, node:net server (the crash of Linux deno).
 * Needs --allow-all: node:net on a Windows pipe name asks for it.
 */
import assert from "node:assert/strict";
import * as net from "node:net";

const windows = Deno.build.os === "windows";
const lib = Deno.dlopen(
  new URL(`../build/unload-repro/${windows ? "unload_repro.dll" : "libunload_repro.so"}`, import.meta.url),
  {
    repro_listen: { parameters: ["buffer"], result: "i64" },
    repro_dial: { parameters: ["buffer"], result: "i64" },
    repro_echo: { parameters: ["i64", "i32"], result: "i32", nonblocking: true },
    repro_pin: { parameters: [], result: "i32" },
  },
);
const pin = Deno.args.includes("pin");
const mode = Deno.args.includes("client") ? "client" : "server";
if (pin) assert.equal(lib.symbols.repro_pin(), 0, "pinned");
const path = windows ? `\\\\.\\pipe\\aio-unload-repro-${Deno.pid}` : `${Deno.makeTempDirSync()}/repro.sock`;
const cpath = new TextEncoder().encode(`${path}\0`);
const sent = new Uint8Array(16).map((_, i) => i);

Deno.test(`C echo ${mode} in a nonblocking FFI call against node:net (${pin ? "pinned" : "not pinned"})`, async () => {
  if (mode === "server") {
    const os = lib.symbols.repro_listen(cpath);
    assert.notEqual(BigInt(os), -1n, "listening");
    // Not awaited: it is still blocked in its read when the test ends.
    lib.symbols.repro_echo(os, 1);
    const got = await new Promise<Uint8Array>((resolve, reject) => {
      const c = net.connect(path, () => c.write(sent));
      c.on("data", (d: Uint8Array) => {
        c.end(); // as in issue 16: ended or not, the handle lives on
        resolve(new Uint8Array(d));
      });
      c.on("error", reject);
    });
    assert.deepEqual(got, sent);
  } else {
    let peer: net.Socket | undefined;
    const got = new Promise<Uint8Array>((resolve) => {
      const server = net.createServer((c: net.Socket) => {
        peer = c;
        c.on("data", (d: Uint8Array) => resolve(new Uint8Array(d)));
        c.write(sent);
        server.close(); // takes no new client; this one stays open
      });
      server.listen(path, () => {
        const os = lib.symbols.repro_dial(cpath);
        assert.notEqual(BigInt(os), -1n, "connected");
        lib.symbols.repro_echo(os, 0); // not awaited, as above
      });
    });
    assert.deepEqual(await got, sent);
    assert.ok(peer);
  }
});

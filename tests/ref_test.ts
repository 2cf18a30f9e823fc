/** ref and unref: an unref'd object does not keep the process alive, yet gets its events. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, runScript, within } from "./helpers.ts";

Deno.test("unref'd objects still get their events while something else keeps the process alive", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.unref();
  const accepted = l.accept();
  const c = await TcpConnection.connect("127.0.0.1", l.localPort);
  c.unref();
  const s = await within(accepted, 10_000, "accept while unref'd");
  s.unref();
  const got = new Promise<string>((r) => (s.onData = (_s, d) => r(new TextDecoder().decode(d))));
  c.send(new TextEncoder().encode("quiet"));
  // The test's own timer keeps the process alive meanwhile.
  assert.equal(await within(got, 10_000, "data while unref'd"), "quiet");
  c.ref();
  await c.close();
  await s.close();
  l.close();
});

Deno.test("closing an unref'd connection keeps the process alive until the close is done", async () => {
  // Nothing else is alive while the client's graceful close flushes its
  // queue and sends FIN: `await close()` must still settle.
  const r = await runScript(
    `
import { TcpConnection, TcpListener } from "MOD_URL";
const l = await TcpListener.listen("127.0.0.1", 0);
const accepted = l.accept();
const c = await TcpConnection.connect("127.0.0.1", l.localPort);
const s = await accepted;
l.close();
s.onData = () => {};
c.send(new Uint8Array(256 * 1024));
c.unref();
s.unref();
await c.close();
console.log("closed", c.state, c.sendQueueLen);
s.dispose();
`,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"],
  );
  assertCleanExit(r, "subprocess");
  assert.match(r.stdout, /closed closed 0/);
});

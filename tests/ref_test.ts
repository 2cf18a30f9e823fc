/** ref and unref: an unref'd object does not keep the process alive, yet gets its events. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { within } from "./helpers.ts";

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

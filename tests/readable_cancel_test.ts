/** A cancelled readable: what arrives is dropped and the connection still closes. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { sleep, within } from "./helpers.ts";

Deno.test("a cancelled readable discards what arrives and the connection still closes", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, s) => (s.onData = (ss, d) => void ss.send(d));
  const c = await TcpConnection.connect("127.0.0.1", l.localPort);
  await c.readable.cancel();
  c.send(new Uint8Array(100_000));
  await sleep(50);
  await within(c.close(), 10_000, "close");
  assert.equal(c.state, "closed");
  l.close();
});

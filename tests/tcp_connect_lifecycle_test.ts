/** The connect lifecycle: onConnect, noDelay, abort and close while connecting, a loop closed meanwhile. */
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { sleep, within } from "./helpers.ts";

Deno.test("onConnect runs before connect resolves; noDelay and setNoDelay work", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const order: string[] = [];
  const conn = TcpConnection.create();
  conn.onConnect = (c) => order.push(`onConnect ${c.state}`);
  await conn.connect("127.0.0.1", l.localPort, { noDelay: true }).then(() => order.push("resolved"));
  assert.deepEqual(order, ["onConnect open", "resolved"]);
  conn.setNoDelay(false);
  conn.setNoDelay(true);
  await conn.close();
  l.close();
});

Deno.test("abort() while connecting rejects the connect; concurrent close() calls share one close", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const c = TcpConnection.create();
  const reasons: string[] = [];
  c.onClose = (_c, r) => reasons.push(r);
  const attempt = c.connect("127.0.0.1", l.localPort);
  c.abort();
  await assert.rejects(attempt, (e: unknown) => e instanceof DOMException && e.name === "AbortError");
  await within(c.close(), 5_000, "close after abort");
  assert.deepEqual(reasons, ["aborted"]);
  const d = await TcpConnection.connect("127.0.0.1", l.localPort);
  let closes = 0;
  d.onClose = () => closes++;
  await within(Promise.all([d.close(), d.close(), d.close()]), 10_000, "three closes");
  assert.equal(closes, 1);
  l.close();
});

Deno.test("loop.close() during a connect's resolution fires no callback", async () => {
  const loop = new EventLoop();
  const l = await TcpListener.listen("127.0.0.1", 0);
  const c = TcpConnection.create(undefined, loop);
  let calls = 0;
  c.onClose = () => calls++;
  const attempt = c.connect("localhost", l.localPort);
  await loop.close();
  await assert.rejects(attempt);
  await sleep(20);
  assert.equal(calls, 0);
  l.close();
});

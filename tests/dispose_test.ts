/** dispose and await using: release without callbacks, and use after dispose. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { sleep, within } from "./helpers.ts";

Deno.test("await using closes connections and listeners", async () => {
  let conn: TcpConnection;
  let listener: TcpListener;
  {
    await using l = await TcpListener.listen("127.0.0.1", 0);
    await using c = await TcpConnection.connect("127.0.0.1", l.localPort);
    listener = l;
    conn = c;
    assert.equal(c.isOpen, true);
  }
  assert.equal(conn.state, "closed");
  assert.equal(listener.isOpen, false);
});

Deno.test("after dispose every use but close/abort/dispose throws TypeError, and no callback runs", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const accepted = l.accept();
  const c = await TcpConnection.connect("127.0.0.1", l.localPort);
  const s = await accepted;
  let closes = 0;
  c.onClose = () => closes++;
  c.dispose();
  assert.equal(closes, 0, "dispose invokes no callback");
  assert.throws(() => c.send(new Uint8Array(1)), TypeError);
  assert.throws(() => c.write(new Uint8Array(1)), TypeError);
  assert.throws(() => c.closeWrite(), TypeError);
  assert.throws(() => c.pauseReading(), TypeError);
  assert.throws(() => c.readable, TypeError);
  c.abort();
  c.dispose();
  await c.close();
  l.dispose();
  assert.throws(() => l.accept(), TypeError);
  l.close();
  await s.close();
});

Deno.test("dispose() inside onData stops all further delivery", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, s) => (s.onData = (ss, d) => void ss.send(d));
  const c = await TcpConnection.connect("127.0.0.1", l.localPort);
  let calls = 0;
  const first = new Promise<void>((r) => {
    c.onData = (cc) => {
      calls++;
      cc.dispose();
      r();
    };
  });
  c.send(new Uint8Array(512 * 1024));
  await within(first, 10_000, "first data");
  await sleep(100);
  assert.equal(calls, 1);
  l.close();
});

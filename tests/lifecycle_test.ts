/** ref/unref, dispose, async dispose, errors without a handler, listener options. */
import assert from "node:assert/strict";
import { EventLoop, Pipe, ShutdownCoordinator, TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, pipePath, runScript, sleep, within } from "./helpers.ts";
import { PipeListener } from "../mod.ts";

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

Deno.test("a callback that throws with no onError is reported as an error event on the loop", async () => {
  const loop = new EventLoop();
  try {
    const errors: unknown[] = [];
    const onError = (e: Event) => {
      errors.push((e as ErrorEvent).error);
      e.preventDefault();
    };
    loop.addEventListener("error", onError);
    const l = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = l.accept();
    const c = await TcpConnection.connect("127.0.0.1", l.localPort, { loop });
    const s = await accepted;
    const closed = new Promise<string>((r) => (s.onClose = (_s, reason) => r(reason)));
    s.onData = () => {
      throw new Error("unhandled in callback");
    };
    c.send(new Uint8Array([1]));
    assert.equal(await within(closed, 10_000, "closed"), "error");
    assert.equal((errors[0] as Error).message, "unhandled in callback");
    loop.removeEventListener("error", onError);
    c.abort();
    l.close();
  } finally {
    await loop.close();
  }
});

Deno.test("a dual-stack [::] listener accepts IPv4; ipv6Only refuses it", async () => {
  // Binding the wildcard needs net permission for "[::]", which the suite's
  // loopback-only scope does not grant: a subprocess gets it. All traffic
  // still goes to 127.0.0.1.
  const r = await runScript(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    const dual = await TcpListener.listen("::", 0);
    const accepted = dual.accept();
    const c4 = await TcpConnection.connect("127.0.0.1", dual.localPort);
    const s4 = await accepted;
    console.log(s4.remoteAddress.family, s4.remoteAddress.hostname);
    c4.abort(); s4.abort(); dual.close();
    const only = await TcpListener.listen("::", 0, { ipv6Only: true });
    try { await TcpConnection.connect("127.0.0.1", only.localPort); console.log("connected?"); }
    catch (e) { console.log(e.constructor.name); }
    only.close();
  `,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=[::],127.0.0.1"],
  );
  assertCleanExit(r, "subprocess");
  assert.deepEqual(r.stdout.trim().split("\n"), ["6 ::ffff:127.0.0.1", "ConnectionRefused"]);
});

Deno.test("TcpListener.create + listen with a pre-aborted signal rejects and leaves it unbound", async () => {
  const l = TcpListener.create({ backlog: 16, simultaneousAccepts: 2 });
  await assert.rejects(l.listen("127.0.0.1", 0, { signal: AbortSignal.abort() }));
  assert.equal(l.isOpen, false);
  await l.listen("127.0.0.1", 0);
  assert.equal(l.isOpen, true);
  assert.throws(() => l.listen("127.0.0.1", 0), TypeError, "listening twice");
  l.close();
});

Deno.test("track() refuses a closed resource, and size counts only open ones", async () => {
  const coord = new ShutdownCoordinator();
  const l = await TcpListener.listen("127.0.0.1", 0);
  assert.equal(coord.track(l), true);
  assert.equal(coord.size, 1);
  l.close();
  assert.equal(coord.size, 0, "a closed listener leaves by itself");
  assert.equal(coord.track(l), false);
  assert.deepEqual(await coord.shutdown(), { drained: 0, aborted: 0 });
});

Deno.test("pipes: readable/writable streams and pause/resume as TCP", async () => {
  const listener = await PipeListener.listen(pipePath(10));
  const accepted = listener.accept();
  const client = await Pipe.connect(listener.path, { timeoutMs: 10_000 });
  const server = await within(accepted, 10_000, "accept");
  const writer = client.writable.getWriter();
  await writer.write(new TextEncoder().encode("through "));
  server.pauseReading();
  await writer.write(new TextEncoder().encode("streams"));
  const reader = server.readable.getReader();
  await sleep(50);
  server.resumeReading();
  let text = "";
  while (text.length < "through streams".length) {
    const { value, done } = await within(reader.read(), 10_000, "read");
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.equal(text, "through streams");
  await writer.close(); // a pipe cannot half-close: this closes the client
  assert.equal(client.state, "closed");
  const { done } = await within(reader.read(), 10_000, "end");
  assert.equal(done, true);
  listener.close();
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

Deno.test("after the default loop is closed, EventLoop.default is a new, working loop", async () => {
  const old = EventLoop.default;
  await old.close();
  assert.notEqual(EventLoop.default, old);
  const l = await TcpListener.listen("127.0.0.1", 0);
  assert.equal(l.isOpen, true);
  assert.throws(() => TcpListener.create(undefined, old), TypeError, "a closed loop is refused");
  l.close();
});

Deno.test("onConnection set after connections queued receives them, and accepting resumes", async () => {
  // Regression: queued connections never reached a late onConnection and
  // a full queue never resumed accepting.
  const l = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 1 } });
  const clients = [];
  for (let i = 0; i < 3; i++) clients.push(await TcpConnection.connect("127.0.0.1", l.localPort));
  await sleep(100);
  let got = 0;
  l.onConnection = (_l, c) => {
    got++;
    c.dispose();
  };
  for (let i = 0; i < 3; i++) clients.push(await TcpConnection.connect("127.0.0.1", l.localPort, { timeoutMs: 5000 }));
  const deadline = Date.now() + 10_000;
  while (got < 6 && Date.now() < deadline) await sleep(5);
  assert.equal(got, 6);
  for (const c of clients) c.abort();
  l.close();
});

Deno.test("accept() on a listener that never listened rejects", async () => {
  const l = TcpListener.create();
  await assert.rejects(l.accept(), TypeError);
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

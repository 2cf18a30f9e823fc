/** Half-close, close reasons, callbacks that throw, closing with work pending. */
import assert from "node:assert/strict";
import { type CloseReason, EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { handleCount, Sink, sleep, tcpPair, until, within } from "./helpers.ts";

async function pair() {
  const listener = await TcpListener.listen("127.0.0.1", 0);
  const accepted = listener.accept();
  const client = await TcpConnection.connect("127.0.0.1", listener.localPort);
  const server = await accepted;
  return { listener, client, server };
}

function closed(conn: TcpConnection): Promise<CloseReason> {
  return new Promise((r) => (conn.onClose = (_c, reason) => r(reason)));
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("half-close both ways: each side reads on after its own closeWrite", async () => {
  const { listener, client, server } = await pair();
  const serverSink = new Sink(), clientSink = new Sink();
  let serverEnded = false, clientEnded = false;
  server.onData = (_c, d) => serverSink.push(d);
  server.onEnd = () => (serverEnded = true);
  client.onData = (_c, d) => clientSink.push(d);
  client.onEnd = () => (clientEnded = true);
  const serverClosed = closed(server), clientClosed = closed(client);
  client.send(text("request"));
  await client.closeWrite();
  await until(() => serverEnded, 10_000, "server sees END");
  assert.equal(new TextDecoder().decode(serverSink.bytes()), "request");
  assert.equal(client.state, "open", "client still reads after closeWrite");
  assert.equal(client.send(text("x")), "closed", "no sends after closeWrite");
  server.send(text("response after the client's FIN"));
  await server.closeWrite();
  await until(() => clientEnded, 10_000, "client sees END");
  assert.equal(new TextDecoder().decode(clientSink.bytes()), "response after the client's FIN");
  assert.equal(await within(serverClosed, 10_000, "server onClose"), "peer", "the client ended first");
  assert.equal(await within(clientClosed, 10_000, "client onClose"), "local");
  listener.close();
});

Deno.test("peer close gives reason peer; with no end listener the connection closes by itself", async () => {
  const { listener, client, server } = await pair();
  server.onData = () => {};
  const reason = closed(server);
  await client.close();
  assert.equal(await within(reason, 10_000, "onClose"), "peer");
  assert.equal(server.state, "closed");
  listener.close();
});

Deno.test("peer abort gives reason reset", async () => {
  const { listener, client, server } = await pair();
  server.onData = () => {};
  const reason = closed(server);
  client.abort();
  assert.equal(await within(reason, 10_000, "onClose"), "reset");
  listener.close();
});

Deno.test("local abort gives reason aborted, once, and send reports closed", async () => {
  const { listener, client, server } = await pair();
  let calls = 0, last: CloseReason | null = null;
  client.onClose = (_c, r) => {
    calls++;
    last = r;
  };
  client.abort();
  client.abort();
  await client.close();
  assert.equal(calls, 1);
  assert.equal(last, "aborted");
  assert.equal(client.send(text("x")), "closed");
  await server.close();
  listener.close();
});

Deno.test("readable ends at the peer's FIN and the connection stays writable", async () => {
  const { listener, client, server } = await pair();
  const reader = server.readable.getReader();
  client.send(text("abc"));
  await client.closeWrite();
  const parts: string[] = [];
  for (;;) {
    const { done, value } = await within(reader.read(), 10_000, "read");
    if (done) break;
    parts.push(new TextDecoder().decode(value));
  }
  assert.equal(parts.join(""), "abc");
  assert.equal(server.state, "open");
  const echoed = new Promise<string>((r) => (client.onData = (_c, d) => r(new TextDecoder().decode(d))));
  await server.writable.getWriter().write(text("late"));
  assert.equal(await within(echoed, 10_000, "late data"), "late");
  await server.close();
  await client.close();
  listener.close();
});

Deno.test("a callback that throws closes only its own connection, with reason error", async () => {
  const listener = await TcpListener.listen("127.0.0.1", 0);
  const a = listener.accept();
  const c1 = await TcpConnection.connect("127.0.0.1", listener.localPort);
  const s1 = await a;
  const b = listener.accept();
  const c2 = await TcpConnection.connect("127.0.0.1", listener.localPort);
  const s2 = await b;
  const errors: Error[] = [];
  s1.onError = (_c, e) => errors.push(e);
  s1.onData = () => {
    throw new Error("boom");
  };
  const reason = closed(s1);
  const got = new Promise<string>((r) => (s2.onData = (_c, d) => r(new TextDecoder().decode(d))));
  c1.send(text("one"));
  assert.equal(await within(reason, 10_000, "s1 closed"), "error");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, "boom");
  c2.send(text("two"));
  assert.equal(await within(got, 10_000, "s2 still works"), "two");
  await Promise.all([c1.close(), c2.close(), s2.close()]);
  listener.close();
});

Deno.test("close while reads, writes, connects and accepts are pending: no crash, leak or late callback", async () => {
  const loop = new EventLoop();
  try {
    const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = listener.accept();
    const client = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
    const server = await within(accepted, 10_000, "accept");
    let late = 0;
    server.onData = () => late++;
    server.pauseReading();
    client.onData = () => late++;
    client.send(new Uint8Array(4 << 20));
    // A connect in flight, aborted before its outcome is known.
    const connecting = TcpConnection.create(undefined, loop);
    const attempt = connecting.connect("127.0.0.1", listener.localPort);
    connecting.abort();
    await within(assert.rejects(attempt), 10_000, "aborted connect");
    const waiting = listener.accept();
    client.abort();
    server.dispose();
    listener.close();
    await within(assert.rejects(waiting, Deno.errors.BadResource), 10_000, "pending accept");
    await sleep(50);
    assert.equal(late, 0, "no callback after close");
    assert.equal(loop.stats().handles, 0);
  } finally {
    await loop.close();
  }
  assert.equal(handleCount(), 0);
});

Deno.test("closeWrite() while connecting half-closes once connected, after the bytes sent meanwhile", async () => {
  // Regression: the half-close asked for while connecting never started.
  const l = await TcpListener.listen("127.0.0.1", 0);
  let got = "";
  const ended = new Promise<void>((r) => {
    l.onConnection = (_l, s) => {
      s.onData = (_s, d) => (got += new TextDecoder().decode(d));
      s.onEnd = () => r();
    };
  });
  const c = TcpConnection.create();
  const connected = c.connect("127.0.0.1", l.localPort);
  assert.equal(c.send(text("sent while connecting")), "ok");
  const shut = c.closeWrite();
  await connected;
  await within(shut, 10_000, "closeWrite");
  await within(ended, 10_000, "server sees END");
  assert.equal(got, "sent while connecting");
  c.abort();
  l.close();
});

Deno.test("readable taken after the connection closed ends at once", async () => {
  // Regression: the stream stayed open forever.
  const { listener, client, server } = await pair();
  await client.close();
  const { done } = await within(client.readable.getReader().read(), 5_000, "read");
  assert.equal(done, true);
  await server.close();
  listener.close();
});

Deno.test("closeWrite() then close(): the closeWrite promise resolves once the FIN is out", async () => {
  // Regression: the graceful close rejected it with BrokenPipe.
  const { listener, client, server } = await pair();
  server.onData = () => {};
  server.onEnd = () => {};
  client.send(new Uint8Array(4 << 20));
  const shut = client.closeWrite();
  await within(client.close(), 20_000, "close");
  await within(shut, 5_000, "closeWrite");
  await server.close();
  listener.close();
});

Deno.test("a cancelled readable still sees the peer's end and the connection closes by itself", async () => {
  // Regression: cancelling stopped reading, so the FIN was never seen.
  const { listener, client, server } = await pair();
  server.send(text("some bytes"));
  const reason = closed(client);
  for await (const _chunk of client.readable) break; // cancels the stream
  await server.close();
  assert.equal(await within(reason, 10_000, "client closes"), "peer");
  listener.close();
});

Deno.test("a client that leaves mid-send closes the server connection quietly (EPIPE is a reset, not an error)", async () => {
  // The server (sending 64 MiB) has onData and onClose but no onError: a departing peer must
  // not reach the global error handler (it killed the server process).
  const uncaught: unknown[] = [];
  const onUncaught = (e: ErrorEvent) => {
    e.preventDefault();
    uncaught.push(e.error);
  };
  globalThis.addEventListener("error", onUncaught);
  const listener = await TcpListener.listen("127.0.0.1", 0);
  const seen: string[] = [];
  try {
    for (let round = 0; round < 5; round++) {
      const accepted = listener.accept();
      const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.localPort });
      const server = await accepted;
      server.onData = () => {};
      const reason = closed(server);
      const chunk = new Uint8Array(64 * 1024).fill(7);
      const sending = (async () => {
        for (let sent = 0; sent < 64 * 1024 * 1024; sent += chunk.length) await server.write(chunk);
      })().then(() => null, (e: Error & { code?: string }) => e);
      const buf = new Uint8Array(1000);
      let got = 0;
      while (got < 1000) {
        const n = await client.read(buf.subarray(got));
        assert.ok(n !== null, "data before the end");
        got += n;
      }
      await client.closeWrite();
      client.close();
      const r = await within(reason, 10_000, "server onClose");
      assert.ok(r === "reset" || r === "peer", `reason ${r}`);
      const error = await within(sending, 10_000, "writer settles");
      assert.ok(error !== null, "64 MiB cannot all have been taken");
      assert.ok(
        error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset,
        `write() rejects with BrokenPipe or ConnectionReset, got ${error}`,
      );
      seen.push(`${r}/${error.code}`);
    }
  } finally {
    listener.close();
    globalThis.removeEventListener("error", onUncaught);
  }
  assert.deepEqual(uncaught, [], `nothing reached the global error handler (${seen.join(", ")})`);
});

Deno.test("a connection that fails with bytes queued reports an empty send queue once closed", async () => {
  const { listener, client, server } = await pair();
  // The server never reads: the client's bytes pile up in its queue.
  server.pauseReading();
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < 64 && client.sendQueueLen === 0; i++) client.send(chunk);
  for (let i = 0; i < 16; i++) client.send(chunk);
  assert.ok(client.sendQueueLen > 0, "bytes are queued");
  const why = new Promise<CloseReason>((r) => (client.onClose = (_c, reason) => r(reason)));
  server.abort(); // RST: the queued bytes can never be delivered
  const reason = await within(why, 10_000, "the client closes");
  assert.ok(reason === "reset" || reason === "peer", `reason ${reason}`);
  assert.equal(client.state, "closed");
  assert.equal(client.sendQueueLen, 0, "dropped bytes are not reported as queued");
  listener.close();
});

Deno.test("close() with nothing queued completes within the call; with bytes queued it flushes first", async () => {
  const p = await tcpPair();
  try {
    const reasons: string[] = [];
    p.c.onClose = (_c, why) => reasons.push(why);
    const ended = new Promise<void>((r) => (p.s.onEnd = () => r()));
    p.s.onData = () => {};
    const closed = p.c.close();
    // Nothing to flush: FIN went out and the socket was released in the call.
    assert.equal(p.c.state, "closed");
    assert.deepEqual(reasons, ["local"]);
    await within(closed, 5_000, "close");
    await within(ended, 5_000, "the peer's end");
    // Bytes queued against a peer that does not read: the close waits for them.
    const q = await tcpPair();
    try {
      q.s.pauseReading();
      q.c.send(new Uint8Array(16 << 20));
      assert.ok(q.c.sendQueueLen > 0, "bytes queued");
      const closing = q.c.close();
      assert.equal(q.c.state, "closing");
      let got = 0;
      q.s.onData = (_s, d) => void (got += d.length);
      q.s.resumeReading();
      await within(closing, 30_000, "the flushed close");
      await until(() => got === 16 << 20, 30_000, "every byte");
      assert.equal(q.c.state, "closed");
    } finally {
      q.done();
    }
  } finally {
    p.done();
  }
});

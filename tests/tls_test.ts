/**
 * TLS over our streams: connectTls/listenTls, startTls/acceptTls, the
 * TlsConnection stream surface, and interop with Deno's own TLS.
 */
import assert from "node:assert/strict";
import {
  acceptTls,
  connectTls,
  listenTls,
  Pipe,
  PipeListener,
  ShutdownCoordinator,
  startTls,
  type TlsConnection,
  type TlsListener,
} from "../mod.ts";
import { derOf, makePki } from "./tls_certs.ts";
import { pattern, pipePath, sha256, Sink, tcpPair, until, within } from "./helpers.ts";

const pki = await makePki();
const server = { cert: pki.server.cert, key: pki.server.key };
const trust = { caCerts: [pki.ca.cert] };
const enc = new TextEncoder(), dec = new TextDecoder();

// An echo TLS listener on an ephemeral port.
async function echoListener(options: Record<string, unknown> = {}): Promise<TlsListener> {
  const l = await listenTls("127.0.0.1", 0, { ...server, ...options });
  l.onConnection = (_l, c) => {
    c.onData = (conn, d) => {
      if (conn.send(d) === "pressure") conn.pauseReading();
    };
    c.onWritable = (conn) => conn.resumeReading();
  };
  return l;
}

function firstData(conn: TlsConnection): Promise<string> {
  return new Promise((resolve) => (conn.onData = (_c, d) => resolve(dec.decode(d))));
}

Deno.test("tls: connectTls to listenTls, echo, version, certificate, close reasons", async () => {
  const l = await echoListener();
  const conn = await connectTls("localhost", l.localPort, trust);
  assert.equal(conn.tlsVersion, "TLSv1.3");
  assert.equal(conn.state, "open");
  assert.equal(conn.alpnProtocol, null);
  assert.deepEqual(conn.peerCertificate, derOf(pki.server.cert));
  assert.equal(conn.remoteAddress?.port, l.localPort);
  assert.ok(conn.localAddress);
  const got = firstData(conn);
  assert.equal(conn.send(enc.encode("hello")), "ok");
  assert.equal(await within(got, 10_000, "echo"), "hello");
  assert.equal(conn.bytesRead, 5);
  const reason = new Promise((r) => (conn.onClose = (_c, why) => r(why)));
  await within(conn.close(), 10_000, "close");
  assert.equal(await reason, "local");
  assert.equal(conn.state, "closed");
  assert.equal(conn.send(enc.encode("x")), "closed");
  l.close();
});

Deno.test("tls: an IP address is checked against the certificate's IP names; ALPN", async () => {
  const l = await echoListener({ alpnProtocols: ["h2", "x-aio"] });
  const conn = await connectTls("127.0.0.1", l.localPort, { ...trust, alpnProtocols: ["x-aio"] });
  assert.equal(conn.alpnProtocol, "x-aio");
  await conn.close();
  l.close();
});

Deno.test("tls: interop with Deno.connectTls and Deno.listenTls", async () => {
  // Deno's client against our server.
  const l = await echoListener();
  const d = await Deno.connectTls({ hostname: "localhost", port: l.localPort, caCerts: [pki.ca.cert] });
  await d.write(enc.encode("from deno"));
  const buf = new Uint8Array(64);
  const n = await within(d.read(buf), 10_000, "read");
  assert.equal(dec.decode(buf.subarray(0, n!)), "from deno");
  d.close();
  l.close();
  // Our client against Deno's server.
  const dl = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...server });
  const served = (async () => {
    const c = await dl.accept();
    const b = new Uint8Array(64);
    const k = await c.read(b);
    await c.write(b.subarray(0, k!));
    // Deno's close sends close_notify: our side sees the end.
    c.close();
  })();
  const conn = await connectTls("localhost", (dl.addr as Deno.NetAddr).port, trust);
  const ended = new Promise<void>((r) => (conn.onEnd = () => r()));
  const got = firstData(conn);
  conn.send(enc.encode("to deno"));
  assert.equal(await within(got, 10_000, "echo"), "to deno");
  await within(ended, 10_000, "end");
  await conn.close();
  await served;
  dl.close();
});

Deno.test("tls: Deno.listenTls reads our close_notify before FIN as a clean end", async () => {
  const dl = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...server });
  const served = (async () => {
    const c = await dl.accept();
    const all = new Sink();
    const b = new Uint8Array(65536);
    for (let i = 0; i < 10_000; i++) {
      // A truncation (FIN without close_notify) would throw UnexpectedEof here.
      const k = await c.read(b);
      if (k === null) break;
      all.push(b.subarray(0, k));
    }
    c.close();
    return all.bytes();
  })();
  const conn = await connectTls("localhost", (dl.addr as Deno.NetAddr).port, trust);
  const data = pattern(300_000, 7);
  conn.send(data);
  await conn.close();
  assert.equal(await sha256(await within(served, 10_000, "server")), await sha256(data));
  dl.close();
});

Deno.test("tls: bad certificates reject with InvalidData and deliver nothing", async (t) => {
  const other = await makePki();
  const { issue } = await import("./tls_certs.ts");
  const expired = await issue(pki.ca, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const cases: [string, { cert: string; key: string }, Record<string, unknown>, string][] = [
    ["wrong host", server, trust, "example.com"],
    ["untrusted CA", other.server, trust, "localhost"],
    ["expired", expired, trust, "localhost"],
  ];
  for (const [name, cred, opts, host] of cases) {
    await t.step(name, async () => {
      const l = await listenTls("127.0.0.1", 0, cred);
      let delivered = 0;
      l.onConnection = (_l, c) => {
        c.send(enc.encode("secret"));
        c.onData = () => delivered++;
      };
      l.onError = () => {};
      await assert.rejects(
        connectTls("127.0.0.1", l.localPort, { ...opts, serverName: host }),
        Deno.errors.InvalidData,
      );
      assert.equal(delivered, 0);
      l.close();
    });
  }
  await t.step("unsafelyIgnoreCertificateErrors accepts them", async () => {
    const l = await echoListener();
    const conn = await connectTls("127.0.0.1", l.localPort, {
      serverName: "example.com",
      unsafelyIgnoreCertificateErrors: true,
    });
    const got = firstData(conn);
    conn.send(enc.encode("ok"));
    assert.equal(await within(got, 10_000, "echo"), "ok");
    await conn.close();
    l.close();
  });
});

Deno.test("tls: client certificates (requestCert + caCerts)", async (t) => {
  const l = await echoListener({ requestCert: true, caCerts: [pki.ca.cert] });
  const errors: Error[] = [];
  l.onError = (_l, e) => errors.push(e);
  await t.step("with one: accepted, and the server sees it", async () => {
    const seen = new Promise<Uint8Array | null>((resolve) => {
      const prev = l.onConnection!;
      l.onConnection = (li, c) => {
        resolve(c.peerCertificate);
        prev(li, c);
      };
    });
    const conn = await connectTls("localhost", l.localPort, { ...trust, ...pki.client });
    const got = firstData(conn);
    conn.send(enc.encode("mtls"));
    assert.equal(await within(got, 10_000, "echo"), "mtls");
    assert.deepEqual(await seen, derOf(pki.client.cert));
    await conn.close();
  });
  // TLS 1.3: the client finishes its side of the handshake before the
  // server judges its certificate (as with Deno.connectTls), so connectTls
  // resolves; the refusal is the server's InvalidData, and the client's
  // connection closes before any data.
  const refused = async (creds: { cert?: string; key?: string }) => {
    const before = errors.length;
    let delivered = 0;
    l.onConnection = (_l, c) => (c.onData = () => delivered++);
    const conn = await connectTls("localhost", l.localPort, { ...trust, ...creds });
    const closed = new Promise((r) => (conn.onClose = (_c, why) => r(why)));
    conn.onData = () => delivered++;
    conn.send(enc.encode("no valid cert"));
    await within(closed, 10_000, "client closed by the server");
    await until(() => errors.length > before, 10_000, "server-side failure");
    assert.ok(errors.slice(before).every((e) => e instanceof Deno.errors.InvalidData));
    assert.equal(delivered, 0);
  };
  await t.step("from another CA: the server rejects with InvalidData, nothing delivered", async () => {
    await refused((await makePki()).client);
  });
  await t.step("without one: the server rejects with InvalidData, nothing delivered", async () => {
    await refused({});
  });
  l.close();
});

Deno.test("tls: STARTTLS refuses while a received byte waits, the stream unchanged", async () => {
  const p = await tcpPair();
  // A partial frame: one byte received, not delivered.
  p.c.bufferUntil(4);
  const got = new Promise<string>((r) => (p.c.onData = (_c, d) => r(dec.decode(d))));
  p.s.send(enc.encode("X"));
  await until(() => p.c.bytesRead > 0, 10_000, "byte read");
  assert.throws(() => startTls(p.c, trust), /undelivered/);
  assert.throws(() => acceptTls(p.c, server), /undelivered/);
  // Unchanged: the byte is still delivered in clear, in its frame.
  p.s.send(enc.encode("YZW"));
  assert.equal(await within(got, 10_000, "frame"), "XYZW");
  p.done();
});

Deno.test("tls: STARTTLS refuses while sends are queued, and when data goes to readable", async () => {
  const p = await tcpPair({ config: { highWaterMark: 1024, lowWaterMark: 512 } });
  p.s.onData = () => {};
  p.s.pauseReading();
  for (let i = 0; i < 1000 && p.c.sendQueueLen === 0; i++) p.c.send(new Uint8Array(64 * 1024));
  assert.ok(p.c.sendQueueLen > 0);
  assert.throws(() => startTls(p.c, trust), TypeError);
  p.done();
  const q = await tcpPair();
  void q.c.readable;
  assert.throws(() => startTls(q.c, trust), TypeError);
  assert.throws(() => acceptTls(q.c, { cert: "x" } as never), TypeError);
  q.done();
});

Deno.test("tls: STARTTLS line protocol: greeting, upgrade, echo; both sides on an open stream", async () => {
  const p = await tcpPair();
  // Server: greets in clear, answers STARTTLS, upgrades, echoes.
  const serverDone = (async () => {
    p.s.send(enc.encode("220 ready\r\n"));
    await new Promise<void>((resolve) => {
      p.s.onData = (_s, d) => {
        if (dec.decode(d) === "STARTTLS\r\n") {
          p.s.onData = null;
          p.s.send(enc.encode("220 go ahead\r\n"));
          resolve();
        }
      };
    });
    await until(() => p.s.sendQueueLen === 0, 10_000, "flushed");
    const secure = await acceptTls(p.s, server);
    secure.onData = (c, d) => c.send(d);
    return secure;
  })();
  const lines: string[] = [];
  await new Promise<void>((resolve) => {
    p.c.onData = (_c, d) => {
      lines.push(...dec.decode(d).split("\r\n").filter(Boolean));
      if (lines.length === 1) p.c.send(enc.encode("STARTTLS\r\n"));
      if (lines.length === 2) {
        p.c.onData = null;
        resolve();
      }
    };
  });
  assert.deepEqual(lines, ["220 ready", "220 go ahead"]);
  const secure = await startTls(p.c, { ...trust, serverName: "localhost" });
  assert.equal(secure.transport, p.c);
  const got = firstData(secure);
  secure.send(enc.encode("secret line"));
  assert.equal(await within(got, 10_000, "echo"), "secret line");
  const srv = await serverDone;
  await secure.close();
  await until(() => !srv.isOpen, 10_000, "server closed");
  p.l.close();
});

Deno.test("tls: 64 MiB hash-verified over TCP", async () => {
  const size = 64 * 1024 * 1024;
  const data = pattern(size, 3);
  const l = await listenTls("127.0.0.1", 0, server);
  const received = new Promise<Sink>((resolve) => {
    l.onConnection = (_l, c) => {
      const sink = new Sink();
      c.onData = (_c, d) => sink.push(d);
      c.onEnd = () => {
        resolve(sink);
        c.close();
      };
    };
  });
  const conn = await connectTls("localhost", l.localPort, trust);
  for (let off = 0; off < size; off += 1 << 20) await conn.write(data.subarray(off, off + (1 << 20)));
  await conn.close();
  const sink = await within(received, 120_000, "64 MiB");
  assert.equal(sink.length, size);
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  l.close();
});

Deno.test("tls: 64 MiB hash-verified over a named pipe (acceptTls/startTls)", async () => {
  const size = 64 * 1024 * 1024;
  const data = pattern(size, 4);
  const path = pipePath(14);
  const pl = await PipeListener.listen(path);
  const received = (async () => {
    const pipe = await pl.accept();
    const secure = await acceptTls(pipe, server);
    assert.equal(secure.localAddress, null);
    const sink = new Sink();
    await new Promise<void>((resolve) => {
      secure.onData = (_c, d) => sink.push(d);
      secure.onEnd = () => resolve();
    });
    await secure.close();
    return sink;
  })();
  const pipe = await Pipe.connect(path);
  const secure = await startTls(pipe, { ...trust, serverName: "localhost" });
  for (let off = 0; off < size; off += 1 << 20) await secure.write(data.subarray(off, off + (1 << 20)));
  await secure.close();
  const sink = await within(received, 120_000, "64 MiB");
  assert.equal(sink.length, size);
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  pl.close();
});

Deno.test("tls: backpressure against a paused peer holds with bounded memory", async () => {
  const l = await listenTls("127.0.0.1", 0, server);
  const accepted = l.accept();
  const conn = await connectTls("localhost", l.localPort, trust);
  const peer = await within(accepted, 10_000, "accept");
  let received = 0;
  peer.onData = (_c, d) => (received += d.length);
  peer.pauseReading();
  const chunk = new Uint8Array(64 * 1024);
  const limit = 256 * 1024 * 1024;
  let sent = 0, pressures = 0;
  const writer = (async () => {
    while (sent < limit) {
      if (conn.send(chunk) === "pressure") {
        pressures++;
        await new Promise<void>((r) => (conn.onWritable = () => r()));
      }
      sent += chunk.length;
    }
  })();
  // Wait until the writer stalls: no progress for 500 ms (bounded).
  for (let i = 0, last = -1; i < 100 && sent !== last; i++) {
    last = sent;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(pressures > 0, "send reported pressure");
  assert.ok(sent < 32 * 1024 * 1024, `the writer stalled only after ${sent} bytes`);
  assert.equal(received, 0);
  peer.resumeReading();
  conn.onClose = () => {};
  // Everything sent so far arrives once the peer reads again.
  await until(() => received >= sent, 30_000, "all received");
  conn.abort();
  await writer.catch(() => {});
  await until(() => !peer.isOpen, 10_000, "peer closed");
  l.close();
});

Deno.test("tls: readable/writable streams, shutdown coordinator, abort", async () => {
  const l = await echoListener();
  const coordinator = new ShutdownCoordinator();
  l.track(coordinator);
  const conn = await connectTls("localhost", l.localPort, trust);
  const w = conn.writable.getWriter();
  await w.write(enc.encode("stream"));
  const r = conn.readable.getReader();
  const { value } = await within(r.read(), 10_000, "read");
  assert.equal(dec.decode(value), "stream");
  assert.ok(conn.track(coordinator));
  const { drained } = await coordinator.shutdown({ signal: AbortSignal.timeout(10_000) });
  assert.equal(drained, 1);
  assert.equal(conn.state, "closed");
  const c2 = await connectTls("localhost", l.localPort, trust).catch((e) => e);
  assert.ok(c2 instanceof Error);
  const l2 = await echoListener();
  const c3 = await connectTls("localhost", l2.localPort, trust);
  const why = new Promise((res) => (c3.onClose = (_c, reason) => res(reason)));
  c3.abort();
  assert.equal(await why, "aborted");
  l2.close();
});

Deno.test("tls: handshake timeout and signal", async () => {
  const p = await tcpPair();
  // The peer never answers the ClientHello.
  p.s.onData = () => {};
  await assert.rejects(startTls(p.c, { ...trust, serverName: "localhost", timeoutMs: 100 }), Deno.errors.TimedOut);
  await until(() => p.c.state === "closed", 10_000, "closed");
  p.done();
  const q = await tcpPair();
  q.s.onData = () => {};
  const ac = new AbortController();
  const attempt = startTls(q.c, { ...trust, serverName: "localhost", signal: ac.signal });
  ac.abort();
  await assert.rejects(attempt, (e: Error) => e.name === "AbortError");
  q.done();
});

Deno.test("tls: bad options throw synchronously, naming the option", () => {
  assert.throws(() => listenTls("127.0.0.1", 0, {} as never), /options\.cert/);
  assert.throws(() => connectTls("localhost", 1, { caCerts: "x" as never }), /options\.caCerts/);
  assert.throws(() => connectTls("localhost", 1, { cert: "x" }), /options\.cert and options\.key/);
  assert.throws(() => connectTls("localhost", 1, { timeoutMs: -1 }), RangeError);
  assert.throws(() => startTls({} as never), /TcpConnection or a Pipe/);
});

Deno.test("tls: pause/resume hold decrypted bytes, none lost; a peer's reset closes with reason reset", async () => {
  const l = await listenTls("127.0.0.1", 0, server);
  const accepted = l.accept();
  const conn = await connectTls("localhost", l.localPort, trust);
  const peer = await within(accepted, 10_000, "accept");
  const sink = new Sink();
  conn.onData = (_c, d) => sink.push(d);
  conn.pauseReading();
  const data = pattern(2 * 1024 * 1024, 11);
  await peer.write(data);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sink.length, 0, "nothing delivered while paused");
  conn.resumeReading();
  await until(() => sink.length === data.length, 30_000, "all delivered after resume");
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  const reason = new Promise((r) => (conn.onClose = (_c, why) => r(why)));
  peer.transport.abort();
  assert.equal(await within(reason, 10_000, "close"), "reset");
  assert.equal(conn.transport.state, "closed");
  l.close();
});

Deno.test("tls: a throwing callback closes with reason error and reaches onError; dispose is silent", async () => {
  const l = await echoListener();
  const conn = await connectTls("localhost", l.localPort, trust);
  const errors: Error[] = [];
  conn.onError = (_c, e) => errors.push(e);
  const reason = new Promise((r) => (conn.onClose = (_c, why) => r(why)));
  conn.onData = () => {
    throw new Error("boom");
  };
  conn.send(enc.encode("x"));
  assert.equal(await within(reason, 10_000, "close"), "error");
  assert.equal(errors[0]?.message, "boom");
  assert.equal(conn.transport.state, "closed");
  const c2 = await connectTls("localhost", l.localPort, trust);
  let called = 0;
  c2.onClose = () => called++;
  c2.dispose();
  assert.equal(called, 0);
  assert.equal(c2.state, "closed");
  assert.throws(() => c2.send(enc.encode("x")), TypeError);
  assert.equal(c2.transport.state, "closed");
  l.close();
});

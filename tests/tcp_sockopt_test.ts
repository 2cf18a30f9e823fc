/** Socket options through the API, read back through getSockOpt (and the OS's own value where it rounds). */
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { isWindows, tcpPair, within } from "./helpers.ts";
import { unsafeId, unsafeLoop } from "../src/unsafe.ts";

// The OS's own option numbers (winsock2.h / ws2ipdef.h; Linux socket.h / tcp.h).
const SOL_SOCKET = isWindows ? 0xffff : 1;
const SO_KEEPALIVE = isWindows ? 8 : 9;
const SO_SNDBUF = isWindows ? 0x1001 : 7;
const SO_RCVBUF = isWindows ? 0x1002 : 8;
const SO_RCVTIMEO = isWindows ? 0x1006 : 20;
const SO_SNDTIMEO = isWindows ? 0x1005 : 21;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_KEEPIDLE = isWindows ? 3 : 4;
const TCP_KEEPINTVL = isWindows ? 17 : 5;
const TCP_KEEPCNT = isWindows ? 16 : 6;

function int(b: Uint8Array): number {
  const c = new Uint8Array(4);
  c.set(b.subarray(0, 4));
  return new DataView(c.buffer).getInt32(0, true);
}

Deno.test("setNoDelay reads back through getSockOpt(IPPROTO_TCP, TCP_NODELAY)", async () => {
  const p = await tcpPair();
  try {
    p.c.setNoDelay(true);
    assert.notEqual(int(p.c.getSockOpt(IPPROTO_TCP, TCP_NODELAY)), 0);
    p.c.setNoDelay(false);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_NODELAY)), 0);
  } finally {
    p.done();
  }
});

Deno.test("setKeepAlive(on, { idleMs, intervalMs, count }) reads back through getSockOpt", async () => {
  const p = await tcpPair();
  try {
    p.c.setKeepAlive(true, { idleMs: 30_000, intervalMs: 4_500, count: 7 });
    assert.notEqual(int(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
    // Seconds where the OS counts seconds: 4.5 s rounds up to 5.
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPIDLE)), 30);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPINTVL)), 5);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPCNT)), 7);
    p.c.setKeepAlive(false);
    assert.equal(int(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
  } finally {
    p.done();
  }
});

Deno.test("recvBufferSize and sendBufferSize read back through getSockOpt, as the OS rounds them", async () => {
  const p = await tcpPair();
  try {
    p.c.recvBufferSize = 100_000;
    p.c.sendBufferSize = 120_000;
    const rcv = int(p.c.getSockOpt(SOL_SOCKET, SO_RCVBUF));
    const snd = int(p.c.getSockOpt(SOL_SOCKET, SO_SNDBUF));
    assert.equal(p.c.recvBufferSize, rcv);
    assert.equal(p.c.sendBufferSize, snd);
    if (Deno.build.os === "linux") {
      // Linux doubles the request for its bookkeeping (socket(7)).
      assert.equal(rcv, 200_000);
      assert.equal(snd, 240_000);
    } else {
      assert.ok(rcv >= 100_000, `SO_RCVBUF ${rcv}`);
      assert.ok(snd >= 120_000, `SO_SNDBUF ${snd}`);
    }
    assert.throws(() => (p.c.recvBufferSize = -1), RangeError);
    assert.equal(TcpConnection.create().recvBufferSize, 0); // no socket yet
  } finally {
    p.done();
  }
});

Deno.test("setSockOpt sets a raw option that getSockOpt reads back", async () => {
  const p = await tcpPair();
  try {
    p.c.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1);
    assert.notEqual(int(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
    p.c.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, new Uint8Array(new Int32Array([0]).buffer));
    assert.equal(int(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
    assert.equal(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE, 8).length >= 1, true);
  } finally {
    p.done();
  }
});

Deno.test("setSockOpt refuses the options that would make the socket blocking", async () => {
  const p = await tcpPair();
  try {
    const tv = new Uint8Array(16);
    assert.throws(() => p.c.setSockOpt(SOL_SOCKET, SO_RCVTIMEO, tv), TypeError);
    assert.throws(() => p.c.setSockOpt(SOL_SOCKET, SO_SNDTIMEO, tv), TypeError);
    // The connection still works as a non-blocking one.
    const got = new Promise<number>((r) => (p.s.onData = (_c, d) => r(d.length)));
    p.c.send(new Uint8Array(3));
    assert.equal(await within(got, 10_000, "data"), 3);
  } finally {
    p.done();
  }
});

Deno.test("getSockOpt and setSockOpt need a socket and valid arguments", () => {
  const c = TcpConnection.create();
  assert.throws(() => c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE), TypeError);
  assert.throws(() => c.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1), TypeError);
  assert.throws(() => c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE, 0), RangeError);
  assert.throws(() => c.setKeepAlive(true, { count: 0 }), RangeError);
  c.dispose();
});

Deno.test("noDelay and keepAlive in connect options read back through getSockOpt", async () => {
  const p = await tcpPair({ noDelay: true, keepAlive: { idleMs: 20_000, intervalMs: 2_000, count: 3 } });
  try {
    assert.notEqual(int(p.c.getSockOpt(IPPROTO_TCP, TCP_NODELAY)), 0);
    assert.notEqual(int(p.c.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPIDLE)), 20);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPINTVL)), 2);
    assert.equal(int(p.c.getSockOpt(IPPROTO_TCP, TCP_KEEPCNT)), 3);
  } finally {
    p.done();
  }
});

Deno.test("a listener's noDelay and keepAlive reach every accepted socket", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0, { noDelay: true, keepAlive: { idleMs: 40_000, count: 2 } });
  const clients: TcpConnection[] = [];
  const servers: TcpConnection[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const accepted = l.accept();
      clients.push(await TcpConnection.connect("127.0.0.1", l.localPort));
      servers.push(await within(accepted, 10_000, "accept"));
    }
    for (const s of servers) {
      assert.notEqual(int(s.getSockOpt(IPPROTO_TCP, TCP_NODELAY)), 0);
      assert.notEqual(int(s.getSockOpt(SOL_SOCKET, SO_KEEPALIVE)), 0);
      assert.equal(int(s.getSockOpt(IPPROTO_TCP, TCP_KEEPIDLE)), 40);
      assert.equal(int(s.getSockOpt(IPPROTO_TCP, TCP_KEEPCNT)), 2);
    }
  } finally {
    for (const c of [...clients, ...servers]) c.abort();
    l.close();
  }
});

Deno.test("exclusiveAddress sets SO_EXCLUSIVEADDRUSE on Windows (Linux binds exclusively anyway)", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0, { exclusiveAddress: true });
  try {
    if (isWindows) {
      const loop = unsafeLoop(EventLoop.default);
      const out = new Uint8Array(4);
      const SO_EXCLUSIVEADDRUSE = ~4; // ~SO_REUSEADDR
      const n = loop.native.aio_sockopt_get(loop.ptr, unsafeId(l), SOL_SOCKET, SO_EXCLUSIVEADDRUSE, out, 4);
      assert.ok(n > 0, `getsockopt: ${n}`);
      assert.notEqual(int(out), 0);
    }
    // Either way a second listener cannot take the port.
    await assert.rejects(TcpListener.listen("127.0.0.1", l.localPort), Deno.errors.AddrInUse);
  } finally {
    l.close();
  }
  // Sharing the port and refusing to share it exclude each other.
  assert.throws(() => TcpListener.listen("127.0.0.1", 0, { exclusiveAddress: true, reusePort: true }), TypeError);
});

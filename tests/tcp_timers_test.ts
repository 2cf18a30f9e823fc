/** Idle timeouts and the user timer: one heap per loop, driven by one unref'd JS timer. */
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, isWindows, runScript, sleep, tcpPair, until, within } from "./helpers.ts";
import { unsafeLoop } from "../src/unsafe.ts";

Deno.test("the idle timeout fires after inactivity, and again after each further period", async () => {
  const p = await tcpPair();
  try {
    const fired: number[] = [];
    const start = performance.now();
    p.c.onIdleTimeout = () => fired.push(performance.now() - start);
    p.c.idleTimeoutMs = 60;
    assert.equal(p.c.idleTimeoutMs, 60);
    await until(() => fired.length >= 2, 5_000, "two idle timeouts");
    assert.ok(fired[0] >= 55, `first after ${fired[0]} ms`);
    assert.ok(fired[1] - fired[0] >= 55, `second ${fired[1] - fired[0]} ms later`);
    p.c.idleTimeoutMs = 0; // disabled: no more
    const n = fired.length;
    await sleep(150);
    assert.equal(fired.length, n);
  } finally {
    p.done();
  }
});

Deno.test("the idle timeout does not fire while data flows", async () => {
  const p = await tcpPair();
  try {
    let fired = 0;
    p.c.onIdleTimeout = () => fired++;
    p.s.onData = () => {};
    p.c.idleTimeoutMs = 150;
    // A send every 20 ms for ~600 ms: never 150 ms of silence.
    const end = Date.now() + 600;
    while (Date.now() < end) {
      p.c.send(new Uint8Array(8));
      await sleep(20);
    }
    assert.equal(fired, 0);
    // Receiving counts as activity as well.
    let fired2 = 0;
    p.s.onIdleTimeout = () => fired2++;
    p.s.idleTimeoutMs = 150;
    const end2 = Date.now() + 600;
    while (Date.now() < end2) {
      p.c.send(new Uint8Array(8));
      await sleep(20);
    }
    assert.equal(fired2, 0);
    await until(() => fired2 > 0, 5_000, "idle once the data stops");
  } finally {
    p.done();
  }
});

Deno.test("an idle timeout set before connecting counts from the moment the connection opens", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, s) => (s.onData = () => {});
  const c = TcpConnection.create();
  try {
    c.idleTimeoutMs = 50;
    const fired = new Promise<void>((r) => (c.onIdleTimeout = () => r()));
    await sleep(80); // not open yet: nothing fires
    await c.connect("127.0.0.1", l.localPort);
    const opened = performance.now();
    await within(fired, 5_000, "idle timeout");
    assert.ok(performance.now() - opened >= 45);
  } finally {
    c.abort();
    l.close();
  }
});

Deno.test("a timer fires once", async () => {
  const p = await tcpPair();
  try {
    let fired = 0;
    p.c.onTimer = () => fired++;
    const t = p.c.setTimer(30);
    assert.equal(typeof t, "number");
    await until(() => fired === 1, 5_000, "timer");
    await sleep(100);
    assert.equal(fired, 1);
    // Another may be set once it fired (from onTimer too).
    p.c.onTimer = (c) => {
      fired++;
      if (fired < 4) c.setTimer(5);
    };
    p.c.setTimer(5);
    await until(() => fired === 4, 5_000, "repeated from onTimer");
  } finally {
    p.done();
  }
});

Deno.test("a stale cancelTimer is harmless", async () => {
  const p = await tcpPair();
  try {
    let fired = 0;
    p.c.onTimer = () => fired++;
    const t1 = p.c.setTimer(10);
    await until(() => fired === 1, 5_000, "first timer");
    const t2 = p.c.setTimer(60);
    p.c.cancelTimer(t1); // fired already: must not cancel the second
    p.c.cancelTimer(12345);
    await until(() => fired === 2, 5_000, "second timer survives stale cancels");
    const t3 = p.c.setTimer(30);
    p.c.cancelTimer(t3);
    p.c.cancelTimer(t3);
    p.c.cancelTimer(t2);
    await sleep(80);
    assert.equal(fired, 2);
  } finally {
    p.done();
  }
});

Deno.test("a second setTimer while one is active throws", async () => {
  const p = await tcpPair();
  try {
    const t = p.c.setTimer(1_000);
    assert.throws(() => p.c.setTimer(10), TypeError);
    p.c.cancelTimer(t);
    p.c.cancelTimer(p.c.setTimer(10)); // fine once cancelled
    assert.throws(() => p.c.setTimer(-1), RangeError);
  } finally {
    p.done();
  }
});

Deno.test("abort() cancels the timer at once; after close() none can be set", async () => {
  const p = await tcpPair();
  let fired = 0;
  p.c.onTimer = () => fired++;
  p.c.onIdleTimeout = () => fired++;
  p.c.idleTimeoutMs = 20;
  p.c.setTimer(20);
  p.c.abort();
  await sleep(80);
  assert.equal(fired, 0);
  assert.throws(() => p.c.setTimer(10), TypeError);
  assert.equal(unsafeLoop(EventLoop.default).timers.size, 0);
  p.done();
});

Deno.test("a timer survives a graceful close() until the close completes", async () => {
  const p = await tcpPair();
  try {
    // The server does not read: 8 MiB cannot be flushed at once, so the
    // close stays under way while the timer comes due.
    p.s.pauseReading();
    let fired = false;
    p.c.onTimer = () => (fired = true);
    p.c.send(new Uint8Array(8 << 20));
    p.c.setTimer(30);
    const closed = p.c.close();
    await until(() => fired, 5_000, "timer during close");
    assert.equal(p.c.state, "closing");
    p.s.resumeReading();
    p.s.onData = () => {};
    await within(closed, 20_000, "close");
  } finally {
    p.done();
  }
});

Deno.test("timers and idle timeouts do not keep the process alive", async () => {
  const r = await runScript(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    const l = await TcpListener.listen("127.0.0.1", 0);
    l.onConnection = (_l, s) => {
      s.idleTimeoutMs = 60_000;
      s.unref();
    };
    const c = await TcpConnection.connect("127.0.0.1", l.localPort);
    c.idleTimeoutMs = 60_000;
    c.setTimer(60_000);
    c.unref();
    l.unref();
    console.log("unref'd");
  `,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"],
  );
  assertCleanExit(r, "subprocess");
  assert.equal(r.stdout.trim(), "unref'd");
  assert.ok(r.elapsed < 20_000, `exited after ${r.elapsed} ms`);
});

Deno.test("10,000 connections with idle timeouts use one loop timer", async () => {
  // 5,000 client/server pairs, both ends with an idle timeout: 10,000
  // entries in the loop's heap, and one JS timer driving them all.
  const pairs = isWindows ? 1_000 : 5_000; // Wine's sockets are slow to make; the heap is the same
  const loop = new EventLoop();
  const heap = unsafeLoop(loop).timers;
  const l = await TcpListener.listen("127.0.0.1", 0, { loop, config: { backlog: 4096 } });
  const conns: TcpConnection[] = [];
  let idle = 0;
  l.onConnection = (_l, s) => {
    s.onData = () => {};
    s.onIdleTimeout = () => idle++;
    s.idleTimeoutMs = 600_000;
    conns.push(s);
  };
  // Count JS timers started while the timeouts are set.
  const realSetTimeout = globalThis.setTimeout;
  let started = 0;
  try {
    const pending: Promise<TcpConnection>[] = [];
    for (let i = 0; i < pairs; i++) {
      pending.push(TcpConnection.connect("127.0.0.1", l.localPort, { loop }));
      if (pending.length === 200) conns.push(...await Promise.all(pending.splice(0)));
    }
    conns.push(...await Promise.all(pending));
    await until(() => conns.length === 2 * pairs, 60_000, "all accepted");
    const before = heap.jsTimersStarted;
    globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
      started++;
      return realSetTimeout(...a);
    }) as typeof setTimeout;
    for (const c of conns) {
      if (c.idleTimeoutMs === 0) {
        c.onIdleTimeout = () => idle++;
        c.idleTimeoutMs = 600_000;
      }
    }
    globalThis.setTimeout = realSetTimeout;
    assert.equal(heap.size, 2 * pairs);
    assert.equal(heap.jsTimers, 1);
    assert.ok(heap.jsTimersStarted - before <= 1, `${heap.jsTimersStarted - before} JS timers started`);
    assert.ok(started <= 1, `${started} setTimeout calls for ${pairs} idle timeouts`);
    assert.equal(idle, 0);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    await loop.close();
  }
  assert.equal(heap.size, 0);
  assert.equal(heap.jsTimers, 0);
});

Deno.test("connect timeouts are entries in the loop's heap, not a JS timer per connect", async () => {
  // A setTimeout and its clearTimeout per connect cost more CPU than the
  // rest of a short-lived connection (bench/GAPS.md, accept-client).
  const loop = new EventLoop();
  const heap = unsafeLoop(loop).timers;
  const l = await TcpListener.listen("127.0.0.1", 0, { loop });
  l.onConnection = (_l, s) => s.close();
  const before = heap.jsTimersStarted;
  try {
    for (let i = 0; i < 50; i++) {
      const c = await TcpConnection.connect("127.0.0.1", l.localPort, { loop, timeoutMs: 60_000 });
      assert.equal(heap.size, 0, "the entry leaves the heap once connected");
      c.close();
    }
    assert.ok(heap.jsTimersStarted - before <= 1, `${heap.jsTimersStarted - before} JS timers for 50 connects`);
  } finally {
    await loop.close();
  }
  assert.equal(heap.jsTimers, 0);
});

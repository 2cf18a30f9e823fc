/** Connecting: Happy Eyeballs (RFC 8305), the lookup option, sequential attempts, binding before connecting. */
import assert from "node:assert/strict";
import { EventLoop, type LookupAddress, TcpConnection, TcpListener } from "../mod.ts";
import { closedPort, within } from "./helpers.ts";

// A listener on [::1] whose accept queue is full: further connection
// attempts hang (the kernel drops their SYNs). It and its fillers live on
// their own loop, so the default loop's handles count only the attempts.
async function hangingListener(): Promise<{ port: number; loop: EventLoop; close(): Promise<void> }> {
  const loop = new EventLoop();
  const l = await TcpListener.listen("::1", 0, { loop, config: { backlog: 1, simultaneousAccepts: 1 } });
  const fillers: TcpConnection[] = [];
  for (let i = 0; i < 16; i++) {
    try {
      fillers.push(await TcpConnection.connect("::1", l.localPort, { loop, timeoutMs: 400 }));
    } catch (error) {
      if (error instanceof Deno.errors.TimedOut) {
        return {
          port: l.localPort,
          loop,
          async close() {
            for (const f of fillers) f.abort();
            l.close();
            await loop.close();
          },
        };
      }
      throw error;
    }
  }
  await loop.close();
  throw new Error("the accept queue never filled");
}

Deno.test("Happy Eyeballs: an address that never answers plus one that does connects through the second within the stagger", async () => {
  const hang = await hangingListener();
  const good = await TcpListener.listen("127.0.0.1", hang.port, { loop: hang.loop });
  good.onConnection = (_l, c) => (c.onData = () => {});
  const handles = EventLoop.default.stats().handles;
  const asked: string[] = [];
  const lookup = (host: string): Promise<LookupAddress[]> => {
    asked.push(host);
    return Promise.resolve([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
  };
  try {
    const started = performance.now();
    const conn = await within(TcpConnection.connect("localhost", hang.port, { lookup }), 10_000, "connect");
    const took = performance.now() - started;
    assert.deepEqual(asked, ["localhost"]);
    assert.equal(conn.remoteAddress?.hostname, "127.0.0.1");
    // The IPv6 attempt went first; the IPv4 one after the 250 ms delay.
    assert.ok(took >= 200 && took < 2_000, `connected after ${took} ms`);
    // The loser was cancelled: only the winner is open on this loop.
    assert.equal(EventLoop.default.stats().handles, handles + 1);
    conn.abort();
  } finally {
    await hang.close();
  }
});

Deno.test("attemptDelayMs sets the stagger", async () => {
  const hang = await hangingListener();
  const good = await TcpListener.listen("127.0.0.1", hang.port);
  good.onConnection = (_l, c) => (c.onData = () => {});
  const lookup = () =>
    Promise.resolve<LookupAddress[]>([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
  try {
    const started = performance.now();
    const conn = await TcpConnection.connect("localhost", hang.port, { lookup, attemptDelayMs: 20 });
    const took = performance.now() - started;
    assert.ok(took < 200, `connected after ${took} ms`);
    conn.abort();
  } finally {
    good.close();
    await hang.close();
  }
});

Deno.test("happyEyeballs: false goes in sequence: a hanging first address holds up the second", async () => {
  const hang = await hangingListener();
  const good = await TcpListener.listen("127.0.0.1", hang.port);
  const lookup = () =>
    Promise.resolve<LookupAddress[]>([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
  const handles = EventLoop.default.stats().handles;
  try {
    await assert.rejects(
      TcpConnection.connect("localhost", hang.port, { lookup, happyEyeballs: false, timeoutMs: 700 }),
      Deno.errors.TimedOut,
    );
    // timeoutMs covered the whole attempt and left no socket behind.
    assert.equal(EventLoop.default.stats().handles, handles);
  } finally {
    good.close();
    await hang.close();
  }
});

Deno.test("a refused address moves on to the next at once, in either mode", async () => {
  const good = await TcpListener.listen("127.0.0.1", 0);
  good.onConnection = (_l, c) => (c.onData = () => {});
  // [::1] on the same port has no listener: refused.
  const lookup = () =>
    Promise.resolve<LookupAddress[]>([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
  try {
    for (const happyEyeballs of [true, false]) {
      const started = performance.now();
      const conn = await TcpConnection.connect("localhost", good.localPort, { lookup, happyEyeballs });
      assert.equal(conn.remoteAddress?.hostname, "127.0.0.1");
      assert.ok(performance.now() - started < 200, "no stagger wait after a refusal");
      conn.abort();
    }
  } finally {
    good.close();
  }
});

// Under Wine this used to resolve: connected to itself (tcp_connect_test.ts has the regression test).
Deno.test(
  "every address refused rejects with the last error",
  async () => {
    const port = await closedPort();
    const lookup = () =>
      Promise.resolve<LookupAddress[]>([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
    await assert.rejects(TcpConnection.connect("localhost", port, { lookup }), Deno.errors.ConnectionRefused);
  },
);

Deno.test("lookup's answers are checked and narrowed by family", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, c) => (c.onData = () => {});
  try {
    const bad = () => Promise.resolve([{ address: "not-an-ip", family: 4 as const }]);
    await assert.rejects(TcpConnection.connect("localhost", l.localPort, { lookup: bad }), TypeError);
    const both = () =>
      Promise.resolve<LookupAddress[]>([{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]);
    const c = await TcpConnection.connect("localhost", l.localPort, { lookup: both, family: 4 });
    assert.equal(c.remoteAddress?.family, 4);
    c.abort();
    assert.throws(() => TcpConnection.connect("localhost", 1, { lookup: "x" as never }), TypeError);
  } finally {
    l.close();
  }
});

Deno.test("localAddress binding shows in localAddress (and localPort when given)", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  try {
    const accepted = l.accept();
    const c = await TcpConnection.connect("127.0.0.1", l.localPort, { localAddress: "127.0.0.2" });
    const s = await within(accepted, 10_000, "accept");
    assert.equal(c.localAddress?.hostname, "127.0.0.2");
    assert.equal(s.remoteAddress?.hostname, "127.0.0.2");
    assert.equal(s.remoteAddress?.port, c.localAddress?.port);
    c.abort();
    s.abort();
    // A chosen port: find a free one, then bind it.
    const probe = await TcpListener.listen("127.0.0.1", 0);
    const port = probe.localPort;
    probe.close();
    const accepted2 = l.accept();
    const c2 = await TcpConnection.connect("127.0.0.1", l.localPort, { localAddress: "127.0.0.1", localPort: port });
    const s2 = await within(accepted2, 10_000, "accept");
    assert.equal(c2.localAddress?.port, port);
    assert.equal(s2.remoteAddress?.port, port);
    c2.abort();
    s2.abort();
    assert.throws(() => TcpConnection.connect("127.0.0.1", 1, { localAddress: "host.example" }), TypeError);
    // No address of the local address's family: nothing to try.
    await assert.rejects(
      TcpConnection.connect("127.0.0.1", l.localPort, { localAddress: "::1" }),
      Deno.errors.NotFound,
    );
  } finally {
    l.close();
  }
});

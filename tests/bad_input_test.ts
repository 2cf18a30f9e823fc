/**
 * The bad-input table (issue 13): public methods and options × bad values,
 * generated from one table. Each bad value must be refused with the
 * documented TypeError or RangeError naming the argument (synchronously,
 * or as the rejection of a method that returns a promise), and the object
 * must still work afterwards (its row's `usable` check).
 */
import assert from "node:assert/strict";
import { EventLoop, Pipe, PipeListener, TcpConnection, TcpListener } from "../mod.ts";
import { within } from "./helpers.ts";

type ErrorClass = typeof TypeError | typeof RangeError;

const aborted = AbortSignal.abort();
const detached = (() => {
  const view = new Uint8Array(8);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
})();

interface Row {
  /** What is called, with `v` in the argument's place. */
  what: string;
  /** The argument's name as the error must say it. */
  arg: string;
  bad: [unknown, ErrorClass][];
  call: (ctx: Ctx, v: unknown) => unknown;
}

interface Ctx {
  loop: EventLoop;
  listener: TcpListener;
  client: TcpConnection;
  server: TcpConnection;
}

// deno-lint-ignore no-explicit-any
const any = (v: unknown) => v as any;
const NOT_A_NUMBER: [unknown, ErrorClass][] = [["80", TypeError], [null, TypeError], [{}, TypeError], [
  Number.NaN,
  TypeError,
], [1.5, TypeError]];
const NOT_A_STRING: [unknown, ErrorClass][] = [[42, TypeError], [null, TypeError], [{}, TypeError], [
  "a\0b",
  TypeError,
], ["\ud800", TypeError]];

const ROWS: Row[] = [
  {
    what: "TcpConnection.connect(host)",
    arg: "host",
    bad: NOT_A_STRING,
    call: (c, v) => TcpConnection.connect(any(v), 1, { loop: c.loop }),
  },
  {
    what: "TcpConnection.connect(port)",
    arg: "port",
    bad: [...NOT_A_NUMBER, [-1, RangeError], [65536, RangeError], [0, RangeError], [Infinity, TypeError]],
    call: (c, v) => TcpConnection.connect("127.0.0.1", any(v), { loop: c.loop }),
  },
  {
    what: "TcpConnection.connect(options.timeoutMs)",
    arg: "timeoutMs",
    bad: [["1", TypeError], [-1, RangeError], [Number.NaN, TypeError]],
    call: (c, v) => TcpConnection.connect("127.0.0.1", 1, { loop: c.loop, timeoutMs: any(v) }),
  },
  {
    what: "TcpConnection.connect(options.signal)",
    arg: "signal",
    bad: [[{}, TypeError], ["x", TypeError]],
    call: (c, v) => TcpConnection.connect("127.0.0.1", 1, { loop: c.loop, signal: any(v) }),
  },
  {
    what: "TcpConnection.connect(options.family)",
    arg: "family",
    bad: [[5, RangeError], ["4", RangeError]],
    call: (c, v) => TcpConnection.connect("127.0.0.1", 1, { loop: c.loop, family: any(v) }),
  },
  {
    what: "TcpConnection.create(config.highWaterMark)",
    arg: "highWaterMark",
    bad: [[-1, RangeError], [0, RangeError], ["1", TypeError], [Number.NaN, TypeError]],
    call: (c, v) => TcpConnection.create({ highWaterMark: any(v) }, c.loop),
  },
  {
    what: "TcpConnection.create(config.lowWaterMark)",
    arg: "lowWaterMark",
    bad: [[-1, RangeError], [1 << 30, RangeError], [1.5, TypeError]],
    call: (c, v) => TcpConnection.create({ highWaterMark: 1024, lowWaterMark: any(v) }, c.loop),
  },
  {
    what: "TcpConnection.create(config.readBufferSize)",
    arg: "readBufferSize",
    bad: [[0, RangeError], [1 << 30, RangeError], ["x", TypeError]],
    call: (c, v) => TcpConnection.create({ readBufferSize: any(v) }, c.loop),
  },
  {
    what: "TcpConnection.send(data)",
    arg: "data",
    bad: [["text", TypeError], [null, TypeError], [new ArrayBuffer(4), TypeError], [
      [new Uint8Array(1), "x"],
      TypeError,
    ], [
      new DataView(new ArrayBuffer(4)),
      TypeError,
    ]],
    call: (c, v) => c.client.send(any(v)),
  },
  {
    what: "TcpListener.listen(host)",
    arg: "host",
    bad: NOT_A_STRING,
    call: (c, v) => TcpListener.listen(any(v), 0, { loop: c.loop }),
  },
  {
    what: "TcpListener.listen(port)",
    arg: "port",
    bad: [...NOT_A_NUMBER, [-1, RangeError], [65536, RangeError]],
    call: (c, v) => TcpListener.listen("127.0.0.1", any(v), { loop: c.loop }),
  },
  {
    what: "TcpListener.listen(options.config.backlog)",
    arg: "backlog",
    bad: [[-1, RangeError], [0, RangeError], ["5", TypeError]],
    call: (c, v) => TcpListener.listen("127.0.0.1", 0, { loop: c.loop, config: { backlog: any(v) } }),
  },
  {
    what: "TcpListener.accept(options.signal)",
    arg: "signal",
    bad: [[{}, TypeError]],
    call: (c, v) => c.listener.accept({ signal: any(v) }),
  },
  {
    what: "TcpConnection.adopt(handle)",
    arg: "handle",
    bad: [["3", TypeError], [-1, RangeError], [1.5, TypeError], [-1n, RangeError]],
    call: (c, v) => {
      const conn = TcpConnection.create(undefined, c.loop);
      try {
        return conn.adopt(any(v));
      } finally {
        conn.dispose();
      }
    },
  },
  {
    what: "Pipe.connect(path)",
    arg: "path",
    bad: [[42, TypeError], ["a\0b", TypeError], ["\udc00", TypeError]],
    call: (c, v) => Pipe.connect(any(v), { loop: c.loop }),
  },
  {
    what: "PipeListener.listen(path)",
    arg: "path",
    bad: [[42, TypeError], ["a\0b", TypeError], ["\udc00", TypeError]],
    call: (c, v) => PipeListener.listen(any(v), { loop: c.loop }),
  },
];

async function refusal(f: () => unknown): Promise<unknown> {
  try {
    const r = f();
    if (r instanceof Promise) await within(r, 10_000, "the call");
  } catch (e) {
    return e;
  }
  return null;
}

for (const row of ROWS) {
  Deno.test(`bad input: ${row.what}`, async () => {
    const loop = new EventLoop();
    try {
      const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
      const accepted = listener.accept();
      const client = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
      const server = await accepted;
      const ctx: Ctx = { loop, listener, client, server };
      for (const [value, cls] of row.bad) {
        const e = await refusal(() => row.call(ctx, value));
        const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
        assert.ok(e instanceof cls, `${row.what} with ${shown}: wanted ${cls.name}, got ${e}`);
        assert.match((e as Error).message, new RegExp(row.arg), `${row.what} with ${shown}: names ${row.arg}`);
      }
      // Still usable: the connection moves bytes, the listener accepts.
      const got = new Promise<number>((r) => (server.onData = (_s, d) => r(d.length)));
      assert.equal(client.send(new Uint8Array(5)), "ok");
      assert.equal(await within(got, 10_000, "bytes after the bad calls"), 5);
      const again = listener.accept();
      const c2 = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
      (await within(again, 10_000, "accept after the bad calls")).abort();
      c2.abort();
      client.abort();
      server.abort();
      listener.close();
    } finally {
      await within(loop.close(), 10_000, "loop.close()");
    }
  });
}

Deno.test("bad input: an already-aborted signal rejects with its reason, nothing opened", async () => {
  const loop = new EventLoop();
  try {
    const l = await TcpListener.listen("127.0.0.1", 0, { loop });
    await assert.rejects(TcpConnection.connect("127.0.0.1", l.localPort, { loop, signal: aborted }), (e: unknown) => {
      return e === aborted.reason;
    });
    await assert.rejects(l.accept({ signal: aborted }), (e: unknown) => e === aborted.reason);
    assert.equal(loop.stats().handles, 1);
    l.close();
  } finally {
    await loop.close();
  }
});

Deno.test("bad input: a detached buffer is refused or sends nothing, and the connection stays usable", async () => {
  const loop = new EventLoop();
  try {
    const l = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = l.accept();
    const c = await TcpConnection.connect("127.0.0.1", l.localPort, { loop });
    const s = await accepted;
    const e = await refusal(() => c.send(detached));
    assert.ok(e === null || e instanceof TypeError, `detached: ${e}`);
    assert.equal(c.bytesWritten, 0);
    const got = new Promise<number>((r) => (s.onData = (_s, d) => r(d.length)));
    c.send(new Uint8Array(3));
    assert.equal(await within(got, 10_000, "bytes"), 3);
    c.abort();
    s.abort();
    l.close();
  } finally {
    await loop.close();
  }
});

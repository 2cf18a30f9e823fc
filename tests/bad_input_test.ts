/**
 * The bad-input table (issue 13): public methods and options × bad values,
 * generated from one table. Each bad value must be refused with the
 * documented TypeError or RangeError naming the argument (synchronously,
 * or as the rejection of a method that returns a promise), and the object
 * must still work afterwards (its row's `usable` check).
 */
import assert from "node:assert/strict";
import { EventLoop, Pipe, PipeListener, ShutdownCoordinator, TcpConnection, TcpListener } from "../mod.ts";
import { pipePath, until, within } from "./helpers.ts";

type ErrorClass = typeof TypeError | typeof RangeError;

const aborted = AbortSignal.abort();
const detached = (() => {
  const view = new Uint8Array(8);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
})();
// A fixed-length view whose resizable buffer shrank below it.
const outOfBounds = (() => {
  const buffer = new ArrayBuffer(8, { maxByteLength: 16 });
  const view = new Uint8Array(buffer, 4, 4);
  buffer.resize(2);
  return view;
})();
/** Bad payloads for send/write: types, then views that read as nothing. */
const BAD_PAYLOADS: [unknown, ErrorClass][] = [
  ["text", TypeError],
  [null, TypeError],
  [new ArrayBuffer(4), TypeError],
  [[new Uint8Array(1), "x"], TypeError],
  [new DataView(new ArrayBuffer(4)), TypeError],
  [detached, TypeError],
  [outOfBounds, TypeError],
  [[new Uint8Array(1), detached], TypeError],
];
// Longer than any pipe name (256 characters) or socket path (107 bytes).
const LONG_NAME = Deno.build.os === "windows" ? `\\\\.\\pipe\\${"x".repeat(300)}` : `/tmp/${"x".repeat(200)}`;
const BAD_PATHS: [unknown, ErrorClass][] = [
  [42, TypeError],
  ["a\0b", TypeError],
  ["\udc00", TypeError],
  ["", TypeError],
  [LONG_NAME, RangeError],
  // Not local pipe names: a plain name, the bare prefix, a remote server,
  // a file path, the \\?\ form.
  ...(Deno.build.os === "windows"
    ? ["aio-test-0", "\\\\.\\pipe\\", "\\\\server\\pipe\\x", "C:\\x.sock", "\\\\?\\pipe\\x"].map((
      v,
    ): [unknown, ErrorClass] => [v, TypeError])
    : []),
];

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
  pipeListener: PipeListener;
  pipe: Pipe;
  pipePeer: Pipe;
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
    bad: BAD_PAYLOADS,
    call: (c, v) => c.client.send(any(v)),
  },
  {
    what: "TcpConnection.write(data)",
    arg: "data",
    bad: BAD_PAYLOADS.filter(([v]) => !Array.isArray(v)),
    call: (c, v) => c.client.write(any(v)),
  },
  {
    what: "Pipe.send(data)",
    arg: "data",
    bad: BAD_PAYLOADS,
    call: (c, v) => c.pipe.send(any(v)),
  },
  {
    what: "Pipe.write(data)",
    arg: "data",
    bad: BAD_PAYLOADS.filter(([v]) => !Array.isArray(v)),
    call: (c, v) => c.pipe.write(any(v)),
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
    bad: BAD_PATHS,
    call: (c, v) => Pipe.connect(any(v), { loop: c.loop }),
  },
  {
    what: "Pipe.connect(options)",
    arg: "options",
    bad: [[5, TypeError], ["x", TypeError]],
    call: (c, v) => Pipe.connect(c.pipeListener.path, any(v)),
  },
  {
    what: "Pipe.connect(options.timeoutMs)",
    arg: "timeoutMs",
    bad: [["1", TypeError], [-1, RangeError], [Number.NaN, TypeError], [2 ** 31, RangeError]],
    call: (c, v) => Pipe.connect(c.pipeListener.path, { loop: c.loop, timeoutMs: any(v) }),
  },
  {
    what: "Pipe.connect(options.signal)",
    arg: "signal",
    bad: [[{}, TypeError], ["x", TypeError]],
    call: (c, v) => Pipe.connect(c.pipeListener.path, { loop: c.loop, signal: any(v) }),
  },
  {
    what: "Pipe.connect(options.config.highWaterMark)",
    arg: "highWaterMark",
    bad: [[-1, RangeError], [0, RangeError], ["1", TypeError]],
    call: (c, v) => Pipe.connect(c.pipeListener.path, { loop: c.loop, config: { highWaterMark: any(v) } }),
  },
  {
    what: "Pipe.connect(options.config.lowWaterMark)",
    arg: "lowWaterMark",
    bad: [[-1, RangeError], [1 << 30, RangeError], [1.5, TypeError]],
    call: (c, v) =>
      Pipe.connect(c.pipeListener.path, { loop: c.loop, config: { highWaterMark: 1024, lowWaterMark: any(v) } }),
  },
  {
    what: "Pipe.connect(options.config.bufferSize)",
    arg: "bufferSize",
    bad: [[0, RangeError], [1 << 30, RangeError], ["x", TypeError]],
    call: (c, v) => Pipe.connect(c.pipeListener.path, { loop: c.loop, config: { bufferSize: any(v) } }),
  },
  {
    what: "Pipe.create(config)",
    arg: "config",
    bad: [[5, TypeError], ["x", TypeError]],
    call: (c, v) => Pipe.create(any(v), c.loop),
  },
  {
    what: "PipeListener.listen(path)",
    arg: "path",
    bad: BAD_PATHS,
    call: (c, v) => PipeListener.listen(any(v), { loop: c.loop }),
  },
  {
    what: "PipeListener.listen(options.backlog)",
    arg: "backlog",
    bad: [[-1, RangeError], [0, RangeError], ["5", TypeError], [Number.NaN, TypeError]],
    call: (c, v) => PipeListener.listen(pipePath(11), { loop: c.loop, backlog: any(v) }),
  },
  {
    what: "PipeListener.listen(options.signal)",
    arg: "signal",
    bad: [[{}, TypeError]],
    call: (c, v) => PipeListener.listen(pipePath(11), { loop: c.loop, signal: any(v) }),
  },
  {
    what: "PipeListener.accept(options.signal)",
    arg: "signal",
    bad: [[{}, TypeError]],
    call: (c, v) => c.pipeListener.accept({ signal: any(v) }),
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
      const pipeListener = await PipeListener.listen(pipePath(12), { loop });
      const pipeAccepted = pipeListener.accept();
      const pipe = await Pipe.connect(pipeListener.path, { loop, timeoutMs: 10_000 });
      const pipePeer = await within(pipeAccepted, 10_000, "pipe accept");
      const ctx: Ctx = { loop, listener, client, server, pipeListener, pipe, pipePeer };
      for (const [value, cls] of row.bad) {
        const e = await refusal(() => row.call(ctx, value));
        const shown = typeof value === "string" ? JSON.stringify(value).slice(0, 60) : Deno.inspect(value);
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
      // The pipe too, and its listener.
      const pipeGot = new Promise<number>((r) => (pipePeer.onData = (_p, d) => r(d.length)));
      assert.equal(pipe.send(new Uint8Array(6)), "ok");
      assert.equal(await within(pipeGot, 10_000, "pipe bytes after the bad calls"), 6);
      const pipeAgain = pipeListener.accept();
      const p2 = await Pipe.connect(pipeListener.path, { loop, timeoutMs: 10_000 });
      (await within(pipeAgain, 10_000, "pipe accept after the bad calls")).abort();
      p2.abort();
      pipe.abort();
      pipePeer.abort();
      pipeListener.close();
      client.abort();
      server.abort();
      listener.close();
      // Nothing the bad calls made is left open.
      await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
    } finally {
      await within(loop.close(), 10_000, "loop.close()");
    }
  });
}

// Every method that takes a signal, given one that has aborted already:
// it rejects with the signal's reason and opens nothing.
const ABORTED_CALLS: [string, (c: Ctx) => Promise<unknown>][] = [
  ["TcpConnection.connect (static)", (c) =>
    TcpConnection.connect("127.0.0.1", c.listener.localPort, {
      loop: c.loop,
      signal: aborted,
    })],
  [
    "TcpConnection.connect",
    (c) => TcpConnection.create(undefined, c.loop).connect("127.0.0.1", c.listener.localPort, { signal: aborted }),
  ],
  ["TcpListener.listen (static)", (c) => TcpListener.listen("127.0.0.1", 0, { loop: c.loop, signal: aborted })],
  ["TcpListener.accept", (c) => c.listener.accept({ signal: aborted })],
  ["Pipe.connect", (c) => Pipe.connect(c.pipeListener.path, { loop: c.loop, signal: aborted })],
  ["PipeListener.listen", (c) => PipeListener.listen(pipePath(11), { loop: c.loop, signal: aborted })],
  ["PipeListener.accept", (c) => c.pipeListener.accept({ signal: aborted })],
];

for (const [what, call] of ABORTED_CALLS) {
  Deno.test(`bad input: an already-aborted signal to ${what} rejects with its reason, nothing opened`, async () => {
    const loop = new EventLoop();
    try {
      const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
      const pipeListener = await PipeListener.listen(pipePath(12), { loop });
      const ctx = { loop, listener, pipeListener } as Ctx;
      const before = loop.stats().handles;
      await assert.rejects(within(call(ctx), 10_000, what), (e: unknown) => e === aborted.reason);
      assert.equal(loop.stats().handles, before, "nothing opened");
      // Both listeners still accept.
      const next = listener.accept();
      const c = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
      (await within(next, 10_000, "accept after")).abort();
      c.abort();
      const nextPipe = pipeListener.accept();
      const p = await Pipe.connect(pipeListener.path, { loop, timeoutMs: 10_000 });
      (await within(nextPipe, 10_000, "pipe accept after")).abort();
      p.abort();
      listener.close();
      pipeListener.close();
      await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
    } finally {
      await within(loop.close(), 10_000, "loop.close()");
    }
  });
}

Deno.test("bad input: an already-aborted signal to ShutdownCoordinator.shutdown aborts what is tracked at once", async () => {
  const loop = new EventLoop();
  try {
    const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = listener.accept();
    const client = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
    const server = await within(accepted, 10_000, "accept");
    server.onData = () => {};
    const sd = new ShutdownCoordinator();
    sd.track(listener);
    sd.track(client);
    // The peer never reads: without the signal this would wait.
    server.pauseReading();
    client.send(new Uint8Array(8 << 20));
    const r = await within(sd.shutdown({ signal: aborted }), 10_000, "shutdown");
    assert.equal(r.drained + r.aborted, 1, `one connection: ${JSON.stringify(r)}`);
    assert.equal(listener.isOpen, false);
    assert.equal(client.isOpen, false);
    server.abort();
    await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
  } finally {
    await within(loop.close(), 10_000, "loop.close()");
  }
});

// The buffers send() and write() take besides plain ones (JSDoc of
// TcpConnection.send): the bytes in the view at the call arrive, once.
for (const kind of ["TcpConnection", "Pipe"] as const) {
  Deno.test(`${kind}: SharedArrayBuffer and resizable views are sent, their bytes copied at the call`, async () => {
    const loop = new EventLoop();
    try {
      let a: TcpConnection | Pipe, b: TcpConnection | Pipe, done: () => void;
      if (kind === "TcpConnection") {
        const l = await TcpListener.listen("127.0.0.1", 0, { loop });
        const accepted = l.accept();
        a = await TcpConnection.connect("127.0.0.1", l.localPort, { loop });
        b = await within(accepted, 10_000, "accept");
        done = () => l.close();
      } else {
        const l = await PipeListener.listen(pipePath(12), { loop });
        const accepted = l.accept();
        a = await Pipe.connect(l.path, { loop, timeoutMs: 10_000 });
        b = await within(accepted, 10_000, "accept");
        done = () => l.close();
      }
      const got: number[] = [];
      b.onData = (_b: unknown, d: Uint8Array) => got.push(...d);
      const shared = new Uint8Array(new SharedArrayBuffer(8)).map((_, i) => 10 + i).subarray(2, 6);
      const growable = new Uint8Array(new SharedArrayBuffer(4, { maxByteLength: 16 })).fill(20);
      const resizable = new ArrayBuffer(8, { maxByteLength: 16 });
      const tracking = new Uint8Array(resizable).fill(30);
      resizable.resize(3); // a length-tracking view follows the buffer
      const want = [12, 13, 14, 15, 20, 20, 20, 20, 30, 30, 30, 31, 31];
      assert.equal(a.send(shared), "ok");
      assert.equal(a.send([growable, tracking]), "ok");
      const last = new Uint8Array(new SharedArrayBuffer(2)).fill(31);
      await a.write(last);
      last.fill(99); // copied at the call: changing it now sends nothing new
      await until(() => got.length >= want.length, 10_000, "the bytes arrive");
      assert.deepEqual(got, want);
      assert.equal(a.bytesWritten, want.length);
      a.abort();
      b.abort();
      done();
      await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
    } finally {
      await within(loop.close(), 10_000, "loop.close()");
    }
  });
}

// Paths the OS refuses (Linux: any string is a path, so these pass the
// argument checks): a typed Deno.errors error, nothing left open.
Deno.test({
  name: "bad input: socket paths the OS refuses give typed errors (a directory, a missing directory)",
  ignore: Deno.build.os === "windows",
}, async () => {
  const loop = new EventLoop();
  try {
    const dir = await Deno.makeTempDir();
    const cases: [string, () => Promise<unknown>, new (...a: never[]) => Error][] = [
      ["listen on a directory", () => PipeListener.listen(dir, { loop }), Deno.errors.AddrInUse],
      ["connect to a directory", () => Pipe.connect(dir, { loop }), Deno.errors.ConnectionRefused],
      ["listen in a missing directory", () => PipeListener.listen(`${dir}/no/x.sock`, { loop }), Deno.errors.NotFound],
      ["connect in a missing directory", () => Pipe.connect(`${dir}/no/x.sock`, { loop }), Deno.errors.NotFound],
    ];
    for (const [what, call, cls] of cases) {
      await assert.rejects(within(call(), 10_000, what), cls, what);
    }
    assert.equal(loop.stats().handles, 0);
    assert.ok((await Deno.stat(dir)).isDirectory, "the directory is untouched");
    await Deno.remove(dir, { recursive: true });
  } finally {
    await within(loop.close(), 10_000, "loop.close()");
  }
});

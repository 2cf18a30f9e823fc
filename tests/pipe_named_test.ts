/** Named endpoints: Windows named pipes, Unix domain sockets on Linux. */
import assert from "node:assert/strict";
import { EventLoop, Pipe, PipeListener } from "../mod.ts";
import { isWindows, pattern, pipePath, sha256, Sink, sleep, within } from "./helpers.ts";

function echo(listener: PipeListener): void {
  listener.onConnection = (_l, p) => {
    p.onData = (pp, d) => {
      if (pp.send(d) === "pressure") {
        pp.pauseReading();
        pp.onWritable = (x) => x.resumeReading();
      }
    };
  };
}

Deno.test("a PipeListener serves 100 concurrent clients, each echoing 64 KiB", async () => {
  const listener = await PipeListener.listen(pipePath(0));
  echo(listener);
  const size = 64 * 1024;
  const one = async (i: number) => {
    const p = await Pipe.connect(listener.path, { timeoutMs: 20_000 });
    const data = pattern(size, i + 100);
    const sink = new Sink();
    const done = new Promise<void>((r) => {
      p.onData = (_p, d) => {
        sink.push(d);
        if (sink.length >= size) r();
      };
    });
    p.send(data);
    await done;
    assert.equal(await sha256(sink.bytes()), await sha256(data), `client ${i}`);
    await p.close();
  };
  await within(Promise.all(Array.from({ length: 100 }, (_, i) => one(i))), 120_000, "100 clients");
  listener.close();
});

Deno.test("PipeListener accept with a signal, and async iteration", async () => {
  const listener = await PipeListener.listen(pipePath(1));
  const ac = new AbortController();
  const p = listener.accept({ signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e: unknown) => e instanceof DOMException && e.name === "AbortError");
  const clients = await Promise.all([0, 1, 2].map(() => Pipe.connect(listener.path, { timeoutMs: 10_000 })));
  const served: string[] = [];
  let n = 0;
  for await (const server of listener) {
    server.onData = (_s, d) => served.push(new TextDecoder().decode(d));
    if (++n === 3) break;
  }
  for (const [i, c] of clients.entries()) c.send(new TextEncoder().encode(`c${i}`));
  const deadline = Date.now() + 10_000;
  while (served.length < 3 && Date.now() < deadline) await sleep(5);
  assert.deepEqual(served.sort(), ["c0", "c1", "c2"]);
  for (const c of clients) await c.close();
  listener.close();
});

Deno.test("Pipe.connect to a missing name rejects with NotFound", async () => {
  await assert.rejects(Pipe.connect(pipePath(2)), Deno.errors.NotFound);
});

Deno.test("listening on a name in use rejects with AddrInUse", async () => {
  const listener = await PipeListener.listen(pipePath(3));
  await assert.rejects(PipeListener.listen(pipePath(3)), Deno.errors.AddrInUse);
  listener.close();
});

Deno.test("close while reads, writes and connects are pending: no crash, no leak, no late callback", async () => {
  const loop = new EventLoop();
  try {
    const listener = await PipeListener.listen(pipePath(4), { loop });
    const accepted = listener.accept();
    const client = await Pipe.connect(listener.path, { loop, timeoutMs: 10_000 });
    const server = await within(accepted, 10_000, "accept");
    let late = 0;
    server.onData = () => late++;
    server.pauseReading();
    client.onData = () => late++;
    client.send(new Uint8Array(4 << 20));
    const connecting = Pipe.connect(listener.path, { loop, signal: AbortSignal.abort() });
    await assert.rejects(connecting);
    client.abort();
    server.dispose();
    listener.close();
    await sleep(50);
    assert.equal(late, 0);
    assert.equal(loop.stats().handles, 0);
  } finally {
    await loop.close();
  }
});

Deno.test({
  name: "Linux: the socket is owner-only and a regular file at the path is never removed",
  ignore: isWindows,
  async fn() {
    const path = pipePath(5);
    const listener = await PipeListener.listen(path);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    listener.close();
    const file = pipePath(6);
    Deno.writeTextFileSync(file, "not a socket");
    await assert.rejects(PipeListener.listen(file), Deno.errors.AddrInUse);
    assert.equal(Deno.readTextFileSync(file), "not a socket", "the regular file is untouched");
    Deno.removeSync(file);
  },
});

Deno.test({
  name: "Linux: a socket file nobody listens on is replaced",
  ignore: isWindows,
  async fn() {
    const path = pipePath(7);
    // A server that exits without closing leaves its socket file behind.
    const node = await new Deno.Command("node", {
      args: ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`],
    }).output();
    assert.equal(node.code, 0);
    assert.ok(Deno.lstatSync(path).isSocket, "a stale socket is there");
    const listener = await PipeListener.listen(path);
    const c = await Pipe.connect(path, { timeoutMs: 5000 });
    await c.close();
    listener.close();
  },
});

Deno.test("Pipe.connect to a busy server retries within timeoutMs, then rejects with TimedOut", async () => {
  // Nobody accepts and the backlog is 1: once the listener's queue and the
  // OS's are full, the endpoint is busy for every further client.
  const listener = await PipeListener.listen(pipePath(8), { backlog: 1 });
  const clients: Pipe[] = [];
  let busy: unknown = null;
  let waited = 0;
  for (let i = 0; i < 12 && !busy; i++) {
    const started = Date.now();
    try {
      clients.push(await Pipe.connect(listener.path, { timeoutMs: 300 }));
    } catch (error) {
      busy = error;
      waited = Date.now() - started;
    }
  }
  assert.ok(busy instanceof Deno.errors.TimedOut, `a client timed out (${busy})`);
  assert.ok(waited >= 250, `it retried for the timeout (${waited} ms)`);
  // Once the server accepts, the endpoint takes clients again.
  for (let i = 0; i < clients.length; i++) (await within(listener.accept(), 10_000, "accept")).dispose();
  const late = await Pipe.connect(listener.path, { timeoutMs: 10_000 });
  late.dispose();
  for (const c of clients) c.dispose();
  listener.close();
});

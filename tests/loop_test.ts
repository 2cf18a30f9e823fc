/** EventLoop: backend, wake-up, stats, handle ids, exiting by itself. */
import assert from "node:assert/strict";
import { native } from "../ffi/library.ts";
import { CloseMode } from "../ffi/records.ts";
import { aioError, Code } from "../src/errors.ts";
import { unsafeId, unsafeLoop } from "../src/unsafe.ts";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, isWindows, runScript, within } from "./helpers.ts";

Deno.test("default loop backend is iocp on Windows and epoll on Linux", () => {
  assert.equal(EventLoop.default.backend, isWindows ? "iocp" : "epoll");
});

Deno.test("a parked native wait returns promptly after wake", async () => {
  const n = native();
  const err = new Int32Array(2);
  const ptr = n.aio_loop_new(err)!;
  assert.ok(ptr, `loop_new failed: ${err}`);
  try {
    const started = Date.now();
    const parked = n.loop_wait(ptr, 30_000);
    // Give the pool thread time to block before waking it.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(n.aio_loop_wake(ptr), 0);
    const r = await within(parked, 10_000, "woken wait");
    assert.ok(r >= 0);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(n.aio_loop_dispatch(ptr), 0, "a wake-up is no record");
  } finally {
    n.aio_loop_free(ptr);
  }
});

Deno.test("loop close wakes a parked wait and returns promptly", async () => {
  const loop = new EventLoop();
  const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
  // Let the pump park in the nonblocking wait.
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(loop.stats().waits >= 1, "the pump parked");
  await within(loop.close(), 5_000, "loop.close");
  assert.equal(listener.isOpen, false);
  assert.equal(loop.closed, true);
});

Deno.test("stats count waits, polls and events", async () => {
  // No busy-poll: every idle turn parks, so waits are counted for sure.
  const loop = new EventLoop({ spinMicroseconds: 0 });
  try {
    const before = loop.stats();
    assert.deepEqual(before, { waits: 0, polls: 0, events: 0, handles: 0, spins: 0, spinHits: 0 });
    const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = listener.accept();
    const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, { loop });
    const server = await accepted;
    assert.equal(loop.stats().handles, 3);
    const got = new Promise<Uint8Array>((r) => (server.onData = (_c, d) => r(d.slice())));
    conn.send(new TextEncoder().encode("ping"));
    assert.equal(new TextDecoder().decode(await got), "ping");
    const s = loop.stats();
    assert.ok(s.polls > 0, "polls counted");
    assert.ok(s.events >= 3, `events counted (${s.events})`);
    assert.ok(s.waits > 0, "waits counted");
    await conn.close();
    await server.close();
    listener.close();
    assert.equal(loop.stats().handles, 0);
  } finally {
    await loop.close();
  }
});

Deno.test("a stale id and a forged id are rejected with EBADID", async () => {
  const loop = new EventLoop();
  try {
    const n = native();
    const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
    const id = unsafeId(listener);
    assert.ok(id > 0);
    listener.close();
    const stale = n.aio_close(unsafeLoop(loop).ptr, id, CloseMode.NOW);
    assert.equal(stale, -Code.EBADID);
    for (const forged of [0, 1, 0x7fffffff, 0xffffffff, (5 << 20) | 12345, id ^ (1 << 20)]) {
      assert.equal(n.aio_read_start(unsafeLoop(loop).ptr, forged), -Code.EBADID, `forged ${forged}`);
      assert.equal(n.aio_send(unsafeLoop(loop).ptr, forged, new Uint8Array(1), 1), -Code.EBADID);
    }
    const err = aioError(stale, 0, "use after close");
    assert.ok(err instanceof Deno.errors.BadResource);
    assert.equal(err.code, "EBADF");
  } finally {
    await loop.close();
  }
});

Deno.test("adopting a forged OS handle throws BadResource", () => {
  const conn = TcpConnection.create();
  assert.throws(() => conn.adopt(isWindows ? 0x7ffff0 : 987654), (e: unknown) => {
    return e instanceof Deno.errors.BadResource && (e as { code?: string }).code === "EBADF";
  });
  assert.equal(conn.state, "detached");
  conn.dispose();
});

const exitScript = (unref: boolean) => `
import { EventLoop, TcpListener } from "MOD_URL";
const loop = EventLoop.default;
const l = await TcpListener.listen("127.0.0.1", 0);
await new Promise((r) => setTimeout(r, 20));
${unref ? "l.unref();" : "l.close();"}
console.log("done", loop.backend);
`;

Deno.test("a process that closed its only handle exits by itself", async () => {
  const r = await runScript(exitScript(false), 30_000, [
    "--allow-ffi",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
  ]);
  assertCleanExit(r, "subprocess");
  assert.match(r.stdout, /done (epoll|iocp)/);
  assert.ok(r.elapsed < 20_000, `exited after ${r.elapsed} ms`);
});

Deno.test("a process whose only handle is unref'd exits by itself", async () => {
  const r = await runScript(exitScript(true), 30_000, [
    "--allow-ffi",
    "--allow-read",
    "--allow-env",
    "--allow-net=127.0.0.1",
  ]);
  assertCleanExit(r, "subprocess");
  assert.match(r.stdout, /done/);
  assert.ok(r.elapsed < 20_000, `exited after ${r.elapsed} ms`);
});

/** Raw accepted sockets, adoption, and connect/close cycles that leak nothing. */
import assert from "node:assert/strict";
import { EventLoop, type OsHandle, TcpConnection, TcpListener } from "../mod.ts";
import { isWindows, until, within } from "./helpers.ts";
import { native } from "../ffi/library.ts";
import type { Native } from "../ffi/symbols.ts";
import { unsafeLoop } from "../src/unsafe.ts";

Deno.test("an onAccept raw handle adopted into a TcpConnection works", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const raw = new Promise<OsHandle>((r) => (l.onAccept = (_l, h) => r(h)));
  const client = await TcpConnection.connect("127.0.0.1", l.localPort);
  const handle = await within(raw, 10_000, "onAccept");
  assert.ok(typeof handle === "number" || typeof handle === "bigint");
  const server = TcpConnection.create();
  server.adopt(handle);
  assert.equal(server.state, "open");
  assert.deepEqual(server.remoteAddress, client.localAddress);
  server.onData = (c, d) => c.send(d);
  const echoed = new Promise<string>((r) => (client.onData = (_c, d) => r(new TextDecoder().decode(d))));
  client.send(new TextEncoder().encode("adopted"));
  assert.equal(await within(echoed, 10_000, "echo"), "adopted");
  await client.close();
  await server.close();
  l.close();
});

// POSIX hands out the lowest free descriptor: if the first fd of a new
// pipe is the same before and after, no socket was left open in between.
function lowestFreeFd(): number {
  const out = new BigUint64Array(2);
  const err = new Int32Array(2);
  assert.equal(native().aio_pipe_pair(out, err), 0);
  const fd = Number(out[0]);
  native().aio_os_close(out[0], 1);
  native().aio_os_close(out[1], 1);
  return fd;
}

// Windows: the process's open OS handles (sockets are handles).
function processHandles(): number {
  const k32 = Deno.dlopen("kernel32.dll", {
    GetCurrentProcess: { parameters: [], result: "pointer" },
    GetProcessHandleCount: { parameters: ["pointer", "buffer"], result: "i32" },
  });
  try {
    const out = new Uint32Array(1);
    assert.ok(k32.symbols.GetProcessHandleCount(k32.symbols.GetCurrentProcess(), out));
    return out[0];
  } finally {
    k32.close();
  }
}

Deno.test("10,000 sequential connect/close cycles leave handles and sockets where they started", async () => {
  const loop = EventLoop.default;
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, c) => {
    c.onData = () => {};
  };
  const handlesBefore = loop.stats().handles;
  // Warm up once so lazily created resources do not count; the server side
  // closes by itself once the client's FIN is in, which may be a little
  // after the client's close() resolved.
  await (await TcpConnection.connect("127.0.0.1", l.localPort)).close();
  await until(() => loop.stats().handles === handlesBefore, 10_000, "warm-up server side closes");
  const fdBefore = isWindows ? 0 : lowestFreeFd();
  const osHandlesBefore = isWindows ? processHandles() : 0;
  const cycles = 10_000;
  for (let i = 0; i < cycles; i++) {
    const c = await TcpConnection.connect("127.0.0.1", l.localPort);
    await c.close();
  }
  // Server sides close by themselves when the client's FIN arrives.
  const deadline = Date.now() + 20_000;
  while (loop.stats().handles > handlesBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(loop.stats().handles, handlesBefore);
  if (!isWindows) assert.equal(lowestFreeFd(), fdBefore, "no socket left open");
  // Deno's runtime opens and closes handles of its own meanwhile: a little
  // slack, far below the 20,000 sockets a leak would leave. Wine reports a
  // count of 0 (not implemented): there only the loop's count is checked.
  if (isWindows && osHandlesBefore > 0) {
    const after = processHandles();
    assert.ok(after <= osHandlesBefore + 32, `process handles ${osHandlesBefore} -> ${after}`);
  }
  l.close();
});

// Issue 16 (6): a failed adopt leaves the handle as it was; the caller owns it.

Deno.test("adopting a socket twice fails with AlreadyExists and the first owner keeps working", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const raw = new Promise<OsHandle>((r) => (l.onAccept = (_l, h) => r(h)));
  const client = await TcpConnection.connect("127.0.0.1", l.localPort);
  const handle = await within(raw, 10_000, "onAccept");
  const server = TcpConnection.create();
  server.adopt(handle);
  const second = TcpConnection.create();
  assert.throws(() => second.adopt(handle), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.AlreadyExists, `got ${e}`);
    assert.equal((e as { code?: string }).code, "EEXIST");
    return true;
  });
  assert.equal(second.state, "detached");
  // The refused adopt closed nothing: the first owner still echoes.
  server.onData = (c, d) => c.send(d);
  const echoed = new Promise<string>((r) => (client.onData = (_c, d) => r(new TextDecoder().decode(d))));
  client.send(new TextEncoder().encode("still mine"));
  assert.equal(await within(echoed, 10_000, "echo through the first owner"), "still mine");
  second.dispose();
  await client.close();
  await server.close();
  l.close();
});

Deno.test("a listener whose adopt of an accepted handle fails closes that handle exactly once", async () => {
  const loop = EventLoop.default;
  // The symbol table is a plain object: patch two entries for this test.
  const n = unsafeLoop(loop).native as { -readonly [K in keyof Native]: Native[K] };
  const realAdopt = n.aio_tcp_adopt;
  const realClose = n.aio_os_close;
  const closes: [bigint, number][] = [];
  let refused: bigint | undefined;
  // The listener's adopt fails the way a refused adopt does (EEXIST), with
  // the handle left untouched as aio.h promises; the listener alone closes it.
  n.aio_tcp_adopt = ((_ptr: Deno.PointerValue, handle: bigint, _flags: number) => {
    refused = BigInt(handle);
    n.aio_tcp_adopt = realAdopt;
    return -22; // EEXIST
  }) as typeof realAdopt;
  n.aio_os_close = ((handle: bigint, kind: number) => {
    const r = realClose(handle, kind);
    closes.push([BigInt(handle), r]);
    return r;
  }) as typeof realClose;
  const errors: unknown[] = [];
  const onError = (e: Event) => {
    e.preventDefault();
    errors.push((e as ErrorEvent).error);
  };
  loop.addEventListener("error", onError);
  try {
    const l = await TcpListener.listen("127.0.0.1", 0);
    let connections = 0;
    l.onConnection = () => connections++;
    const client = await TcpConnection.connect("127.0.0.1", l.localPort);
    const reason = new Promise<string>((r) => (client.onClose = (_c, why) => r(why)));
    client.onData = () => {};
    // The refused connection is closed by the server: the client sees it end.
    assert.match(await within(reason, 10_000, "client sees the refused connection close"), /peer|error/);
    assert.equal(connections, 0);
    assert.ok(refused !== undefined, "the listener tried to adopt");
    assert.deepEqual(closes.filter(([h]) => h === refused), [[refused, 0]], "closed once, and it was still open");
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Deno.errors.AlreadyExists);
    l.close();
  } finally {
    n.aio_tcp_adopt = realAdopt;
    n.aio_os_close = realClose;
    loop.removeEventListener("error", onError);
  }
});

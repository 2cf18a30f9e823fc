// close() that comes after the connect attempt has won (its CONNECTED
// record delivered) but before the connect's own continuation ran: the
// connect rejects, the connection stays closed and its socket is closed.
// Regression test: the continuation attached the socket and opened a
// connection that had been closed, and the socket leaked.
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { RecordKind, RecordWord } from "../ffi/records.ts";
import type { Native } from "../ffi/symbols.ts";
import { unsafeLoop } from "../src/unsafe.ts";
import { until, within } from "./helpers.ts";

Deno.test("close() between the connect's win and its continuation closes the connection and its socket", async () => {
  const loop = new EventLoop({ spinMicroseconds: 0 });
  const core = unsafeLoop(loop);
  const n = core.native as { -readonly [K in keyof Native]: Native[K] };
  const realDispatch = n.aio_loop_dispatch;
  const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
  listener.onConnection = (_l, c) => c.dispose();
  const conn = TcpConnection.create(undefined, loop);
  const records = new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(n.aio_loop_records(core.ptr)!, 32 * 1024));
  let closedEarly = false;
  // Watches each dispatch: when it holds a CONNECTED record, close() runs
  // on a microtask queued before that record is delivered, so it comes
  // after the attempt has won and before the connect's continuation.
  n.aio_loop_dispatch = ((ptr: Deno.PointerValue) => {
    const count = realDispatch(ptr);
    for (let i = 0; i < count; i++) {
      if (records[i * RecordWord.count + RecordWord.kind] === RecordKind.CONNECTED && !closedEarly) {
        closedEarly = true;
        queueMicrotask(() => conn.close());
      }
    }
    return count;
  }) as typeof realDispatch;
  try {
    await assert.rejects(conn.connect("127.0.0.1", listener.localPort), (e: unknown) => {
      return e instanceof DOMException && e.name === "AbortError";
    });
    assert.ok(closedEarly, "close() came in between");
    assert.equal(conn.state, "closed");
    assert.equal(conn.isOpen, false);
    listener.close();
    await until(() => loop.stats().handles === 0, 10_000, "every handle closed");
  } finally {
    n.aio_loop_dispatch = realDispatch;
    await within(loop.close(), 10_000, "loop closed");
  }
});

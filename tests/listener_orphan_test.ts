// An accepted handle whose listener closed earlier in the same batch of
// records (its onConnection closed it) is closed by the loop as what that
// listener accepts: a pipe HANDLE on Windows is not a socket. Regression
// test for issue 11: the loop closed every orphaned accepted handle as a
// socket, so on Windows the pipe handle leaked.
//
// A Windows pipe listener creates its next instance only while it accepts,
// so two connections rarely come out of one dispatch there; the batch is
// made here by standing in for aio_loop_dispatch (the symbol table is a
// plain object), with real pipe handles, and the loop's own delivery.
import assert from "node:assert/strict";
import { createPipe, EventLoop, type Pipe, PipeListener } from "../mod.ts";
import { OsHandleKind, RECORD, RecordKind, RecordWord } from "../ffi/records.ts";
import type { Native } from "../ffi/symbols.ts";
import { u64 } from "../src/os_handle.ts";
import { unsafeId, unsafeLoop } from "../src/unsafe.ts";
import { isWindows, pipePath, until, within } from "./helpers.ts";

Deno.test("an accepted pipe nobody takes after its listener closed is closed as a pipe", async () => {
  const loop = new EventLoop({ spinMicroseconds: 0 });
  const core = unsafeLoop(loop);
  const n = core.native as { -readonly [K in keyof Native]: Native[K] };
  const real = { pending: n.aio_loop_pending, dispatch: n.aio_loop_dispatch, close: n.aio_os_close };
  const closes: [bigint, number][] = [];
  const taken = createPipe(), orphan = createPipe();
  let conn: Pipe | null = null;
  try {
    const listener = await PipeListener.listen(pipePath(14), { loop });
    const id = unsafeId(listener);
    const closed = new Promise<void>((resolve) => {
      listener.onConnection = (l, pipe) => {
        conn = pipe;
        l.close();
        resolve();
      };
    });
    n.aio_os_close = ((handle: bigint, kind: number) => {
      closes.push([BigInt(handle), kind]);
      return real.close(handle, kind);
    }) as typeof real.close;
    // One dispatch that reports two accepted handles for the listener.
    const words = new Uint32Array(
      Deno.UnsafePointerView.getArrayBuffer(n.aio_loop_records(core.ptr)!, 2 * RECORD.size),
    );
    n.aio_loop_pending = (() => 1) as typeof real.pending;
    n.aio_loop_dispatch = ((_ptr: Deno.PointerValue) => {
      n.aio_loop_pending = real.pending;
      n.aio_loop_dispatch = real.dispatch;
      for (const [i, h] of [taken.readEnd, orphan.readEnd].entries()) {
        const base = i * RecordWord.count;
        words.fill(0, base, base + RecordWord.count);
        words[base + RecordWord.id] = id;
        words[base + RecordWord.kind] = RecordKind.ACCEPTED;
        words[base + RecordWord.handleLo] = Number(u64(h) & 0xffffffffn);
        words[base + RecordWord.handleHi] = Number(u64(h) >> 32n);
      }
      return 2;
    }) as typeof real.dispatch;
    core.kick(); // wakes the parked wait: work is "pending"
    await within(closed, 10_000, "the first accepted handle delivered");
    await until(() => closes.length > 0, 10_000, "the orphaned handle closed");
    const expected = isWindows ? OsHandleKind.PIPE : OsHandleKind.SOCKET;
    assert.deepEqual(closes, [[u64(orphan.readEnd), expected]]);
  } finally {
    n.aio_loop_pending = real.pending;
    n.aio_loop_dispatch = real.dispatch;
    n.aio_os_close = real.close;
    (conn as Pipe | null)?.dispose(); // owns taken.readEnd
    real.close(u64(taken.writeEnd), OsHandleKind.PIPE);
    real.close(u64(orphan.writeEnd), OsHandleKind.PIPE);
    await loop.close();
  }
});

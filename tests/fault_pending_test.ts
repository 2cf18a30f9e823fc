/**
 * The fault matrix's pending-operation cells (issue 13): close(), abort()
 * and dispose() while a connect, an accept or a read is waiting, one test
 * per cell, generated from one table per operation. Each asserts: no hang
 * (every wait bounded), onClose exactly once with the documented reason
 * (never for dispose, which is silent), no callback after it, the waiting
 * promise settles with the documented outcome, bytes counted on both sides
 * where bytes moved, and the loop's handles back to zero.
 */
import assert from "node:assert/strict";
import { type CloseReason, EventLoop, Pipe, PipeListener, TcpConnection, TcpListener } from "../mod.ts";
import { isWindows, pipePath, sleep, until, within } from "./helpers.ts";

// Wine runs on Linux sockets: a full backlog drops the SYN as Linux does.
// (Wine's ntdll exports wine_get_version; Windows' does not.)
const isWine = isWindows && (() => {
  try {
    Deno.dlopen("ntdll.dll", { wine_get_version: { parameters: [], result: "pointer" } }).close();
    return true;
  } catch {
    return false;
  }
})();

type Action = "close" | "abort" | "dispose";
const ACTIONS: Action[] = ["close", "abort", "dispose"];

function act(s: TcpConnection | Pipe, action: Action): void {
  if (action === "close") void s.close();
  else if (action === "abort") s.abort();
  else s.dispose();
}

/** The reason onClose gives after the action, or null when it must stay silent. */
function reasonOf(action: Action): CloseReason | null {
  return action === "close" ? "local" : action === "abort" ? "aborted" : null;
}

/** Callbacks of a stream, counted, with everything after onClose as "late". */
function watch(s: TcpConnection | Pipe) {
  const w = { closes: [] as CloseReason[], late: [] as string[], connects: 0, data: 0, errors: 0 };
  const seen = (name: string) => {
    if (w.closes.length) w.late.push(name);
  };
  const t = s as TcpConnection;
  t.onConnect = () => {
    seen("onConnect");
    w.connects++;
  };
  s.onClose = (_s: unknown, reason: CloseReason) => {
    seen("onClose");
    w.closes.push(reason);
  };
  s.onError = () => {
    seen("onError");
    w.errors++;
  };
  s.onEnd = () => seen("onEnd");
  s.onWritable = () => seen("onWritable");
  return w;
}

/**
 * A listener whose backlog is full: it never accepts (its accept queue and
 * the kernel's both hold one connection), so a further connect stays
 * pending. Linux drops the SYN of a connect beyond a full backlog (the
 * client retransmits), and so does Wine, which runs on Linux sockets;
 * Windows itself refuses such a connect with a reset, so there the cell is
 * reached only under Wine. One simultaneous accept: a paused Windows
 * listener keeps that many AcceptEx in flight (they take connections out
 * of the backlog). Fillers are connects that completed; the first
 * that is still connecting after a pause is the pending one.
 */
async function pendingConnect(loop: EventLoop) {
  const listener = await TcpListener.listen("127.0.0.1", 0, {
    loop,
    config: { backlog: 1, simultaneousAccepts: 1 },
  });
  const fillers: TcpConnection[] = [];
  for (let i = 0; i < 64; i++) {
    const conn = TcpConnection.create(undefined, loop);
    const w = watch(conn);
    const connecting = conn.connect("127.0.0.1", listener.localPort).then(() => "connected", (e: unknown) => e);
    const first = await Promise.race([connecting, sleep(500).then(() => "pending")]);
    if (first === "pending" && conn.state === "connecting") return { listener, conn, w, connecting, fillers };
    // Windows refuses beyond the backlog: the cell cannot be reached there.
    if (first instanceof Deno.errors.ConnectionRefused && isWindows && !isWine) {
      for (const f of fillers) f.abort();
      listener.close();
      return null;
    }
    if (first !== "connected") throw new Error(`filler ${i}: ${first}`);
    fillers.push(conn);
  }
  throw new Error("the backlog never filled: every connect completed");
}

for (const action of ACTIONS) {
  Deno.test(`fault: ${action}() during a pending connect (the listener's backlog full)`, async () => {
    const loop = new EventLoop();
    try {
      const pending = await pendingConnect(loop);
      if (!pending) return;
      const { listener, conn, w, connecting, fillers } = pending;
      assert.equal(conn.state, "connecting");
      act(conn, action);
      const outcome = await within(connecting, 10_000, "the pending connect settles");
      assert.ok(outcome instanceof DOMException && outcome.name === "AbortError", `connect rejects: ${outcome}`);
      await sleep(100); // anything late would show now
      const want = reasonOf(action);
      assert.deepEqual(w.closes, want ? [want] : [], "onClose once with the reason (none for dispose)");
      assert.deepEqual(w.late, [], "no callback after onClose");
      assert.equal(w.connects, 0, "never connected");
      assert.equal(w.errors, 0, "a cancelled connect is not an error");
      assert.equal(conn.state, "closed");
      assert.equal(conn.bytesWritten, 0);
      for (const f of fillers) f.abort();
      listener.close();
      await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
    } finally {
      await within(loop.close(), 10_000, "loop.close()");
    }
  });
}

// A listener has no abort(): its cells are close(), dispose() and the
// accept's own signal.
for (const action of ["close", "dispose", "signal"] as const) {
  for (const kind of ["TcpListener", "PipeListener"] as const) {
    Deno.test(`fault: ${action === "signal" ? "the signal aborts" : `${action}()`} during a pending ${kind} accept`, async () => {
      const loop = new EventLoop();
      try {
        const listener = kind === "TcpListener"
          ? await TcpListener.listen("127.0.0.1", 0, { loop })
          : await PipeListener.listen(pipePath(14), { loop });
        const ac = new AbortController();
        const pending = listener.accept({ signal: ac.signal }).then(() => null, (e: unknown) => e);
        const second = action === "signal" ? null : listener.accept().then(() => null, (e: unknown) => e);
        await sleep(20); // the accept is waiting in the loop, not just queued
        if (action === "signal") ac.abort(new Error("gave up"));
        else if (action === "close") listener.close();
        else listener.dispose();
        const e = await within(pending, 10_000, "the pending accept settles");
        if (action === "signal") {
          assert.equal((e as Error)?.message, "gave up", "rejects with the signal's reason");
          assert.equal(listener.isOpen, true, "the listener goes on");
          // Still accepting after the abandoned accept.
          const next = listener.accept();
          const c = listener instanceof TcpListener
            ? await TcpConnection.connect("127.0.0.1", listener.localPort, { loop })
            : await Pipe.connect(listener.path, { loop, timeoutMs: 10_000 });
          (await within<TcpConnection | Pipe>(next, 10_000, "accept after the abort")).abort();
          c.abort();
          listener.close();
        } else {
          for (const r of [e, await within(second!, 10_000, "the second accept settles")]) {
            assert.ok(r instanceof Deno.errors.BadResource, `rejects with BadResource: ${r}`);
            assert.match((r as Error).message, /the listener is closed/);
          }
          assert.equal(listener.isOpen, false);
          // A later accept fails at once: rejects after close, throws on a
          // disposed object (like every method of one).
          if (action === "close") await assert.rejects(listener.accept(), Deno.errors.BadResource);
          else assert.throws(() => listener.accept(), /disposed/);
        }
        await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
      } finally {
        await within(loop.close(), 10_000, "loop.close()");
      }
    });
  }
}

for (const action of ACTIONS) {
  for (const reader of ["readable", "onData"] as const) {
    for (const kind of ["TcpConnection", "Pipe"] as const) {
      Deno.test(`fault: ${action}() during a pending read (${kind}, ${reader})`, async () => {
        const loop = new EventLoop();
        try {
          let c: TcpConnection | Pipe, s: TcpConnection | Pipe, done: () => void;
          if (kind === "TcpConnection") {
            const l = await TcpListener.listen("127.0.0.1", 0, { loop });
            const accepted = l.accept();
            c = await TcpConnection.connect("127.0.0.1", l.localPort, { loop });
            s = await within(accepted, 10_000, "accept");
            done = () => l.close();
          } else {
            const l = await PipeListener.listen(pipePath(13), { loop });
            const accepted = l.accept();
            c = await Pipe.connect(l.path, { loop, timeoutMs: 10_000 });
            s = await within(accepted, 10_000, "accept");
            done = () => l.close();
          }
          const w = watch(c);
          let got = 0;
          let serverClosed: CloseReason | null = null;
          s.onClose = (_s: unknown, r: CloseReason) => (serverClosed = r);
          s.onError = () => {};
          s.onData = () => {};
          // Some bytes first, so the pending read comes after bytes moved.
          const sent = new Uint8Array(4096).fill(9);
          s.send(sent);
          let pending: Promise<unknown>;
          if (reader === "readable") {
            const r = c.readable.getReader();
            while (got < sent.length) {
              const { value, done } = await within(r.read(), 10_000, "the first bytes");
              if (done) throw new Error("ended early");
              got += value.length;
            }
            pending = r.read();
          } else {
            const arrived = new Promise<void>((resolve) => {
              c.onData = (_c: unknown, d: Uint8Array) => {
                if (w.closes.length) w.late.push("onData");
                got += d.length;
                if (got >= sent.length) resolve();
              };
            });
            await within(arrived, 10_000, "the first bytes");
            pending = Promise.resolve(null);
          }
          await sleep(20); // the read is waiting in the loop
          act(c, action);
          const outcome = await within(pending, 10_000, "the pending read settles");
          if (reader === "readable") {
            assert.deepEqual(outcome, { value: undefined, done: true }, "the pending read ends");
          }
          await sleep(100); // anything late would show now
          const want = reasonOf(action);
          assert.deepEqual(w.closes, want ? [want] : [], "onClose once with the reason (none for dispose)");
          assert.deepEqual(w.late, [], "no callback after onClose");
          assert.equal(w.errors, 0);
          assert.equal(c.state, "closed");
          assert.equal(got, sent.length, "every byte sent arrived");
          assert.equal(c.bytesRead, got, "bytes delivered are bytes counted");
          assert.equal(s.bytesWritten, sent.length, "the peer counted what it sent");
          // The peer sees our end: a FIN after close, a reset after abort,
          // the handle closed after dispose.
          await until(() => serverClosed !== null, 10_000, "the peer closes");
          assert.ok(["peer", "reset"].includes(serverClosed!), `the peer's reason: ${serverClosed}`);
          done();
          await until(() => loop.stats().handles === 0, 10_000, "handles back to zero");
        } finally {
          await within(loop.close(), 10_000, "loop.close()");
        }
      });
    }
  }
}

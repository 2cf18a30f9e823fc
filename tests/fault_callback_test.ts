/**
 * The fault matrix's callback cells (issue 13): close(), abort() and
 * dispose() called from inside each callback of a connection, one test per
 * cell, generated from one table. Each asserts: no hang (every wait
 * bounded), onClose exactly once with the documented reason (never for
 * dispose, which is silent), no callback after the one that closed it
 * (beyond the onClose it causes), the bytes delivered are the bytes
 * counted, and the loop's handles back to zero.
 */
import assert from "node:assert/strict";
import { type CloseReason, EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { sleep, within } from "./helpers.ts";

type Action = "close" | "abort" | "dispose";
type Callback = "onConnect" | "onData" | "onWritable" | "onEnd" | "onClose" | "onError";

const ACTIONS: Action[] = ["close", "abort", "dispose"];
const CALLBACKS: Callback[] = ["onConnect", "onData", "onWritable", "onEnd", "onClose", "onError"];

/** The reason onClose must give, or null when it must not fire. */
function expectedReason(cb: Callback, action: Action): CloseReason | null {
  // The callback closed it already; the action inside is a no-op.
  if (cb === "onClose") return "local";
  // A throwing onData closed it with "error" before onError ran.
  if (cb === "onError") return "error";
  if (action === "dispose") return null;
  if (action === "abort") return "aborted";
  // A graceful close after the peer's FIN: both directions done, the peer first.
  return cb === "onEnd" ? "peer" : "local";
}

for (const cb of CALLBACKS) {
  for (const action of ACTIONS) {
    Deno.test(`fault: ${action}() inside ${cb}`, async () => {
      const loop = new EventLoop();
      const log: string[] = [];
      let acted = false, after = 0, delivered = 0;
      const reasons: CloseReason[] = [];
      try {
        const l = await TcpListener.listen("127.0.0.1", 0, { loop });
        const accepted = l.accept();
        const c = TcpConnection.create({ highWaterMark: 64 * 1024, lowWaterMark: 1024 }, loop);
        const act = (where: string) => {
          if (acted) return;
          acted = true;
          log.push(`act in ${where}`);
          if (action === "close") void c.close();
          else if (action === "abort") c.abort();
          else c.dispose();
        };
        // Every callback counts calls after the action (the onClose it
        // causes excepted).
        const seen = (name: string) => {
          log.push(name);
          if (acted && name !== "onClose") after++;
        };
        c.onConnect = () => {
          seen("onConnect");
          if (cb === "onConnect") act("onConnect");
        };
        c.onData = (_c, d) => {
          seen("onData");
          delivered += d.length;
          if (cb === "onData") act("onData");
          if (cb === "onError" && !acted) throw new Error("thrown on purpose");
        };
        c.onWritable = () => {
          seen("onWritable");
          if (cb === "onWritable") act("onWritable");
        };
        c.onEnd = () => {
          seen("onEnd");
          if (cb === "onEnd") act("onEnd");
        };
        c.onError = () => {
          seen("onError");
          if (cb === "onError") act("onError");
        };
        const closed = new Promise<void>((resolve) => {
          c.onClose = (_c, reason) => {
            log.push(`onClose ${reason}`);
            reasons.push(reason);
            if (cb === "onClose") act("onClose");
            resolve();
          };
        });

        await within(c.connect("127.0.0.1", l.localPort), 10_000, "connect");
        const s = await within(accepted, 10_000, "accept");
        let serverGot = 0;
        s.onData = (_s, d) => {
          serverGot += d.length;
        };
        s.onClose = () => {};
        s.onError = () => {};

        // Drive the connection to the callback of this cell.
        if (cb === "onData" || cb === "onError") s.send(new Uint8Array(1000).fill(7));
        if (cb === "onWritable") {
          s.pauseReading();
          for (let i = 0; i < 1000 && c.state === "open" && c.send(new Uint8Array(64 * 1024)) !== "pressure"; i++);
          s.resumeReading();
        }
        if (cb === "onEnd") await s.closeWrite();
        if (cb === "onClose") void c.close();

        const deadline = Date.now() + 10_000;
        while (!acted && Date.now() < deadline) await sleep(5);
        assert.ok(acted, `the action ran (${log.join(", ")})`);
        const want = expectedReason(cb, action);
        if (want === null) {
          await sleep(100);
          assert.deepEqual(reasons, [], "dispose is silent");
        } else {
          await within(closed, 10_000, "onClose");
          assert.deepEqual(reasons, [want], `onClose once, "${want}" (${log.join(", ")})`);
        }
        // No late callback: give the loop time to deliver anything left.
        await sleep(100);
        assert.equal(after, 0, `no callback after the action (${log.join(", ")})`);
        assert.equal(c.state, "closed");
        assert.equal(c.bytesRead, delivered, "bytes delivered are bytes counted");
        assert.ok(s.bytesWritten >= delivered, "the server wrote what arrived");
        assert.ok(serverGot <= c.bytesWritten, "the server got no more than was sent");
        s.abort();
        l.close();
        const end = Date.now() + 10_000;
        while (loop.stats().handles !== 0 && Date.now() < end) await sleep(5);
        assert.equal(loop.stats().handles, 0, "handles back to zero");
      } finally {
        await within(loop.close(), 10_000, "loop.close()");
      }
    });
  }
}

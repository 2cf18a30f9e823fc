/** A callback that throws: reported, and only its own object closes. */
import assert from "node:assert/strict";
import { EventLoop, TcpConnection, TcpListener } from "../mod.ts";
import { within } from "./helpers.ts";

Deno.test("a callback that throws with no onError is reported as an error event on the loop", async () => {
  const loop = new EventLoop();
  try {
    const errors: unknown[] = [];
    const onError = (e: Event) => {
      errors.push((e as ErrorEvent).error);
      e.preventDefault();
    };
    loop.addEventListener("error", onError);
    const l = await TcpListener.listen("127.0.0.1", 0, { loop });
    const accepted = l.accept();
    const c = await TcpConnection.connect("127.0.0.1", l.localPort, { loop });
    const s = await accepted;
    const closed = new Promise<string>((r) => (s.onClose = (_s, reason) => r(reason)));
    s.onData = () => {
      throw new Error("unhandled in callback");
    };
    c.send(new Uint8Array([1]));
    assert.equal(await within(closed, 10_000, "closed"), "error");
    assert.equal((errors[0] as Error).message, "unhandled in callback");
    loop.removeEventListener("error", onError);
    c.abort();
    l.close();
  } finally {
    await loop.close();
  }
});

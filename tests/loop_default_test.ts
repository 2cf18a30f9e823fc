/** EventLoop.default after the default loop was closed. */
import assert from "node:assert/strict";
import { EventLoop, TcpListener } from "../mod.ts";

Deno.test("after the default loop is closed, EventLoop.default is a new, working loop", async () => {
  const old = EventLoop.default;
  await old.close();
  assert.notEqual(EventLoop.default, old);
  const l = await TcpListener.listen("127.0.0.1", 0);
  assert.equal(l.isOpen, true);
  assert.throws(() => TcpListener.create(undefined, old), TypeError, "a closed loop is refused");
  l.close();
});

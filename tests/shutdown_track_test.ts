/** ShutdownCoordinator.track and size. */
import assert from "node:assert/strict";
import { ShutdownCoordinator, TcpListener } from "../mod.ts";

Deno.test("track() refuses a closed resource, and size counts only open ones", async () => {
  const coord = new ShutdownCoordinator();
  const l = await TcpListener.listen("127.0.0.1", 0);
  assert.equal(coord.track(l), true);
  assert.equal(coord.size, 1);
  l.close();
  assert.equal(coord.size, 0, "a closed listener leaves by itself");
  assert.equal(coord.track(l), false);
  assert.deepEqual(await coord.shutdown(), { drained: 0, aborted: 0 });
});

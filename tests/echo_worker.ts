/**
 * A Deno built-in TCP echo server on its own thread (a Worker), so a test
 * has a peer that answers while the main thread busy-polls. Posts its port,
 * then serves until terminated.
 */
/// <reference lib="deno.worker" />
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
self.postMessage((listener.addr as Deno.NetAddr).port);
for await (const conn of listener) {
  conn.setNoDelay(true);
  (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        await conn.write(buf.subarray(0, n));
      }
    } catch {
      // the test closed its end
    } finally {
      conn.close();
    }
  })();
}

/**
 * An echo server on @eve/aio with a graceful ctrl-C: the listener stops,
 * open connections flush and close, stragglers are aborted after 5 s.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/echo_server.ts [port]
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/echo_client.ts [port]
 */
import { EventLoop, ShutdownCoordinator, TcpListener } from "../mod.ts";

const port = Number(Deno.args[0] ?? 7007);
const coordinator = new ShutdownCoordinator();
const listener = await TcpListener.listen("127.0.0.1", port);
listener.track(coordinator);
const where = `${listener.localAddress?.hostname}:${listener.localPort}`;
console.log(`echo server on ${where} (${EventLoop.default.backend}); ctrl-C to stop`);

listener.onConnection = (_l, conn) => {
  conn.track(coordinator);
  const peer = `${conn.remoteAddress?.hostname}:${conn.remoteAddress?.port}`;
  console.log(`+ ${peer}`);
  conn.onData = (c, data) => {
    // Backpressure: stop reading while the peer does not take our echo.
    if (c.send(data) === "pressure") c.pauseReading();
  };
  conn.onWritable = (c) => c.resumeReading();
  conn.onClose = (c, reason) => console.log(`- ${peer} ${reason} (${c.bytesRead} bytes echoed)`);
};

Deno.addSignalListener("SIGINT", async () => {
  console.log("\nshutting down...");
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(5000) });
  console.log(`closed: ${drained} drained, ${aborted} aborted`);
  Deno.exit(0);
});

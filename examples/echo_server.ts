/**
 * An echo server on @eve/aio. Shows connections coming and going with the
 * bytes each one echoed, and stops gracefully on ctrl-C or SIGTERM
 * (ctrl-Break on Windows): the listener stops, open connections flush and
 * close, stragglers are aborted after 5 s. Also the `deno task compile`
 * example: a standalone binary with the library embedded.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/echo_server.ts [port]
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/echo_client.ts [port]
 */
import { EventLoop, ShutdownCoordinator, TcpListener } from "../mod.ts";
import { onStopSignal } from "./stop_signals.ts";

const port = Number(Deno.args[0] ?? 7007);
const coordinator = new ShutdownCoordinator();
const listener = await TcpListener.listen("127.0.0.1", port);
listener.track(coordinator);
const where = `${listener.localAddress?.hostname}:${listener.localPort}`;
console.log(`echo server on ${where} (${EventLoop.default.backend}); ctrl-C to stop`);

let connections = 0, open = 0, echoed = 0;
listener.onConnection = (_l, conn) => {
  conn.track(coordinator);
  connections++;
  open++;
  const peer = `${conn.remoteAddress?.hostname}:${conn.remoteAddress?.port}`;
  console.log(`+ ${peer} (${open} open)`);
  conn.onData = (c, data) => {
    // Backpressure: stop reading while the peer does not take our echo.
    if (c.send(data) === "pressure") c.pauseReading();
  };
  conn.onWritable = (c) => c.resumeReading();
  conn.onEnd = (c) => c.close(); // the client is done: finish our side too
  conn.onClose = (c, reason) => {
    open--;
    echoed += c.bytesRead;
    console.log(`- ${peer} ${reason}, ${c.bytesRead} bytes echoed (${open} open)`);
  };
};

onStopSignal(async (signal) => {
  console.log(`\n${signal}: shutting down, ${open} connection(s) open`);
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(5000) });
  console.log(
    `closed: ${drained} drained, ${aborted} aborted; ${connections} connections, ${echoed} bytes echoed in all`,
  );
  Deno.exit(0);
});

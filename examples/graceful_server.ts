/**
 * Graceful shutdown of a request/response server through ShutdownCoordinator.
 * Each request is a line `work <ms>`: acknowledged with `started <ms>`, and
 * answered `done <ms>` after that long (a stand-in for real work). On ctrl-C or SIGTERM (ctrl-Break on Windows):
 *
 *  1. the listener stops at once: new clients are refused;
 *  2. requests in flight get up to `grace` ms (default 2000) to finish and
 *     their answers are sent;
 *  3. the coordinator then closes every connection gracefully (queued bytes
 *     flushed, then FIN); a request still running at the deadline has its
 *     connection aborted instead of answered late.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/graceful_server.ts [port] [grace ms]
 */
import { ShutdownCoordinator, type TcpConnection, TcpListener } from "../mod.ts";
import { LineSplitter } from "./lines.ts";
import { onStopSignal } from "./stop_signals.ts";

const port = Number(Deno.args[0] ?? 7009);
const graceMs = Number(Deno.args[1] ?? 2000);
const coordinator = new ShutdownCoordinator();
const listener = await TcpListener.listen("127.0.0.1", port);
listener.track(coordinator);
console.log(`graceful server on 127.0.0.1:${listener.localPort}; ctrl-C to stop`);

// Requests still running, per connection.
const inFlight = new Map<TcpConnection, number>();
let idle: (() => void) | null = null;
const busy = () => [...inFlight.values()].reduce((a, b) => a + b, 0);

listener.onConnection = (_l, conn) => {
  conn.track(coordinator);
  const lines = new LineSplitter();
  conn.onData = (c, data) => {
    for (const line of lines.push(data)) {
      const ms = Number(/^work (\d{1,6})$/.exec(line)?.[1] ?? NaN);
      if (Number.isNaN(ms)) {
        c.send(new TextEncoder().encode(`error: expected "work <ms>"\n`));
        continue;
      }
      inFlight.set(c, (inFlight.get(c) ?? 0) + 1);
      c.send(new TextEncoder().encode(`started ${ms}\n`));
      setTimeout(() => {
        const left = inFlight.get(c)! - 1;
        if (left) inFlight.set(c, left);
        else inFlight.delete(c);
        if (c.isOpen) c.send(new TextEncoder().encode(`done ${ms}\n`));
        if (busy() === 0) idle?.();
      }, ms);
    }
  };
  conn.onClose = (c) => inFlight.delete(c);
};

onStopSignal(async (signal) => {
  // Closed before it says so: whoever reads the line may count on new
  // clients being refused.
  listener.close();
  console.log(`${signal}: listener stopped; ${busy()} request(s) in flight, ${graceMs} ms to finish`);
  if (busy() > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      idle = () => (clearTimeout(timer), resolve());
    });
  }
  const late = [...inFlight.keys()];
  for (const conn of late) conn.abort();
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(graceMs) });
  console.log(
    `closed: ${drained} drained, ${aborted + late.length} aborted (${late.length} with a request unfinished)`,
  );
  Deno.exit(0);
});

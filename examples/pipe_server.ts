/**
 * A request/response server on a named endpoint: `\\.\pipe\aio-demo` on
 * Windows (a named pipe only the current user can open), a Unix socket on
 * Linux. Each request is one line; the reply is the line upper-cased.
 * examples/pipe_client.ts is the other process. Stops on ctrl-C (ctrl-Break
 * on Windows, SIGTERM on Unix); with `--until-stdin-closes`, also when its
 * standard input ends: a parent that starts it as a helper process stops it
 * by closing that pipe (the portable way: Windows has no SIGTERM).
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env \
 *     [--allow-net=unix:\\.\pipe\aio-demo  (Windows)] examples/pipe_server.ts [path] [--until-stdin-closes]
 */
import { PipeListener, ShutdownCoordinator } from "../mod.ts";
import { defaultPath, LineSplitter } from "./pipe_lines.ts";
import { onStopSignal } from "./stop_signals.ts";

const args = Deno.args.filter((a) => a !== "--until-stdin-closes");
const path = args[0] ?? defaultPath();
const coordinator = new ShutdownCoordinator();
const listener = await PipeListener.listen(path);
listener.track(coordinator);
console.log(`pipe server on ${listener.path}; ctrl-C to stop`);

let served = 0;
listener.onConnection = (_l, pipe) => {
  pipe.track(coordinator);
  const lines = new LineSplitter();
  pipe.onData = (p, data) => {
    for (const line of lines.push(data)) {
      served++;
      p.send(new TextEncoder().encode(`${line.toUpperCase()}\n`));
    }
  };
  pipe.onEnd = (p) => p.close();
};

async function stop(why: string): Promise<never> {
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(2000) });
  console.log(`stopped (${why}): ${served} requests served; ${drained} drained, ${aborted} aborted`);
  Deno.exit(0);
}
onStopSignal((signal) => stop(signal));
if (Deno.args.includes("--until-stdin-closes")) {
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* input is ignored */ }
    await stop("stdin closed");
  })();
}

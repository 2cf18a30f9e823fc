/**
 * A request/response server on a named endpoint: `\\.\pipe\aio-demo` on
 * Windows (a named pipe only the current user can open), a Unix socket on
 * Linux. Each request is one line; the reply is the line upper-cased.
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env \
 *     [--allow-net=unix:\\.\pipe\aio-demo  (Windows)] examples/pipe_server.ts [path]
 */
import { PipeListener } from "../mod.ts";
import { defaultPath, LineSplitter } from "./pipe_lines.ts";

const path = Deno.args[0] ?? defaultPath();
const listener = await PipeListener.listen(path);
console.log(`pipe server on ${listener.path}; ctrl-C to stop`);

listener.onConnection = (_l, pipe) => {
  const lines = new LineSplitter();
  pipe.onData = (p, data) => {
    for (const line of lines.push(data)) p.send(new TextEncoder().encode(`${line.toUpperCase()}\n`));
  };
  pipe.onEnd = (p) => p.close();
};

Deno.addSignalListener("SIGINT", () => {
  listener.close();
  console.log("\nstopped");
  Deno.exit(0);
});

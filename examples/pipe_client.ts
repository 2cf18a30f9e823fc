/**
 * The client of examples/pipe_server.ts: sends each argument as a request
 * and prints the replies.
 *
 *   deno run --allow-ffi --allow-read --allow-write --allow-env examples/pipe_client.ts [path] hello world
 */
import { Pipe } from "../mod.ts";
import { defaultPath, LineSplitter } from "./pipe_lines.ts";

const path = Deno.args[0]?.includes("pipe") || Deno.args[0]?.startsWith("/") ? Deno.args[0] : defaultPath();
const requests = Deno.args.filter((a) => a !== path);
if (requests.length === 0) requests.push("hello", "named pipes");

const pipe = await Pipe.connect(path, { timeoutMs: 5000 });
const lines = new LineSplitter();
let pending = requests.length;
const done = new Promise<void>((resolve) => {
  pipe.onData = (_p, data) => {
    for (const reply of lines.push(data)) {
      console.log(`< ${reply}`);
      if (--pending === 0) resolve();
    }
  };
});
for (const r of requests) {
  console.log(`> ${r}`);
  pipe.send(new TextEncoder().encode(`${r}\n`));
}
await done;
await pipe.close();

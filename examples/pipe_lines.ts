/** The default endpoint of the pipe examples, and their line framing. */
export { LineSplitter } from "./lines.ts";

/** The demo endpoint for this OS. */
export function defaultPath(): string {
  return Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-demo" : "/tmp/aio-demo.sock";
}

/**
 * A TLS echo server: every line a client sends comes back, encrypted. The
 * certificate chain and key are PEM files (reading them needs
 * --allow-read for those files, nothing more). Stops on ctrl-C (SIGTERM on
 * Unix, ctrl-Break on Windows) or, with `--until-stdin-closes`, when its
 * standard input ends. examples/tls_echo_client.ts is the other side.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 \
 *     examples/tls_echo_server.ts cert.pem key.pem [port] [--until-stdin-closes]
 */
import { listenTls, ShutdownCoordinator } from "../mod.ts";
import { onStopSignal } from "./stop_signals.ts";

const args = Deno.args.filter((a) => a !== "--until-stdin-closes");
if (args.length < 2) {
  console.error("usage: tls_echo_server.ts cert.pem key.pem [port] [--until-stdin-closes]");
  Deno.exit(2);
}
const [cert, key] = [Deno.readTextFileSync(args[0]), Deno.readTextFileSync(args[1])];
const coordinator = new ShutdownCoordinator();
const listener = await listenTls("127.0.0.1", Number(args[2] ?? 7443), { cert, key, timeoutMs: 10_000 });
listener.track(coordinator);
console.log(`tls echo server on 127.0.0.1:${listener.localPort}`);

let connections = 0, echoed = 0;
listener.onError = (_l, error) => console.log(`! handshake failed: ${error.message}`);
listener.onConnection = (_l, conn) => {
  connections++;
  conn.track(coordinator);
  console.log(`+ ${conn.remoteAddress?.hostname}:${conn.remoteAddress?.port} ${conn.tlsVersion}`);
  conn.onData = (c, data) => {
    echoed += data.length;
    // A slow reader: stop reading until it has caught up.
    if (c.send(data) === "pressure") c.pauseReading();
  };
  conn.onWritable = (c) => c.resumeReading();
  conn.onClose = (_c, reason) => console.log(`- ${reason}`);
};

async function stop(why: string): Promise<never> {
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(2000) });
  console.log(
    `stopped (${why}): ${connections} connections, ${echoed} bytes echoed; ${drained} drained, ${aborted} aborted`,
  );
  Deno.exit(0);
}
onStopSignal((signal) => stop(signal));
if (Deno.args.includes("--until-stdin-closes")) {
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* input is ignored */ }
    await stop("stdin closed");
  })();
}

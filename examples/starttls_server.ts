/**
 * A line protocol with STARTTLS, SMTP-style: the server greets in clear,
 * answers "STARTTLS" with "220 go ahead" and switches the connection to
 * TLS (acceptTls); from then on it echoes lines as "secure: <line>".
 * Anything but STARTTLS before the switch gets "530 STARTTLS first".
 *
 * The CVE-2021-23222 lesson, at both levels: bytes that came in clear must
 * never be read as protected. The library refuses to switch while it holds
 * received bytes; this server also refuses when its own line buffer holds
 * any (bytes sent right behind "STARTTLS", before the handshake), with
 * "501 bytes after STARTTLS", and closes.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 \
 *     examples/starttls_server.ts cert.pem key.pem [port] [--until-stdin-closes]
 */
import { acceptTls, ShutdownCoordinator, TcpListener } from "../mod.ts";
import { LineSplitter } from "./lines.ts";
import { onStopSignal } from "./stop_signals.ts";

const args = Deno.args.filter((a) => a !== "--until-stdin-closes");
if (args.length < 2) {
  console.error("usage: starttls_server.ts cert.pem key.pem [port] [--until-stdin-closes]");
  Deno.exit(2);
}
const [cert, key] = [Deno.readTextFileSync(args[0]), Deno.readTextFileSync(args[1])];
const enc = new TextEncoder();
const coordinator = new ShutdownCoordinator();
const listener = await TcpListener.listen("127.0.0.1", Number(args[2] ?? 7025));
listener.track(coordinator);
console.log(`starttls server on 127.0.0.1:${listener.localPort}`);

let upgraded = 0, refused = 0;
listener.onConnection = (_l, conn) => {
  conn.track(coordinator);
  const lines = new LineSplitter();
  conn.send(enc.encode("220 aio STARTTLS demo\r\n"));
  conn.onData = (c, data) => {
    const got = lines.push(data);
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== "STARTTLS") {
        c.send(enc.encode("530 STARTTLS first\r\n"));
        continue;
      }
      if (i < got.length - 1 || lines.pending) {
        refused++;
        console.log("refused: bytes after STARTTLS");
        c.send(enc.encode("501 bytes after STARTTLS\r\n"));
        c.close();
        return;
      }
      c.onData = null;
      c.send(enc.encode("220 go ahead\r\n"));
      upgrade(c);
      return;
    }
  };
};

async function upgrade(conn: Parameters<typeof acceptTls>[0]): Promise<void> {
  // The switch waits for "220 go ahead" to leave: queued clear bytes refuse it.
  for (let i = 0; i < 1000 && conn.sendQueueLen > 0; i++) await new Promise((r) => setTimeout(r, 1));
  try {
    const secure = await acceptTls(conn, { cert, key, timeoutMs: 10_000 });
    upgraded++;
    secure.track(coordinator);
    console.log(`upgraded: ${secure.tlsVersion}`);
    const lines = new LineSplitter();
    secure.onData = (s, data) => {
      for (const line of lines.push(data)) s.send(enc.encode(`secure: ${line}\r\n`));
    };
  } catch (error) {
    console.log(`handshake failed: ${(error as Error).message}`);
  }
}

async function stop(why: string): Promise<never> {
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(2000) });
  console.log(`stopped (${why}): ${upgraded} upgraded, ${refused} refused; ${drained} drained, ${aborted} aborted`);
  Deno.exit(0);
}
onStopSignal((signal) => stop(signal));
if (Deno.args.includes("--until-stdin-closes")) {
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* input is ignored */ }
    await stop("stdin closed");
  })();
}

/**
 * The client of examples/starttls_server.ts: reads the greeting in clear,
 * asks for STARTTLS, switches with startTls once "220 go ahead" came (and
 * nothing after it), then sends lines over TLS and prints the answers.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 \
 *     examples/starttls_client.ts ca.pem [port] [line...]
 */
import { startTls, TcpConnection } from "../mod.ts";
import { LineSplitter } from "./lines.ts";

const ca = Deno.readTextFileSync(Deno.args[0]);
const port = Number(Deno.args[1] ?? 7025);
const toSend = Deno.args.length > 2 ? Deno.args.slice(2) : ["hello", "STARTTLS world"];
const enc = new TextEncoder();
const conn = await TcpConnection.connect("127.0.0.1", port, { timeoutMs: 5000 });

// Clear text: the greeting, then our STARTTLS and its answer.
const plain = new LineSplitter();
await new Promise<void>((resolve, reject) => {
  conn.onData = (c, data) => {
    for (const line of plain.push(data)) {
      console.log(`< ${line}`);
      if (line.startsWith("220 aio")) c.send(enc.encode("STARTTLS\r\n"));
      else if (line === "220 go ahead") {
        if (plain.pending) reject(new Error("bytes after 220: refusing to read them as protected"));
        c.onData = null;
        resolve();
        return;
      } else reject(new Error(`unexpected: ${line}`));
    }
  };
  conn.onClose = () => reject(new Error("closed before STARTTLS"));
});
conn.onClose = null;

const secure = await startTls(conn, { caCerts: [ca], serverName: "localhost", timeoutMs: 5000 });
console.log(`* TLS: ${secure.tlsVersion}`);
const lines = new LineSplitter();
const answers: string[] = [];
const done = Promise.withResolvers<void>();
secure.onData = (_s, data) => {
  for (const line of lines.push(data)) {
    answers.push(line);
    console.log(`< ${line}`);
    if (answers.length === toSend.length) done.resolve();
  }
};
secure.onClose = () => done.resolve();
for (const line of toSend) {
  console.log(`> ${line}`);
  secure.send(enc.encode(`${line}\r\n`));
}
await done.promise;
await secure.close();

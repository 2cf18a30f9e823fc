/**
 * A client for examples/tls_echo_server.ts: connects over TLS, trusting the
 * CA in `ca.pem` (besides the system's roots), sends a few lines, prints
 * what comes back, and closes (close_notify, then FIN).
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 \
 *     examples/tls_echo_client.ts ca.pem [port]
 */
import { connectTls } from "../mod.ts";

const ca = Deno.readTextFileSync(Deno.args[0]);
const port = Number(Deno.args[1] ?? 7443);
// An IP address is checked against the certificate's IP names (no SNI is sent).
const conn = await connectTls("127.0.0.1", port, { caCerts: [ca], timeoutMs: 5000 });
console.log(`connected: ${conn.tlsVersion}, server certificate ${conn.peerCertificate?.length} bytes`);
const lines = ["hello", "over", "TLS"];
const expected = lines.reduce((n, l) => n + l.length + 1, 0);
const done = Promise.withResolvers<void>();
let text = "";
conn.onData = (_c, data) => {
  text += new TextDecoder().decode(data);
  if (text.length >= expected) done.resolve();
};
conn.onClose = () => done.resolve();
for (const line of lines) conn.send(new TextEncoder().encode(`${line}\n`));
await done.promise;
await conn.close();
console.log(text.trimEnd());
console.log(`(${conn.bytesRead} bytes back)`);

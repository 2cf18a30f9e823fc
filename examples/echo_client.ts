/**
 * A small client for examples/echo_server.ts: sends a few lines and prints
 * what comes back, then half-closes and waits for the server to finish.
 */
import { TcpConnection } from "../mod.ts";

const port = Number(Deno.args[0] ?? 7007);
const conn = await TcpConnection.connect("127.0.0.1", port, { timeoutMs: 5000 });
const closed = new Promise<void>((resolve) => (conn.onClose = () => resolve()));
conn.onData = (_c, data) => Deno.stdout.writeSync(data);
conn.onEnd = (c) => c.close();
for (const line of ["hello", "from", "@eve/aio"]) conn.send(new TextEncoder().encode(`${line}\n`));
await conn.closeWrite();
await closed;
console.log(`(${conn.bytesRead} bytes back)`);

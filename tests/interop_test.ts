/** Ours against Deno's built-in networking and Node's net. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { isWindows, pattern, sha256, Sink, until, within } from "./helpers.ts";

Deno.test("Deno.connect client against our listener", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, c) => (c.onData = (c2, d) => c2.send(d));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: l.localPort });
  const data = pattern(1 << 20, 2);
  const writer = conn.write(data).then(async (n) => {
    let off = n;
    while (off < data.length) off += await conn.write(data.subarray(off));
  });
  const got = new Uint8Array(data.length);
  let off = 0;
  while (off < data.length) {
    const n = await within(conn.read(got.subarray(off)), 10_000, "read");
    assert.ok(n !== null);
    off += n;
  }
  await writer;
  assert.equal(await sha256(got), await sha256(data));
  conn.close();
  l.close();
});

Deno.test("our client against Deno.listen", async () => {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const c = await server.accept();
    await c.readable.pipeTo(c.writable);
  })();
  const conn = await TcpConnection.connect("127.0.0.1", server.addr.port);
  const sink = new Sink();
  conn.onData = (_c, d) => sink.push(d);
  const data = pattern(1 << 20, 4);
  await conn.write(data);
  await until(() => sink.length === data.length, 10_000, "echo");
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  await conn.closeWrite();
  await within(serving, 10_000, "server done");
  server.close();
  await conn.close();
});

Deno.test({
  name: "Node net client and server against ours",
  ignore: isWindows, // node is not part of the Wine environment
  async fn() {
    const l = await TcpListener.listen("127.0.0.1", 0);
    l.onConnection = (_l, c) => (c.onData = (c2, d) => c2.send(d));
    const nodeServer = `
      const net = require("net");
      const s = net.createServer((c) => c.pipe(c)).listen(0, "127.0.0.1", () => console.log(s.address().port));
      process.stdin.on("end", () => s.close()); process.stdin.resume();
      const c = net.connect(${l.localPort}, "127.0.0.1", () => c.write("from node"));
      c.on("data", (d) => { console.error("client:" + d); c.end(); });
    `;
    const child = new Deno.Command("node", {
      args: ["-e", nodeServer],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    const reader = child.stdout.getReader();
    const { value } = await within(reader.read(), 10_000, "node port");
    const port = Number(new TextDecoder().decode(value).trim());
    const conn = await TcpConnection.connect("127.0.0.1", port);
    const got = new Promise<string>((r) => (conn.onData = (_c, d) => r(new TextDecoder().decode(d))));
    conn.send(new TextEncoder().encode("to node"));
    assert.equal(await within(got, 10_000, "node echo"), "to node");
    await conn.close();
    await child.stdin.close();
    reader.releaseLock();
    await child.stdout.cancel();
    const out = await within(child.output(), 10_000, "node exit");
    assert.match(new TextDecoder().decode(out.stderr), /client:from node/);
    l.close();
  },
});

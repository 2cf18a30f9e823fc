/**
 * TLS against Node's `tls` (Linux: node is not part of the Wine
 * environment): Node's server with our client, Node's client with our
 * server, client certificates both ways, 4 MiB hash-verified.
 */
import assert from "node:assert/strict";
import { connectTls, listenTls } from "../mod.ts";
import { makePki } from "./tls_certs.ts";
import { isWindows, pattern, sha256, Sink, until, within } from "./helpers.ts";

const SIZE = 4 * 1024 * 1024;

// Runs `script` with node; the PKI goes in through the environment. Its
// first stdout line is returned as soon as it comes; `done` is its exit.
async function node(script: string, env: Record<string, string>) {
  const child = new Deno.Command("node", { args: ["-e", script], env, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let out = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stdout) out += decoder.decode(chunk, { stream: true });
  })();
  const err = new Response(child.stderr).text();
  await until(() => out.includes("\n"), 20_000, "node's first line");
  return {
    first: out.split("\n")[0],
    async done(): Promise<string> {
      const status = await within(child.status, 30_000, "node exits");
      clearTimeout(timer);
      await pump;
      const stderr = await err;
      assert.equal(status.code, 0, `node exit ${status.code}\n${stderr}`);
      return out;
    },
  };
}

Deno.test({
  name: "tls interop: our client against Node's tls server (client certificate required), 4 MiB echoed",
  ignore: isWindows,
  async fn() {
    const pki = await makePki();
    const n = await node(
      `const tls = require("tls"); const e = process.env;
       const s = tls.createServer({ cert: e.CERT, key: e.KEY, ca: [e.CA], requestCert: true, rejectUnauthorized: true },
         (c) => { c.pipe(c); c.on("end", () => s.close()); });
       s.listen(0, "127.0.0.1", () => console.log(s.address().port));`,
      { CERT: pki.server.cert, KEY: pki.server.key, CA: pki.ca.cert },
    );
    const conn = await connectTls("localhost", Number(n.first), { caCerts: [pki.ca.cert], ...pki.client });
    assert.equal(conn.tlsVersion, "TLSv1.3");
    const sink = new Sink();
    conn.onData = (_c, d) => sink.push(d);
    const data = pattern(SIZE, 9);
    for (let off = 0; off < SIZE; off += 256 * 1024) await conn.write(data.subarray(off, off + 256 * 1024));
    await until(() => sink.length >= SIZE, 30_000, "echo");
    assert.equal(await sha256(sink.bytes()), await sha256(data));
    await conn.close();
    await n.done();
  },
});

Deno.test({
  name: "tls interop: Node's tls client against our server (with a client certificate), 4 MiB hash-verified",
  ignore: isWindows,
  async fn() {
    const pki = await makePki();
    const l = await listenTls("127.0.0.1", 0, {
      ...pki.server,
      requestCert: true,
      caCerts: [pki.ca.cert],
      alpnProtocols: ["x-aio"],
    });
    const received = new Promise<{ sink: Sink; cert: Uint8Array | null; alpn: string | null }>((resolve) => {
      l.onConnection = (_l, c) => {
        const sink = new Sink();
        c.onData = (_c, d) => sink.push(d);
        c.onEnd = (conn) => {
          conn.send(new TextEncoder().encode(`got ${sink.length}`));
          conn.close();
          resolve({ sink, cert: c.peerCertificate, alpn: c.alpnProtocol });
        };
      };
    });
    const n = await node(
      `const tls = require("tls"); const e = process.env;
       const data = Buffer.alloc(${SIZE}); let x = 1;
       for (let i = 0; i < data.length; i++) { x = (x * 1103515245 + 12345) >>> 0; data[i] = x >>> 24; }
       const c = tls.connect({ port: +e.PORT, host: "127.0.0.1", servername: "localhost", ca: [e.CA],
         cert: e.CERT, key: e.KEY, ALPNProtocols: ["x-aio"] }, () => {
         console.log(c.getProtocol() + " " + c.alpnProtocol); c.end(data); });
       let reply = ""; c.on("data", (d) => reply += d); c.on("end", () => console.log(reply));`,
      { PORT: String(l.localPort), CA: pki.ca.cert, CERT: pki.client.cert, KEY: pki.client.key },
    );
    assert.equal(n.first, "TLSv1.3 x-aio");
    const { sink, cert, alpn } = await within(received, 30_000, "received");
    assert.equal(alpn, "x-aio");
    assert.ok(cert && cert.length > 0);
    const expected = new Uint8Array(SIZE);
    let x = 1;
    for (let i = 0; i < SIZE; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      expected[i] = x >>> 24;
    }
    assert.equal(await sha256(sink.bytes()), await sha256(expected));
    assert.match(await n.done(), new RegExp(`got ${SIZE}\\n`));
    l.close();
  },
});

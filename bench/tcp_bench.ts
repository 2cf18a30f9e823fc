/**
 * Side by side in one run: @eve/aio against Deno's built-in TCP on
 * loopback. Compare the ratios printed in one run, not absolute figures
 * across runs (see shared/notes/perf-baselines.md).
 *
 *   deno task bench
 */
import { TcpConnection, TcpListener } from "../mod.ts";

const PING = new Uint8Array(64).fill(1);

// --- ours: echo server + client, one round trip per iteration ----------
const listener = await TcpListener.listen("127.0.0.1", 0);
listener.onConnection = (_l, c) => (c.onData = (conn, d) => conn.send(d));
const ours = await TcpConnection.connect("127.0.0.1", listener.localPort, { noDelay: true });
let oursWaiter: (() => void) | null = null;
let oursGot = 0;
ours.onData = (_c, d) => {
  oursGot += d.length;
  if (oursGot >= PING.length && oursWaiter) {
    oursGot -= PING.length;
    const w = oursWaiter;
    oursWaiter = null;
    w();
  }
};
// async: Deno.bench measures a plain function returning a promise as sync.
async function oursRoundTrip(): Promise<void> {
  await new Promise<void>((resolve) => {
    oursWaiter = resolve;
    ours.send(PING);
  });
}

// --- Deno built-in: the same echo ---------------------------------------
const denoServer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
(async () => {
  for await (const c of denoServer) {
    c.setNoDelay(true);
    (async () => {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await c.read(buf).catch(() => null);
        if (n === null) break;
        await c.write(buf.subarray(0, n));
      }
      c.close();
    })();
  }
})().catch(() => {});
const denoConn = await Deno.connect({ hostname: "127.0.0.1", port: denoServer.addr.port });
denoConn.setNoDelay(true);
const denoBuf = new Uint8Array(65536);
async function denoRoundTrip(): Promise<void> {
  await denoConn.write(PING);
  let got = 0;
  while (got < PING.length) got += (await denoConn.read(denoBuf)) ?? PING.length;
}

Deno.bench({ name: "ping-pong 64 B: @eve/aio", group: "ping-pong", baseline: true, fn: oursRoundTrip });
Deno.bench({ name: "ping-pong 64 B: Deno built-in", group: "ping-pong", fn: denoRoundTrip });

// --- bulk: 4 MiB one way, acknowledged by the peer's byte count ---------
const BULK = new Uint8Array(4 << 20);
const sinkListener = await TcpListener.listen("127.0.0.1", 0);
sinkListener.onConnection = (_l, c) => {
  let n = 0;
  c.onData = (conn, d) => {
    n += d.length;
    if (n >= BULK.length) {
      n -= BULK.length;
      conn.send(new Uint8Array(1));
    }
  };
};
const bulkOurs = await TcpConnection.connect("127.0.0.1", sinkListener.localPort);
let bulkAck: (() => void) | null = null;
bulkOurs.onData = () => bulkAck?.();
Deno.bench({
  name: "bulk 4 MiB: @eve/aio",
  group: "bulk",
  baseline: true,
  async fn() {
    const acked = new Promise<void>((r) => (bulkAck = r));
    await bulkOurs.write(BULK);
    await acked;
  },
});
const denoSink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
(async () => {
  for await (const c of denoSink) {
    (async () => {
      const buf = new Uint8Array(1 << 20);
      let n = 0;
      for (;;) {
        const r = await c.read(buf).catch(() => null);
        if (r === null) break;
        n += r;
        if (n >= BULK.length) {
          n -= BULK.length;
          await c.write(new Uint8Array(1));
        }
      }
      c.close();
    })();
  }
})().catch(() => {});
const bulkDeno = await Deno.connect({ hostname: "127.0.0.1", port: denoSink.addr.port });
Deno.bench({
  name: "bulk 4 MiB: Deno built-in",
  group: "bulk",
  async fn() {
    let off = 0;
    while (off < BULK.length) off += await bulkDeno.write(BULK.subarray(off));
    await bulkDeno.read(new Uint8Array(1));
  },
});

// Let the process end once the benchmarks are done.
addEventListener("unload", () => {
  ours.abort();
  bulkOurs.abort();
  listener.close();
  sinkListener.close();
  denoConn.close();
  bulkDeno.close();
  denoServer.close();
  denoSink.close();
});

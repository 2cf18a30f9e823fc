/**
 * Per-operation costs of @eve/aio in one process, so that a regression in
 * one operation shows even when the suite's end-to-end ratios hide it:
 *
 * - send: one 64 B `send()` on an open connection (the call itself);
 * - dispatch: a DATA record delivered to its connection's onData, taken
 *   over 100 connections with one record each (poll, dispatch, callback);
 * - pump turn: one record per turn (a 1 B send and its delivery), so the
 *   turn's fixed cost shows beside the per-record one.
 *
 *   deno task bench:ops
 */
import { TcpConnection, TcpListener } from "../mod.ts";

const CONNS = 100, SENDS = 100;
const listener = await TcpListener.listen("127.0.0.1", 0);
// Server side of every pair, keyed by its peer's local port.
const accepted = new Map<number, TcpConnection>();
const arrivals = new Set<(c: TcpConnection) => void>();
listener.onConnection = (_l, c) => {
  c.setNoDelay(true);
  accepted.set(c.remoteAddress!.port, c);
  for (const a of arrivals) a(c);
};

/** A connected client and its accepted server side. */
async function pair(): Promise<[TcpConnection, TcpConnection]> {
  const client = await TcpConnection.connect("127.0.0.1", listener.localPort, { noDelay: true });
  const port = client.localAddress!.port;
  while (!accepted.has(port)) await new Promise<void>((r) => arrivals.add(() => r()));
  return [client, accepted.get(port)!];
}

/** Resolves once `conn` has received `n` more bytes. */
function receive(conn: TcpConnection, n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    conn.onData = (_c, d) => {
      got += d.length;
      if (got >= n) resolve();
    };
  });
}

const PING = new Uint8Array(64).fill(7);
const ONE = new Uint8Array(1);
const [sender, sendSink] = await pair();
const pairs = await Promise.all(Array.from({ length: CONNS }, pair));
const [turnClient, turnServer] = await pair();

Deno.bench({
  name: `send 64 B (x${SENDS} per iteration)`,
  group: "send",
  n: 2000,
  async fn(b) {
    const drained = receive(sendSink, SENDS * PING.length);
    b.start();
    for (let i = 0; i < SENDS; i++) sender.send(PING);
    b.end();
    await drained;
  },
});

Deno.bench({
  name: `dispatch: ${CONNS} DATA records, one per connection`,
  group: "dispatch",
  n: 2000,
  async fn(b) {
    const all = Promise.all(pairs.map(([, server]) => receive(server, 1)));
    for (const [client] of pairs) client.send(ONE);
    // The sends are done; what follows is polling, dispatch and the callbacks.
    b.start();
    await all;
    b.end();
  },
});

Deno.bench({
  name: "pump turn: 1 B sent and delivered, one record per turn",
  group: "turn",
  n: 5000,
  async fn() {
    const got = receive(turnServer, 1);
    turnClient.send(ONE);
    await got;
  },
});

// Let the process end once the benchmarks are done.
addEventListener("unload", () => {
  for (const c of [sender, sendSink, turnClient, turnServer, ...pairs.flat()]) c.abort();
  listener.close();
});

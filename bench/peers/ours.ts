/**
 * @eve/aio's peer, through the public API of mod.ts only: callbacks for
 * data, `write()` for backpressure, TcpListener/TcpConnection for TCP,
 * PipeListener/Pipe for named endpoints, createPipe for the anonymous pair.
 *
 *   deno run <perms> bench/peers/ours.ts <server|client> <kind> <json>
 */
import {
  type CloseReason,
  connectTls,
  createPipe,
  listenTls,
  Pipe,
  PipeListener,
  TcpConnection,
  TcpListener,
  type TlsConnection,
} from "../../mod.ts";
import { makePki } from "../../tests/tls_certs.ts";
import {
  BLOCK,
  blockTemplate,
  BulkChecker,
  judgeReply,
  peerArgs,
  PING_SIZE,
  pingMessage,
  REPLY_SIZE,
  runClient,
  sameBytes,
  say,
  serveControl,
  stampBlock,
} from "./protocol.ts";

/** What TcpConnection, Pipe and TlsConnection share that the workloads use. */
type Stream = TcpConnection | Pipe | TlsConnection;

function echo(s: Stream): void {
  s.onData = (c: Stream, d: Uint8Array) => c.send(d);
  s.onError = () => {};
}

function sink(s: Stream, bytes: number): void {
  const check = new BulkChecker();
  s.onError = () => {};
  s.onData = (c: Stream, d: Uint8Array) => {
    check.push(d);
    if (check.bytes >= bytes) c.send(check.reply());
  };
}

/** Resolves with the next `n` bytes a stream delivers (its onData is taken over). */
function collect(s: Stream, n: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(n);
    let got = 0;
    s.onData = (_c: Stream, d: Uint8Array) => {
      out.set(d.subarray(0, n - got), got);
      got += d.length;
      if (got >= n) resolve(out);
    };
    s.onClose = (_c: Stream, why: CloseReason) =>
      got < n && reject(new Error(`closed (${why}) after ${got} of ${n} bytes`));
  });
}

/** Every stream does `rounds` pings one after the other; all streams at once. */
function pingAll(streams: Stream[], rounds: number): Promise<Record<string, unknown>> {
  let bad = 0, running = streams.length;
  return new Promise((resolve, reject) => {
    streams.forEach((s, i) => {
      const msg = new Uint8Array(PING_SIZE), got = new Uint8Array(PING_SIZE);
      let round = 0, have = 0;
      s.onClose = (_c: Stream, why: CloseReason) =>
        round < rounds && reject(new Error(`connection ${i} closed (${why}) at round ${round}`));
      s.onData = (c: Stream, d: Uint8Array) => {
        got.set(d.subarray(0, PING_SIZE - have), have);
        have += d.length;
        if (have < PING_SIZE) return;
        if (have > PING_SIZE || !sameBytes(got, msg)) bad++;
        have = 0;
        if (++round < rounds) c.send(pingMessage(i, round, msg));
        else if (--running === 0) {
          const units = streams.length * rounds;
          resolve(bad === 0 ? { ok: true, units } : { ok: false, why: `${bad} echoes differ`, units });
        }
      };
      s.send(pingMessage(i, 0, msg));
    });
  });
}

async function sendBulk(s: Stream, bytes: number): Promise<Record<string, unknown>> {
  const reply = collect(s, REPLY_SIZE);
  const block = blockTemplate();
  for (let k = 0; k * BLOCK < bytes; k++) {
    await s.write(stampBlock(block, k).subarray(0, Math.min(BLOCK, bytes - k * BLOCK)));
  }
  return { ...judgeReply(await reply, bytes), units: bytes };
}

function tcp(host: string, port: number): Promise<TcpConnection> {
  return TcpConnection.connect(host, port, { noDelay: true, timeoutMs: 10_000 });
}

async function tls(host: string, port: number, dir: string): Promise<TlsConnection> {
  const ca = await Deno.readTextFile(`${dir}/tls-ca.pem`);
  return connectTls(host, port, { caCerts: [ca], noDelay: true, timeoutMs: 10_000 });
}

const { role, kind, p } = peerArgs();
const host = (p.host as string) ?? "127.0.0.1";
if (role === "server") {
  const counter = { accepted: 0 };
  let port: number | string;
  if (kind === "echo" || kind === "sink" || kind === "accept") {
    const hosts = (p.hosts as string[]) ?? [host];
    const first = await TcpListener.listen(hosts[0], 0);
    port = first.localPort;
    const listeners = [first];
    for (const h of hosts.slice(1)) listeners.push(await TcpListener.listen(h, port));
    for (const l of listeners) {
      l.onConnection = (_l, c) => {
        counter.accepted++;
        if (kind === "accept") return void c.close();
        c.setNoDelay(true);
        kind === "echo" ? echo(c) : sink(c, p.bytes as number);
      };
    }
  } else if (kind === "pipe-echo" || kind === "pipe-sink") {
    const l = await PipeListener.listen(p.path as string);
    port = l.path;
    l.onConnection = (_l, s) => {
      counter.accepted++;
      kind === "pipe-echo" ? echo(s) : sink(s, p.bytes as number);
    };
  } else if (kind === "tls-echo" || kind === "tls-sink") {
    // A CA and a certificate of its own; the client trusts the CA it writes.
    const pki = await makePki();
    await Deno.writeTextFile(`${p.dir}/tls-ca.pem`, pki.ca.cert);
    const l = await listenTls(host, 0, { ...pki.server, noDelay: true });
    port = l.localPort;
    l.onConnection = (_l, c) => {
      counter.accepted++;
      kind === "tls-echo" ? echo(c) : sink(c, p.bytes as number);
    };
  } else throw new Error(`ours: no server ${kind}`);
  say(`READY ${port}`);
  await serveControl(() => counter);
  Deno.exit(0);
} else {
  const port = p.port as number;
  await runClient(async () => {
    switch (kind) {
      case "ping": {
        const conns = await Promise.all(Array.from({ length: p.conns as number }, () => tcp(host, port)));
        return () => pingAll(conns, p.rounds as number);
      }
      case "bulk": {
        const conn = await tcp(host, port);
        return () => sendBulk(conn, p.bytes as number);
      }
      case "accept":
        return async () => {
          const count = p.count as number;
          for (let i = 0; i < count; i++) {
            const c = await tcp(host, port);
            // The server closes at once: wait for it, so each accept is served.
            const closed = new Promise<string>((r) => (c.onClose = (_c, why) => r(why)));
            c.onData = () => {};
            await closed;
          }
          return { ok: true, units: count };
        };
      case "tls-ping": {
        const conn = await tls(host, port, p.dir as string);
        return () => pingAll([conn], p.rounds as number);
      }
      case "tls-bulk": {
        const conn = await tls(host, port, p.dir as string);
        return () => sendBulk(conn, p.bytes as number);
      }
      case "pipe-ping": {
        const pipe = await Pipe.connect(p.path as string, { timeoutMs: 10_000 });
        return () => pingAll([pipe], p.rounds as number);
      }
      case "pipe-bulk": {
        const pipe = await Pipe.connect(p.path as string, { timeoutMs: 10_000 });
        return () => sendBulk(pipe, p.bytes as number);
      }
      case "anon":
        return async () => {
          // Both ends in this process: the writer and the reader share the loop.
          const bytes = p.bytes as number;
          const pair = createPipe();
          const reader = Pipe.create(), writer = Pipe.create();
          reader.adoptRead(pair.readEnd);
          writer.adoptWrite(pair.writeEnd);
          const check = new BulkChecker();
          const done = new Promise<void>((resolve) => {
            reader.onData = (_p, d) => {
              check.push(d);
              if (check.bytes >= bytes) resolve();
            };
          });
          const block = blockTemplate();
          for (let k = 0; k * BLOCK < bytes; k++) {
            await writer.write(stampBlock(block, k).subarray(0, Math.min(BLOCK, bytes - k * BLOCK)));
          }
          await done;
          writer.close();
          reader.close();
          const ok = check.bytes === bytes && check.errors === 0;
          return { ok, why: ok ? undefined : `got ${check.bytes} bytes, ${check.errors} errors`, units: bytes };
        };
    }
    throw new Error(`ours: no client ${kind}`);
  });
  Deno.exit(0);
}

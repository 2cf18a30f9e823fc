/**
 * The reference peer: Deno's built-in networking (Deno.listen/Deno.connect;
 * Unix sockets for the named-endpoint workloads; a child's stdout for the
 * anonymous pipe, Deno's only anonymous pipe). Written the way a Deno
 * program would be: one read loop per connection, awaited writes.
 *
 *   deno run <perms> bench/peers/deno.ts <server|client> <kind> <json>
 */
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
import { makePki } from "../../tests/tls_certs.ts";

// Per-connection read buffer of the echo server: a ping needs 64 B, and an
// idle connection must not be charged for a bulk-sized buffer.
const ECHO_BUFFER = 4096;

async function readFull(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) throw new Error(`connection ended after ${got} of ${buf.length} bytes`);
    got += n;
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

async function echo(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(ECHO_BUFFER);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await writeAll(conn, buf.subarray(0, n));
    }
  } catch {
    // reset by the peer: the connection is done
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

async function sink(conn: Deno.Conn, bytes: number): Promise<void> {
  const buf = new Uint8Array(BLOCK);
  const check = new BulkChecker();
  while (check.bytes < bytes) {
    const n = await conn.read(buf);
    if (n === null) break;
    check.push(buf.subarray(0, n));
  }
  await writeAll(conn, check.reply());
  conn.close();
}

function serve(listeners: Deno.Listener[], handle: (c: Deno.Conn) => Promise<void>, counter: { accepted: number }) {
  for (const l of listeners) {
    (async () => {
      for await (const c of l) {
        counter.accepted++;
        if ((c as Deno.TcpConn).setNoDelay) (c as Deno.TcpConn).setNoDelay(true);
        handle(c).catch(() => {});
      }
    })().catch(() => {});
  }
}

async function pingAll(conns: Deno.Conn[], rounds: number): Promise<Record<string, unknown>> {
  let bad = 0;
  await Promise.all(conns.map(async (c, i) => {
    const msg = new Uint8Array(PING_SIZE), got = new Uint8Array(PING_SIZE);
    for (let r = 0; r < rounds; r++) {
      await writeAll(c, pingMessage(i, r, msg));
      await readFull(c, got);
      if (!sameBytes(got, msg)) bad++;
    }
  }));
  const units = conns.length * rounds;
  return bad === 0 ? { ok: true, units } : { ok: false, why: `${bad} echoes differ`, units };
}

async function sendBulk(conn: Deno.Conn, bytes: number): Promise<Record<string, unknown>> {
  const block = blockTemplate();
  for (let k = 0; k * BLOCK < bytes; k++) {
    await writeAll(conn, stampBlock(block, k).subarray(0, Math.min(BLOCK, bytes - k * BLOCK)));
  }
  const reply = new Uint8Array(REPLY_SIZE);
  await readFull(conn, reply);
  return { ...judgeReply(reply, bytes), units: bytes };
}

function tcp(host: string, port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: host, port }).then((c) => {
    c.setNoDelay(true);
    return c;
  });
}

async function tls(host: string, port: number, dir: string): Promise<Deno.TlsConn> {
  const ca = await Deno.readTextFile(`${dir}/tls-ca.pem`);
  const conn = await Deno.connectTls({ hostname: host, port, caCerts: [ca] });
  await conn.handshake();
  return conn;
}

const { role, kind, p } = peerArgs();
const host = (p.host as string) ?? "127.0.0.1";
if (role === "server") {
  const counter = { accepted: 0 };
  if (kind === "echo" || kind === "sink" || kind === "accept") {
    const hosts = (p.hosts as string[]) ?? [host];
    const first = Deno.listen({ hostname: hosts[0], port: 0 });
    const port = first.addr.port;
    const listeners = [first, ...hosts.slice(1).map((h) => Deno.listen({ hostname: h, port }))];
    const handle = kind === "echo"
      ? echo
      : kind === "sink"
      ? (c: Deno.Conn) => sink(c, p.bytes as number)
      : (c: Deno.Conn) => Promise.resolve(c.close());
    serve(listeners, handle, counter);
    say(`READY ${port}`);
  } else if (kind === "pipe-echo" || kind === "pipe-sink") {
    const l = Deno.listen({ transport: "unix", path: p.path as string });
    serve([l], kind === "pipe-echo" ? echo : (c) => sink(c, p.bytes as number), counter);
    say(`READY ${p.path}`);
  } else if (kind === "tls-echo" || kind === "tls-sink") {
    // A CA and a certificate of its own; the client trusts the CA it writes.
    const pki = await makePki();
    await Deno.writeTextFile(`${p.dir}/tls-ca.pem`, pki.ca.cert);
    const l = Deno.listenTls({ hostname: host, port: 0, ...pki.server });
    serve([l], kind === "tls-echo" ? echo : (c) => sink(c, p.bytes as number), counter);
    say(`READY ${(l.addr as Deno.NetAddr).port}`);
  } else throw new Error(`deno: no server ${kind}`);
  await serveControl(() => counter);
  Deno.exit(0);
} else if (kind === "anon-writer") {
  // The child of the anonymous-pipe client: writes the stream to stdout.
  const block = blockTemplate(), bytes = p.bytes as number;
  for (let k = 0; k * BLOCK < bytes; k++) {
    const b = stampBlock(block, k).subarray(0, Math.min(BLOCK, bytes - k * BLOCK));
    let off = 0;
    while (off < b.length) off += await Deno.stdout.write(b.subarray(off));
  }
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
          const count = p.count as number, one = new Uint8Array(1);
          for (let i = 0; i < count; i++) {
            const c = await Deno.connect({ hostname: host, port });
            // The server closes at once: wait for it, so each accept is served.
            const n = await c.read(one).catch(() => null);
            c.close();
            if (n !== null) return { ok: false, why: "server sent data" };
          }
          return { ok: true, units: count };
        };
      case "hold":
        return await hold(p.hosts as string[], port, p.conns as number);
      case "tls-ping": {
        const conn = await tls(host, port, p.dir as string);
        return () => pingAll([conn], p.rounds as number);
      }
      case "tls-bulk": {
        const conn = await tls(host, port, p.dir as string);
        return () => sendBulk(conn, p.bytes as number);
      }
      case "pipe-ping": {
        const conn = await Deno.connect({ transport: "unix", path: p.path as string });
        return () => pingAll([conn], p.rounds as number);
      }
      case "pipe-bulk": {
        const conn = await Deno.connect({ transport: "unix", path: p.path as string });
        return () => sendBulk(conn, p.bytes as number);
      }
      case "anon":
        return async () => {
          const bytes = p.bytes as number;
          const child = new Deno.Command(Deno.execPath(), {
            args: ["run", "--allow-read", import.meta.filename!, "client", "anon-writer", JSON.stringify({ bytes })],
            stdout: "piped",
            stdin: "null",
          }).spawn();
          const check = new BulkChecker();
          for await (const chunk of child.stdout) check.push(chunk);
          await child.status;
          const ok = check.bytes === bytes && check.errors === 0;
          return { ok, why: ok ? undefined : `got ${check.bytes} bytes, ${check.errors} errors`, units: bytes };
        };
    }
    throw new Error(`deno: no client ${kind}`);
  });
  Deno.exit(0);
}

/**
 * Opens `count` connections spread over `hosts` (several 127.x addresses,
 * each with its own ephemeral port range), pinging each once as it opens;
 * GO pings every one of them once more. Reports how many answered.
 */
async function hold(hosts: string[], port: number, count: number): Promise<() => Promise<Record<string, unknown>>> {
  const conns: Deno.Conn[] = [];
  let failed = 0;
  // Bounded: a server at its limit stops answering; give up after a window
  // in which no connection got through, or after the deadline.
  const deadline = Date.now() + 90_000;
  // Connections opened at once; fewer under Wine, where each costs wineserver requests.
  const WINDOW = Deno.build.os === "windows" ? 25 : 100;
  for (let i = 0; i < count && Date.now() < deadline; i += WINDOW) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(WINDOW, count - i) }, async (_, j) => {
        const c = await tcp(hosts[(i + j) % hosts.length], port);
        try {
          await within(ping(c, i + j, 0), 10_000);
        } catch (e) {
          c.close();
          throw e;
        }
        return c;
      }),
    );
    for (const r of batch) r.status === "fulfilled" ? conns.push(r.value) : failed++;
    if (batch.every((r) => r.status === "rejected")) break;
  }
  return async () => {
    const answered = await Promise.allSettled(conns.map((c, i) => within(ping(c, i, 1), 30_000)));
    const held = answered.filter((r) => r.status === "fulfilled").length;
    return { ok: true, units: held, held, failed: failed + (conns.length - held) };
  };
}

async function ping(c: Deno.Conn, conn: number, round: number): Promise<void> {
  const got = new Uint8Array(PING_SIZE), msg = pingMessage(conn, round);
  await writeAll(c, msg);
  await readFull(c, got);
  if (!sameBytes(got, msg)) throw new Error("bad echo");
}

/** `p`, or a rejection after `ms` (a connection the server never serves must not hang the client). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * The named-pipe reference on Windows: Deno's node:net (`\\.\pipe\...`
 * paths), since Deno.listen has no named pipes. Named-endpoint kinds only.
 *
 *   deno.exe run <perms> bench/peers/nodenet.ts <server|client> <kind> <json>
 */
import net from "node:net";
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

/** The next `n` bytes of `s`. */
function collect(s: net.Socket, n: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(n);
    let got = 0;
    s.on("data", (d: Uint8Array) => {
      out.set(d.subarray(0, n - got), got);
      got += d.length;
      if (got >= n) resolve(out);
    });
    s.on("close", () => got < n && reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}

function pingOne(s: net.Socket, rounds: number): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    let round = 0, have = 0, bad = 0;
    const msg = new Uint8Array(PING_SIZE), got = new Uint8Array(PING_SIZE);
    s.on("data", (d: Uint8Array) => {
      got.set(d.subarray(0, PING_SIZE - have), have);
      have += d.length;
      if (have < PING_SIZE) return;
      if (have > PING_SIZE || !sameBytes(got, msg)) bad++;
      have = 0;
      // write() keeps the buffer until it is sent: each ping gets its own.
      if (++round < rounds) s.write(pingMessage(0, round, msg).slice());
      else resolve(bad === 0 ? { ok: true, units: rounds } : { ok: false, why: `${bad} echoes differ`, units: rounds });
    });
    s.write(pingMessage(0, 0, msg).slice());
  });
}

async function sendBulk(s: net.Socket, bytes: number): Promise<Record<string, unknown>> {
  const reply = collect(s, REPLY_SIZE);
  const block = blockTemplate();
  for (let k = 0; k * BLOCK < bytes; k++) {
    // write() keeps the buffer until it is sent: hand it a copy.
    const chunk = stampBlock(block, k).slice(0, Math.min(BLOCK, bytes - k * BLOCK));
    if (!s.write(chunk)) await new Promise((r) => s.once("drain", r));
  }
  return { ...judgeReply(await reply, bytes), units: bytes };
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s: net.Socket = net.connect({ path }, () => resolve(s));
    s.once("error", reject);
  });
}

const { role, kind, p } = peerArgs();
if (role === "server") {
  let accepted = 0;
  const server = net.createServer((s: net.Socket) => {
    accepted++;
    s.on("error", () => {});
    if (kind === "pipe-echo") s.on("data", (d: Uint8Array) => s.write(d));
    else {
      const check = new BulkChecker();
      s.on("data", (d: Uint8Array) => {
        check.push(d);
        if (check.bytes >= (p.bytes as number)) s.write(check.reply());
      });
    }
  });
  await new Promise<void>((r) => server.listen({ path: p.path as string }, () => r()));
  say(`READY ${p.path}`);
  await serveControl(() => ({ accepted }));
  Deno.exit(0);
} else {
  await runClient(async () => {
    const s = await connect(p.path as string);
    if (kind === "pipe-ping") return () => pingOne(s, p.rounds as number);
    if (kind === "pipe-bulk") return () => sendBulk(s, p.bytes as number);
    throw new Error(`nodenet: no client ${kind}`);
  });
  Deno.exit(0);
}

// Node's `net` peer (Linux): the same kinds, checks and control protocol as
// bench/peers/protocol.ts, in plain JavaScript for node 20.
//
//   node bench/peers/node.mjs <server|client> <kind> <json>
import net from "node:net";
import readline from "node:readline";

const PING_SIZE = 64, BLOCK = 65536, REPLY_SIZE = 16;
const [role, kind, json] = process.argv.slice(2);
const p = JSON.parse(json ?? "{}");
const say = (line) => process.stdout.write(line + "\n");

function pingMessage(conn, round) {
  const out = Buffer.alloc(PING_SIZE);
  out.writeUInt32LE(conn, 0);
  out.writeUInt32LE(round, 4);
  for (let i = 8; i < PING_SIZE; i++) out[i] = (conn + round + i) & 255;
  return out;
}
const fill = (q) => (q * 7 + 3) & 255;
function blockTemplate() {
  const b = Buffer.alloc(BLOCK);
  for (let q = 0; q < BLOCK; q++) b[q] = fill(q);
  return b;
}
function expectedChecks(bytes) {
  const full = Math.floor(bytes / BLOCK), rest = bytes % BLOCK;
  return full * 5 + (rest === 0 ? 0 : Math.min(rest, 4) + (rest > BLOCK / 2 ? 1 : 0));
}
class BulkChecker {
  bytes = 0;
  errors = 0;
  checks = 0;
  push(chunk) {
    const off = this.bytes, end = off + chunk.length;
    for (let k = Math.floor(off / BLOCK); k * BLOCK < end; k++) {
      for (const q of [0, 1, 2, 3, BLOCK / 2]) {
        const pos = k * BLOCK + q;
        if (pos < off || pos >= end) continue;
        this.checks++;
        if (chunk[pos - off] !== (q < 4 ? (k >>> (8 * q)) & 255 : fill(q))) this.errors++;
      }
    }
    this.bytes = end;
  }
  reply() {
    const r = Buffer.alloc(REPLY_SIZE);
    r.writeUInt32LE(this.bytes % 2 ** 32, 0);
    r.writeUInt32LE(Math.floor(this.bytes / 2 ** 32), 4);
    r.writeUInt32LE(this.errors, 8);
    r.writeUInt32LE(this.checks, 12);
    return r;
  }
}
function judgeReply(r, bytes) {
  const got = r.readUInt32LE(0) + r.readUInt32LE(4) * 2 ** 32;
  if (got !== bytes) return { ok: false, why: `receiver got ${got} bytes of ${bytes}` };
  if (r.readUInt32LE(8) !== 0) return { ok: false, why: `${r.readUInt32LE(8)} content errors` };
  if (r.readUInt32LE(12) !== expectedChecks(bytes)) return { ok: false, why: "wrong check count" };
  return { ok: true };
}

const lines = readline.createInterface({ input: process.stdin });
const nextLine = (() => {
  const queue = [], waiters = [];
  lines.on("line", (l) => (waiters.length ? waiters.shift()(l.trim()) : queue.push(l.trim())));
  lines.on("close", () => waiters.splice(0).forEach((w) => w(null)));
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
})();
async function untilExit() {
  for (;;) {
    const line = await nextLine();
    if (line === null || line === "EXIT") process.exit(0);
    if (line === "STATS") say(`STATS ${JSON.stringify({ rss: process.memoryUsage().rss, accepted })}`);
  }
}

let accepted = 0;
function echo(s) {
  s.on("data", (d) => s.write(d));
  s.on("error", () => {});
}
function sink(s) {
  const check = new BulkChecker();
  s.on("error", () => {});
  s.on("data", (d) => {
    check.push(d);
    if (check.bytes >= p.bytes) s.end(check.reply());
  });
}
/** The next `n` bytes of `s`. */
function collect(s, n) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let got = 0;
    s.on("data", (d) => {
      parts.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(parts).subarray(0, n));
    });
    s.on("close", () => got < n && reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}
function connect(opts) {
  return new Promise((resolve, reject) => {
    const s = net.connect(opts, () => resolve(s));
    s.setNoDelay?.(true);
    s.once("error", reject);
  });
}
function pingAll(socks, rounds) {
  let bad = 0, running = socks.length;
  return new Promise((resolve) => {
    socks.forEach((s, i) => {
      let round = 0, msg = pingMessage(i, 0), parts = [], have = 0;
      s.on("data", (d) => {
        parts.push(d);
        have += d.length;
        if (have < PING_SIZE) return;
        if (have > PING_SIZE || !Buffer.concat(parts).equals(msg)) bad++;
        parts = [];
        have = 0;
        if (++round < rounds) s.write(msg = pingMessage(i, round));
        else if (--running === 0) {
          const units = socks.length * rounds;
          resolve(bad === 0 ? { ok: true, units } : { ok: false, why: `${bad} echoes differ`, units });
        }
      });
      s.write(msg);
    });
  });
}
async function sendBulk(s, bytes) {
  const reply = collect(s, REPLY_SIZE);
  const block = blockTemplate();
  for (let k = 0; k * BLOCK < bytes; k++) {
    block.writeUInt32LE(k, 0);
    // write() keeps the buffer until it is sent: hand it a copy.
    const chunk = Buffer.from(block.subarray(0, Math.min(BLOCK, bytes - k * BLOCK)));
    if (!s.write(chunk)) await new Promise((r) => s.once("drain", r));
  }
  return { ...judgeReply(await reply, bytes), units: bytes };
}

if (role === "server") {
  const handler = { echo, "pipe-echo": echo, sink, "pipe-sink": sink, accept: (s) => s.destroy() }[kind];
  const server = net.createServer({ noDelay: true }, (s) => {
    accepted++;
    handler(s);
  });
  server.listen(kind.startsWith("pipe") ? { path: p.path } : { host: "127.0.0.1", port: 0, backlog: 511 }, () => {
    say(`READY ${kind.startsWith("pipe") ? p.path : server.address().port}`);
  });
  untilExit();
} else {
  const tcp = () => connect({ host: "127.0.0.1", port: p.port });
  let work;
  if (kind === "ping") {
    const socks = await Promise.all(Array.from({ length: p.conns }, tcp));
    work = () => pingAll(socks, p.rounds);
  } else if (kind === "bulk") {
    const s = await tcp();
    work = () => sendBulk(s, p.bytes);
  } else if (kind === "pipe-ping") {
    const s = await connect({ path: p.path });
    work = () => pingAll([s], p.rounds);
  } else if (kind === "pipe-bulk") {
    const s = await connect({ path: p.path });
    work = () => sendBulk(s, p.bytes);
  } else if (kind === "accept") {
    work = async () => {
      for (let i = 0; i < p.count; i++) {
        const s = await tcp();
        // The server closes at once: wait for it, so each accept is served.
        await new Promise((r) => {
          s.on("close", r);
          s.on("error", () => {});
          s.resume();
        });
      }
      return { ok: true, units: p.count };
    };
  } else throw new Error(`node: no client ${kind}`);
  say("READY");
  if ((await nextLine()) !== "GO") process.exit(0);
  const t0 = performance.now();
  let result;
  try {
    result = await work();
  } catch (e) {
    result = { ok: false, why: String(e) };
  }
  say(`DONE ${JSON.stringify({ ms: performance.now() - t0, ...result })}`);
  untilExit();
}

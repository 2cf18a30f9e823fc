/**
 * What every benchmark peer (bench/peers/*) shares with the driver: the
 * control protocol on stdin/stdout, the ping message, and the bulk stream's
 * content check. bench/peers/node.mjs and epoll.c implement the same rules.
 *
 * Control protocol (one line each):
 *   server: prints `READY <port|path>` once listening; answers `STATS` with
 *           `STATS {"rss":..,"accepted":..}`; exits on `EXIT` or end of stdin.
 *   client: prints `READY` once set up (connected), starts on `GO`, prints
 *           `DONE {"units":..,"ms":..,"ok":true,...}` when finished, keeps its
 *           connections open until `EXIT` or end of stdin.
 *
 * @module
 */

/** Size of one ping (and of its echo). */
export const PING_SIZE = 64;
/** Block size of the bulk stream: each block starts with its index. */
export const BLOCK = 65536;
/** The bulk receiver's reply: bytes received (lo, hi), errors, bytes checked. */
export const REPLY_SIZE = 16;

/** The ping for round `round` of connection `conn`: echoes must match it byte for byte. */
export function pingMessage(conn: number, round: number, out = new Uint8Array(PING_SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(0, conn, true);
  v.setUint32(4, round, true);
  for (let i = 8; i < PING_SIZE; i++) out[i] = (conn + round + i) & 255;
  return out;
}

/** True when `got` equals `want` byte for byte. */
export function sameBytes(got: Uint8Array, want: Uint8Array): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return false;
  return true;
}

/** Filler byte at position `q` of a block (q >= 4). */
function fill(q: number): number {
  return (q * 7 + 3) & 255;
}

/** A bulk block template; `stampBlock` writes the block index into it. */
export function blockTemplate(): Uint8Array {
  const b = new Uint8Array(BLOCK);
  for (let q = 0; q < BLOCK; q++) b[q] = fill(q);
  return b;
}

/** Writes block index `k` into the first 4 bytes. */
export function stampBlock(block: Uint8Array, k: number): Uint8Array {
  block[0] = k & 255;
  block[1] = (k >>> 8) & 255;
  block[2] = (k >>> 16) & 255;
  block[3] = (k >>> 24) & 255;
  return block;
}

/**
 * Checks a bulk stream as it arrives without hashing every byte (that would
 * cost more than moving it): the 4-byte block index at the start of each
 * block and the filler byte in its middle, at their global offsets. Lost,
 * repeated, reordered or fabricated blocks all fail; so does a short count.
 */
export class BulkChecker {
  bytes = 0;
  errors = 0;
  checks = 0;

  push(chunk: Uint8Array): void {
    const off = this.bytes, end = off + chunk.length;
    for (let k = Math.floor(off / BLOCK); k * BLOCK < end; k++) {
      const base = k * BLOCK;
      for (const q of [0, 1, 2, 3, BLOCK / 2]) {
        const p = base + q;
        if (p < off || p >= end) continue;
        const want = q < 4 ? (k >>> (8 * q)) & 255 : fill(q);
        this.checks++;
        if (chunk[p - off] !== want) this.errors++;
      }
    }
    this.bytes = end;
  }

  /** The 16-byte reply the receiver sends back. */
  reply(): Uint8Array {
    const r = new Uint8Array(REPLY_SIZE);
    const v = new DataView(r.buffer);
    v.setUint32(0, this.bytes % 2 ** 32, true);
    v.setUint32(4, Math.floor(this.bytes / 2 ** 32), true);
    v.setUint32(8, this.errors, true);
    v.setUint32(12, this.checks, true);
    return r;
  }
}

/** The number of checks a correct stream of `bytes` gets. */
export function expectedChecks(bytes: number): number {
  const full = Math.floor(bytes / BLOCK), rest = bytes % BLOCK;
  return full * 5 + (rest === 0 ? 0 : Math.min(rest, 4) + (rest > BLOCK / 2 ? 1 : 0));
}

/** Judges a receiver's reply: a result fit for DONE. */
export function judgeReply(reply: Uint8Array, bytes: number): { ok: boolean; why?: string } {
  const v = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const got = v.getUint32(0, true) + v.getUint32(4, true) * 2 ** 32;
  const errors = v.getUint32(8, true), checks = v.getUint32(12, true);
  if (got !== bytes) return { ok: false, why: `receiver got ${got} bytes of ${bytes}` };
  if (errors !== 0) return { ok: false, why: `${errors} content errors` };
  if (checks !== expectedChecks(bytes)) return { ok: false, why: `${checks} checks, want ${expectedChecks(bytes)}` };
  return { ok: true };
}

/** Lines from stdin, one at a time. */
export class Control {
  #lines: string[] = [];
  #waiters: ((line: string | null) => void)[] = [];
  #ended = false;

  constructor() {
    (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of Deno.stdin.readable) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.#push(buf.slice(0, i).trim());
          buf = buf.slice(i + 1);
        }
      }
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    })().catch(() => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
  }

  #push(line: string): void {
    const w = this.#waiters.shift();
    if (w) w(line);
    else this.#lines.push(line);
  }

  /** The next line, or null at end of stdin. */
  next(): Promise<string | null> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((r) => this.#waiters.push(r));
  }
}

/** Prints one control line. */
export function say(line: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
}

/** Server side of the protocol: serve STATS until EXIT. */
export async function serveControl(stats: () => Record<string, number>): Promise<void> {
  const control = new Control();
  for (;;) {
    const line = await control.next();
    if (line === null || line === "EXIT") return;
    if (line === "STATS") say(`STATS ${JSON.stringify({ rss: Deno.memoryUsage().rss, ...stats() })}`);
  }
}

/**
 * Client side: set up (connect), READY, wait for GO, run the work that
 * `setup` returned, DONE with its result, then hold everything until EXIT.
 * Only the work is timed.
 */
export async function runClient(setup: () => Promise<() => Promise<Record<string, unknown>>>): Promise<void> {
  const control = new Control();
  const work = await setup();
  say("READY");
  if ((await control.next()) !== "GO") return;
  const t0 = performance.now();
  let result: Record<string, unknown>;
  try {
    result = await work();
  } catch (e) {
    result = { ok: false, why: String(e) };
  }
  say(`DONE ${JSON.stringify({ ms: performance.now() - t0, ...result })}`);
  for (;;) {
    const line = await control.next();
    if (line === null || line === "EXIT") return;
  }
}

/** Parsed command line of a peer: role, kind and its parameters. */
export interface PeerArgs {
  role: "server" | "client";
  kind: string;
  p: Record<string, number | string | string[]>;
}

/** `<role> <kind> <json>` from Deno.args. */
export function peerArgs(): PeerArgs {
  const [role, kind, json] = Deno.args;
  if (role !== "server" && role !== "client") throw new Error(`bad role ${role}`);
  return { role, kind, p: JSON.parse(json ?? "{}") };
}

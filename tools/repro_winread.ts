/**
 * Repro of the scale workload's phase 2 under Wine (docs/DESIGN.md, "The
 * read path in C"): our echo server on 127.0.0.1-4 and N clients. Phase 1
 * opens them WINDOW at a time, each pinging once (as bench/peers/deno.ts's
 * hold client); phase 2 pings every one at once, each within --timeout
 * seconds (the hold client's 30). Prints when the answers came (10%, 50%,
 * 90%, last) and, for those that did not, what the client and (in one
 * process) the server saw of them.
 *
 *   bash tools/wine_env.sh run run --allow-all tools/repro_winread.ts [options]
 *     --conns=N        connections (2000, the Windows scale size)
 *     --split          the server in a child deno.exe, as the bench runs it
 *                      (default: server and clients in one process)
 *     --client=ours    clients on TcpConnection (default: Deno.connect, the
 *                      bench's fixed client)
 *     --server=deno    Deno.listen as the server (default: ours)
 *     --timeout=S      phase 2's limit per ping (30)
 *     --read-first     each ping asks for its answer before writing
 *     --window=W --rounds=R
 *
 * To compare two builds of the library: copy each aio.dll under
 * native/build/windows-x64/ and pass AIO_LIBRARY='Z:\aio\native\build\
 * windows-x64\<copy>.dll' with WINE_PASS_ENV=AIO_LIBRARY (the child
 * inherits it). tools/winread_real_read.patch puts the real WSARecv read path
 * back, with counters and a dump of every socket's read state 20 s after
 * the first harvest (stderr).
 *
 * Every wait is bounded; exit 0 when all answered, 1 if not.
 *
 * @module
 */
import { TcpConnection, TcpListener } from "../mod.ts";

const arg = (name: string, dflt: number) => {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
};
const CONNS = arg("conns", 2000);
const WINDOW = arg("window", 25);
const ROUNDS = arg("rounds", 1); // phase-2 rounds after the first ping
const SIZE = 64;
const TIMEOUT = arg("timeout", 30) * 1000; // phase 2, as the bench's hold client
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

/** Per client index: the bytes the server received, and its connections. */
const serverGot = new Int32Array(CONNS);
let accepted = 0, serverClosed = 0, serverErrors = 0;

const SPLIT = Deno.args.includes("--split"); // server in a child process, as the bench runs it
const SERVE = Deno.args.includes("--serve");
const listeners: TcpListener[] = [];
let port = 0;
let child: Deno.ChildProcess | null = null;
if (SPLIT && !SERVE) {
  child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      import.meta.filename!,
      "--serve",
      `--conns=${CONNS}`,
      ...Deno.args.filter((a) => a.startsWith("--server=")),
    ],
    stdout: "piped",
    stdin: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await within(reader.read(), 60_000, "server start");
    if (r.done) throw new Error("server ended");
    text += new TextDecoder().decode(r.value);
  }
  port = Number(text.trim());
  reader.releaseLock();
} else if (Deno.args.includes("--server=deno")) {
  // Deno's own listener as the server (the bench's "deno" implementation), for comparison.
  const first = Deno.listen({ hostname: HOSTS[0], port: 0 });
  port = (first.addr as Deno.NetAddr).port;
  for (const l of [first, ...HOSTS.slice(1).map((h) => Deno.listen({ hostname: h, port }))]) {
    (async () => {
      for await (const c of l) {
        accepted++;
        c.setNoDelay(true);
        (async () => {
          const b = new Uint8Array(4096);
          try {
            for (let n; (n = await c.read(b)) !== null;) {
              let off = 0;
              while (off < n) off += await c.write(b.subarray(off, n));
            }
          } catch { /* reset */ }
        })();
      }
    })();
  }
} else {
  const first = await TcpListener.listen(HOSTS[0], 0);
  port = first.localPort;
  listeners.push(first);
  for (const h of HOSTS.slice(1)) listeners.push(await TcpListener.listen(h, port));
  for (const l of listeners) {
    l.onConnection = (_l, c: TcpConnection) => {
      accepted++;
      c.setNoDelay(true);
      let id = -1;
      const head = new Uint8Array(4);
      let have = 0;
      c.onData = (conn, d) => {
        if (have < 4) {
          const n = Math.min(4 - have, d.length);
          head.set(d.subarray(0, n), have);
          have += n;
          if (have === 4) id = new DataView(head.buffer).getInt32(0, true);
        }
        if (id >= 0 && id < CONNS) serverGot[id] += d.length;
        conn.send(d);
      };
      c.onError = () => serverErrors++;
      c.onClose = () => serverClosed++;
    };
  }
}
if (SERVE) {
  // Port on stdout; the parent's close of stdin ends the server.
  console.log(port);
  const buf = new Uint8Array(16);
  while ((await Deno.stdin.read(buf)) !== null) { /* until EOF */ }
  Deno.exit(0);
}

function message(i: number, round: number): Uint8Array {
  const m = new Uint8Array(SIZE);
  const v = new DataView(m.buffer);
  v.setInt32(0, i, true);
  v.setInt32(4, round, true);
  for (let k = 8; k < SIZE; k++) m[k] = (i + round + k) & 255;
  return m;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const stage = new Int8Array(CONNS); // 1 writing, 2 written (reading), 3 answered
/** The part of Deno.Conn that ping() uses. */
interface Conn {
  write(b: Uint8Array): Promise<number>;
  read(b: Uint8Array): Promise<number | null>;
  close(): void;
}

/** Our TcpConnection as a Conn (--client=ours: no Deno sockets in the client). */
async function oursConnect(hostname: string, port: number): Promise<Conn> {
  const c = await TcpConnection.connect(hostname, port, { noDelay: true, timeoutMs: 10_000 });
  const chunks: Uint8Array[] = [];
  let waiter: (() => void) | null = null, ended = false;
  c.onData = (_c, d) => {
    chunks.push(d.slice());
    waiter?.();
  };
  c.onClose = () => {
    ended = true;
    waiter?.();
  };
  return {
    write: (b) => (c.send(b), Promise.resolve(b.length)),
    async read(b) {
      while (chunks.length === 0 && !ended) await new Promise<void>((r) => (waiter = r));
      waiter = null;
      if (chunks.length === 0) return null;
      const head = chunks[0], n = Math.min(head.length, b.length);
      b.set(head.subarray(0, n));
      if (n === head.length) chunks.shift();
      else chunks[0] = head.subarray(n);
      return n;
    },
    close: () => c.close(),
  };
}
const OURS_CLIENT = Deno.args.includes("--client=ours");
const connect = (hostname: string, port: number): Promise<Conn> =>
  OURS_CLIENT ? oursConnect(hostname, port) : Deno.connect({ hostname, port });

// --read-first: the first read is asked for before the ping is written, so
// the client waits for the answer with a receive poll instead of finding it
// unread after its writes (docs/DESIGN.md, "The real read under Wine's scale
// workload").
const READ_FIRST = Deno.args.includes("--read-first");
async function ping(c: Conn, i: number, round: number): Promise<void> {
  const msg = message(i, round);
  const got = new Uint8Array(SIZE);
  let have = 0, off = 0;
  const early = READ_FIRST ? c.read(got) : null;
  stage[i] = 1;
  while (off < SIZE) off += await c.write(msg.subarray(off));
  stage[i] = 2;
  if (early) {
    const n = await early;
    if (n === null) throw new Error("eof");
    have += n;
  }
  while (have < SIZE) {
    const n = await c.read(got.subarray(have));
    if (n === null) throw new Error("eof");
    have += n;
  }
  for (let k = 0; k < SIZE; k++) if (got[k] !== msg[k]) throw new Error("bad echo");
  stage[i] = 3;
}

const t0 = performance.now();
const conns: (Conn | null)[] = new Array(CONNS).fill(null);
let openFailed = 0, firstPingFailed = 0;
for (let i = 0; i < CONNS; i += WINDOW) {
  await Promise.all(
    Array.from({ length: Math.min(WINDOW, CONNS - i) }, async (_, j) => {
      const k = i + j;
      let c: Conn;
      try {
        c = await within(connect(HOSTS[k % HOSTS.length], port), 10_000, "connect");
      } catch {
        openFailed++;
        return;
      }
      conns[k] = c;
      try {
        await within(ping(c, k, 0), 10_000, "ping 0");
      } catch {
        firstPingFailed++;
      }
    }),
  );
}
const t1 = performance.now();
console.log(
  `phase 1: ${CONNS} conns in ${((t1 - t0) / 1000).toFixed(1)} s, open failed ${openFailed}, ` +
    `first ping failed ${firstPingFailed}, accepted ${accepted}`,
);
const lost: number[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  const start = performance.now(), times: number[] = [];
  const res = await Promise.allSettled(
    conns.map((c, k) =>
      c
        ? within(ping(c, k, r), TIMEOUT, `ping ${r}`).then(() => void times.push(performance.now() - start))
        : Promise.reject(new Error("none"))
    ),
  );
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    times.length ? (times[Math.min(times.length - 1, Math.floor(q * times.length))] / 1000).toFixed(2) : "-";
  console.log(`round ${r} answer times (s): 10% ${at(0.1)} 50% ${at(0.5)} 90% ${at(0.9)} max ${at(1)}`);
  res.forEach((x, k) => x.status === "rejected" && conns[k] && !lost.includes(k) && lost.push(k));
  console.log(`phase 2 round ${r}: answered ${res.filter((x) => x.status === "fulfilled").length} of ${CONNS}`);
}
const t2 = performance.now();
console.log(
  `lost by client stage: writing ${lost.filter((k) => stage[k] === 1).length}, written ${
    lost.filter((k) => stage[k] === 2).length
  }`,
);
const histo = new Map<number, number>();
for (const k of lost) histo.set(serverGot[k], (histo.get(serverGot[k]) ?? 0) + 1);
console.log(
  `lost ${lost.length}; server bytes received by the lost ones (bytes: count): ${
    [...histo].map(([b, n]) => `${b}:${n}`).join(" ")
  }; server errors ${serverErrors}, closed ${serverClosed}; phase 2 ${((t2 - t1) / 1000).toFixed(1)} s`,
);
{
  // One more connection before the close: the server's loop harvests (the
  // debug patch's dump then shows the state the timed-out pings left).
  const c = await Deno.connect({ hostname: HOSTS[0], port });
  await within(ping(c, 0, 99), 10_000, "poke").catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  c.close();
}
for (const c of conns) c?.close();
for (const l of listeners) l.close();
if (child) {
  await child.stdin.close();
  await within(child.status, 10_000, "server exit").catch(() => child!.kill());
}
Deno.exit(lost.length === 0 && openFailed === 0 && firstPingFailed === 0 ? 0 : 1);

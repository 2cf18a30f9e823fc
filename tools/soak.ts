/**
 * The soak: many short connections, one after another and in concurrent
 * batches, over TCP and named endpoints, checking that nothing grows:
 * open descriptors, resident memory and the loop's native handle count,
 * measured after a warm-up and again at the end (docs/DESIGN.md,
 * "Reliability machinery").
 *
 *   deno task soak                      100,000 cycles per phase
 *   deno task soak --cycles 5000        (CI)
 *   --warmup N: cycles per phase before the baseline (10,000)
 *
 * Runs with --allow-all: counting descriptors reads /proc/self/fd.
 *
 * A cycle: connect, send 256 bytes, receive the echo, close; the server
 * echoes and closes when the client's FIN comes. Four phases: TCP
 * sequential, TCP in batches of 500 concurrent, the same over a named
 * endpoint (a Unix socket; a named pipe on Windows). Ends with exactly one
 * line `soak: <N> cycles, fds +<d>, rss +<MiB>, handles +<h>` (N: all
 * phases), and exits 1 when fds or handles grew or RSS grew by 10 MiB or
 * more. Open descriptors are counted on Linux (/proc/self/fd); on Windows
 * "fds" is the process's OS handle count (GetProcessHandleCount), so the
 * same line and limits hold there. Under Wine:
 *
 *   bash tools/wine_env.sh run run --v8-flags=--expose-gc,--max-semi-space-size=1 \
 *     --allow-all tools/soak.ts --cycles 5000
 *
 * @module
 */
import { EventLoop, Pipe, PipeListener, TcpConnection, TcpListener } from "../mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(Deno.args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) {
    console.error(`soak: ${name} wants a positive integer, got ${Deno.args[i + 1]}`);
    Deno.exit(64);
  }
  return v;
}

const CYCLES = arg("--cycles", 100_000);
const BATCH = arg("--batch", 500);
// Every phase once, shorter, before the baseline: V8's heap and the
// allocator reach their working size for each shape of load (a C loop of
// the same cycles stays at a flat RSS; the growth before that is Deno's).
const WARMUP = arg("--warmup", 10_000);
const CYCLE_TIMEOUT_MS = 30_000;
const RSS_LIMIT_MIB = 10;
const MSG = new Uint8Array(256).map((_, i) => i);

type Stream = TcpConnection | Pipe;

// Windows has no fds: the process's handle count stands for them (it
// counts sockets, pipe instances and events alike). Wine's
// GetProcessHandleCount succeeds with 0, so there the system's handle
// table (SystemHandleInformation) is counted for this process instead.
const win = Deno.build.os === "windows"
  ? {
    kernel32: Deno.dlopen("kernel32.dll", {
      GetCurrentProcess: { parameters: [], result: "pointer" },
      GetProcessHandleCount: { parameters: ["pointer", "buffer"], result: "i32" },
    }),
    ntdll: Deno.dlopen("ntdll.dll", {
      NtQuerySystemInformation: { parameters: ["u32", "buffer", "u32", "buffer"], result: "i32" },
    }),
  }
  : null;

function windowsHandles(): number {
  const { kernel32, ntdll } = win!;
  const out = new Uint32Array(1);
  if (kernel32.symbols.GetProcessHandleCount(kernel32.symbols.GetCurrentProcess(), out) && out[0] > 0) return out[0];
  const SYSTEM_HANDLE_INFORMATION = 16, STATUS_INFO_LENGTH_MISMATCH = 0xc0000004 | 0;
  for (let size = 1 << 20; size <= 1 << 28; size *= 4) {
    const buf = new Uint8Array(size), len = new Uint32Array(1);
    const status = ntdll.symbols.NtQuerySystemInformation(SYSTEM_HANDLE_INFORMATION, buf, size, len);
    if (status === STATUS_INFO_LENGTH_MISMATCH) continue;
    if (status !== 0) return 0;
    // { ULONG count; entries of 24 bytes from offset 8: USHORT pid, ... }
    const view = new DataView(buf.buffer);
    let mine = 0;
    for (let i = 0, n = view.getUint32(0, true); i < n; i++) {
      if (view.getUint16(8 + i * 24, true) === (Deno.pid & 0xffff)) mine++;
    }
    return mine;
  }
  return 0;
}

function fds(): number {
  if (win) return windowsHandles();
  if (Deno.build.os !== "linux") return 0;
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n - 1; // the directory being read
}

// glibc keeps freed memory in its arenas, fragmented by the peaks of the
// batch phases; malloc_trim(0) gives it back, so RSS measures what is live.
const libc = Deno.build.os === "linux"
  ? Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } })
  : null;

function gc(): void {
  // deno task soak passes --v8-flags=--expose-gc (and a fixed young
  // generation, so V8's heap sizing is not mistaken for growth).
  (globalThis as { gc?: () => void }).gc?.();
  libc?.symbols.malloc_trim(0n);
}

/** Full collections with pauses between, so V8 gives back the pages it
 * kept for the last burst (its heap total, not what is live). */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  gc();
}

function handles(): number {
  return EventLoop.default.stats().handles;
}

function rssMiB(): number {
  return Deno.memoryUsage().rss / (1 << 20);
}

/** The server side: echo, close when the client is done; counts both. */
class Server {
  open = 0;
  accepted = 0;
  closedWrong = 0;
  echoed = 0;
  serve(conn: Stream): void {
    this.open++;
    this.accepted++;
    conn.onData = (c: Stream, data: Uint8Array) => {
      this.echoed += data.length;
      c.send(data);
    };
    conn.onEnd = (c: Stream) => void c.close();
    conn.onClose = (_c: Stream, reason: string) => {
      this.open--;
      if (reason !== "peer" && reason !== "local") this.closedWrong++;
    };
    conn.onError = () => {};
  }
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`soak: ${what} not done within ${CYCLE_TIMEOUT_MS} ms`)),
      CYCLE_TIMEOUT_MS,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

let bytesBack = 0;

async function cycle(connect: () => Promise<Stream>): Promise<void> {
  const c = await connect();
  let got = 0;
  let closed = false;
  const echoed = new Promise<void>((resolve, reject) => {
    c.onData = (_c: Stream, d: Uint8Array) => {
      got += d.length;
      if (got >= MSG.length) resolve();
    };
    c.onClose = (_c: Stream, reason: string) => {
      closed = true;
      if (got < MSG.length) reject(new Error(`soak: closed (${reason}) after ${got} bytes`));
    };
  });
  c.send(MSG);
  await bounded(echoed, "echo");
  bytesBack += got;
  await bounded(c.close(), "close");
  if (!closed) throw new Error("soak: close() resolved before onClose");
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + CYCLE_TIMEOUT_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`soak: ${what} not reached within ${CYCLE_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function phase(name: string, n: number, batch: number, connect: () => Promise<Stream>, server: Server) {
  const t0 = performance.now();
  for (let done = 0; done < n;) {
    const k = Math.min(batch, n - done);
    const all: Promise<void>[] = [];
    for (let i = 0; i < k; i++) all.push(cycle(connect));
    await Promise.all(all);
    done += k;
  }
  await until(() => server.open === 0, `${name}: every server side closed`);
  const s = (performance.now() - t0) / 1000;
  gc();
  const m = Deno.memoryUsage();
  const mib = (b: number) => (b / (1 << 20)).toFixed(1);
  console.log(
    `soak: ${name}: ${n} cycles in ${s.toFixed(1)} s (${Math.round(n / s)}/s); rss ${mib(m.rss)} MiB, heap ${
      mib(m.heapTotal)
    }/${mib(m.heapUsed)} MiB, external ${mib(m.external)} MiB, fds ${fds()}, handles ${handles()}`,
  );
}

const tcpServer = new Server();
const listener = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 1024 } });
listener.onConnection = (_l, conn) => tcpServer.serve(conn);
const port = listener.localPort;
const tcp = () => TcpConnection.connect("127.0.0.1", port, { noDelay: true });

const pipeServer = new Server();
const dir = Deno.build.os === "windows" ? "" : Deno.makeTempDirSync({ prefix: "aio-soak-" });
const path = Deno.build.os === "windows" ? `\\\\.\\pipe\\aio-soak-${Deno.pid}` : `${dir}/soak.sock`;
const pipeListener = await PipeListener.listen(path);
pipeListener.onConnection = (_l, p) => pipeServer.serve(p);
const named = () => Pipe.connect(path);

// Warm-up: JIT, the arena, the table's growth, Deno's own buffers.
await phase("warm-up tcp sequential", WARMUP, 1, tcp, tcpServer);
await phase("warm-up tcp batches", WARMUP, BATCH, tcp, tcpServer);
await phase("warm-up named sequential", WARMUP, 1, named, pipeServer);
await phase("warm-up named batches", WARMUP, BATCH, named, pipeServer);
await settle();
const before = { fds: fds(), rss: rssMiB(), handles: handles() };

await phase("tcp sequential", CYCLES, 1, tcp, tcpServer);
await phase(`tcp batches of ${BATCH}`, CYCLES, BATCH, tcp, tcpServer);
await phase("named sequential", CYCLES, 1, named, pipeServer);
await phase(`named batches of ${BATCH}`, CYCLES, BATCH, named, pipeServer);

await settle();
const after = { fds: fds(), rss: rssMiB(), handles: handles() };
const total = 4 * CYCLES;
const wrong = tcpServer.closedWrong + pipeServer.closedWrong;
const expectBytes = (total + 4 * WARMUP) * MSG.length;
if (wrong) console.log(`soak: ${wrong} server sides closed with an unexpected reason`);
if (bytesBack !== expectBytes || tcpServer.echoed + pipeServer.echoed !== expectBytes) {
  console.log(
    `soak: bytes: ${bytesBack} back, ${tcpServer.echoed + pipeServer.echoed} echoed, ${expectBytes} expected`,
  );
}

listener.close();
pipeListener.close();
await until(() => handles() === 0, "every handle closed");
if (dir) Deno.removeSync(dir, { recursive: true });

const dFds = after.fds - before.fds, dRss = after.rss - before.rss, dHandles = after.handles - before.handles;
const sign = (n: number, digits = 0) => `${n < 0 ? "-" : "+"}${Math.abs(n).toFixed(digits)}`;
console.log(`soak: ${total} cycles, fds ${sign(dFds)}, rss ${sign(dRss, 1)}, handles ${sign(dHandles)}`);
const ok = dFds <= 0 && dHandles <= 0 && dRss < RSS_LIMIT_MIB && !wrong && bytesBack === expectBytes;
Deno.exit(ok ? 0 : 1);

/**
 * One server per core: a parent starts one worker process per core, and
 * the workers serve the connections of one port, each on its own loop.
 *
 *  - Linux: each worker listens with `reusePort` (SO_REUSEPORT); the kernel
 *    spreads incoming connections over the workers' listeners.
 *  - Windows has no SO_REUSEPORT, and a socket can belong to one I/O
 *    completion port only: a listening socket duplicated into several
 *    workers (WSADuplicateSocket) is one socket object, which only the
 *    first worker's loop can take (the others get AlreadyExists). So the
 *    parent accepts, and hands each accepted socket to the next worker in
 *    turn (as Node's cluster does on Windows): WSADuplicateSocket makes a
 *    WSAPROTOCOL_INFOW blob for that worker's process id, the worker turns
 *    it into a socket handle of its own with WSASocketW(FROM_PROTOCOL_INFO)
 *    and `adopt`s the handle value (examples/winsock_share.ts). A single
 *    worker process could adopt the listening socket itself the same way
 *    (`TcpListener.adopt`).
 *
 * Each worker answers every connection with one line naming itself, then
 * echoes. The server stops on ctrl-C / SIGTERM (ctrl-Break on Windows) or
 * when its stdin closes; workers stop when the parent closes their stdin.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-run --allow-net=127.0.0.1 \
 *     examples/multicore_server.ts [port] [workers]
 */
import { EventLoop, type OsHandle, TcpConnection, TcpListener } from "../mod.ts";
import { onStopSignal } from "./stop_signals.ts";
import { winsock } from "./winsock_share.ts";

const HOST = "127.0.0.1";
const windows = Deno.build.os === "windows";

if (Deno.args[0] === "--worker") await worker(Number(Deno.args[1]), Number(Deno.args[2]));
else await parent(Number(Deno.args[0] ?? 7070), Number(Deno.args[1] ?? navigator.hardwareConcurrency));

async function parent(port: number, count: number): Promise<void> {
  let acceptor: TcpListener | null = null;
  if (windows) {
    acceptor = await TcpListener.listen(HOST, port);
    port = acceptor.localPort;
  } else if (port === 0) {
    // Pick a free port for the group: listeners bound with port 0 would
    // each get a different one.
    const probe = await TcpListener.listen(HOST, 0, { reusePort: true });
    port = probe.localPort;
    probe.close();
  }
  const ws = windows ? winsock() : null;
  // Windows: accepted sockets handed over and not yet taken by their worker.
  const handedOver = new Map<number, bigint>();
  const workers: { child: Deno.ChildProcess; stdin: WritableStreamDefaultWriter<Uint8Array>; out: Promise<void> }[] =
    [];
  for (let i = 0; i < count; i++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-env",
        `--allow-net=${HOST}`,
        new URL(import.meta.url).href,
        "--worker",
        String(i),
        String(port),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Relay the worker's lines; "took <n>" says it owns socket n now, so
    // ours can go (closing it before the worker made its own could close
    // the connection).
    const out = (async () => {
      let rest = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        rest += text;
        for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          const took = /^took (\d+)$/.exec(line);
          if (!took) console.log(line);
          else if (ws && handedOver.has(Number(took[1]))) {
            ws.closesocket(handedOver.get(Number(took[1]))!);
            handedOver.delete(Number(took[1]));
          }
        }
      }
    })();
    workers.push({ child, stdin: child.stdin.getWriter(), out });
  }
  if (acceptor && ws) {
    let next = 0, serial = 0;
    acceptor.onAccept = (_l, handle: OsHandle) => {
      const sock = BigInt(handle);
      const w = workers[next++ % workers.length];
      const n = ++serial;
      try {
        // The blob is only valid in the process it was made for.
        const info = ws.duplicate(sock, w.child.pid);
        handedOver.set(n, sock);
        w.stdin.write(new TextEncoder().encode(`${n} ${hex(info)}\n`)).catch(() => {});
      } catch (error) {
        console.error(`could not hand a connection over: ${(error as Error).message}`);
        ws.closesocket(sock);
      }
    };
  }
  console.log(`multicore server on ${HOST}:${port}: ${count} workers (${EventLoop.default.backend})`);

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${why}: stopping the workers`);
    acceptor?.close();
    for (const w of workers) await w.stdin.close().catch(() => {});
    const codes = await Promise.all(workers.map((w) => w.child.status.then((s) => s.code)));
    await Promise.all(workers.map((w) => w.out));
    for (const sock of handedOver.values()) ws?.closesocket(sock);
    ws?.close();
    console.log(`stopped (worker exit codes ${codes.join(" ")})`);
    Deno.exit(codes.every((c) => c === 0) ? 0 : 1);
  };
  onStopSignal((signal) => stop(signal));
  // Closing our stdin stops the server too (tests, supervisors).
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* until EOF */ }
    await stop("stdin closed");
  })();
}

async function worker(index: number, port: number): Promise<void> {
  // A ctrl-C reaches the whole process group: the parent stops us.
  onStopSignal(() => {});
  let served = 0;
  const serve = (conn: TcpConnection) => {
    served++;
    conn.send(new TextEncoder().encode(`worker ${index} pid ${Deno.pid}\n`));
    conn.onData = (c, data) => {
      if (c.send(data) === "pressure") c.pauseReading();
    };
    conn.onWritable = (c) => c.resumeReading();
    conn.onEnd = (c) => c.close();
  };
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  if (windows) {
    // Each line from the parent: "<n> <WSAPROTOCOL_INFOW in hex>", one
    // accepted connection made for this process.
    const ws = winsock();
    console.log(`worker ${index} ready on ${HOST}:${port}`);
    let rest = "";
    for await (const text of lines) {
      rest += text;
      for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
        const [n, blob] = rest.slice(0, nl).split(" ");
        rest = rest.slice(nl + 1);
        const conn = TcpConnection.create();
        conn.adopt(ws.fromProtocolInfo(unhex(blob)));
        console.log(`took ${n}`);
        serve(conn);
      }
    }
    ws.close();
  } else {
    const listener = await TcpListener.listen(HOST, port, { reusePort: true });
    listener.onConnection = (_l, conn) => serve(conn);
    console.log(`worker ${index} ready on ${HOST}:${listener.localPort}`);
    // Until the parent closes our stdin.
    for await (const _ of lines) { /* nothing else comes */ }
    listener.close();
  }
  console.log(`worker ${index} done, ${served} connections`);
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

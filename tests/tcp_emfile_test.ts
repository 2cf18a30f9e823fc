/** At the descriptor limit: accept and connect errors, and accepting again once descriptors are free. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, isWindows, runScript, sleep } from "./helpers.ts";

// Runs in its own process: it lowers RLIMIT_NOFILE and fills every
// descriptor, which must not hurt the test runner.
const SCRIPT = `
import { EventLoop, ResourceExhausted, TcpConnection, TcpListener } from "MOD_URL";
const N = 100;
const libc = Deno.dlopen("libc.so.6", {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
}).symbols;
const RLIMIT_NOFILE = 7, AF_INET = 2, SOCK_STREAM = 1;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (msg) => { console.log("FAIL " + msg); Deno.exit(1); };

const acceptErrors = [];
EventLoop.default.addEventListener("error", (e) => {
  e.preventDefault();
  acceptErrors.push(e.error);
});
const l = await TcpListener.listen("127.0.0.1", 0);
const accepted = [];
l.onConnection = (_l, c) => {
  accepted.push(c);
  c.onData = () => {};
};

// Deno sets up its signal handling lazily, with a descriptor, and panics
// when that happens at the limit: have it done now.
const noop = () => {};
Deno.addSignalListener("SIGUSR2", noop);
Deno.removeSignalListener("SIGUSR2", noop);

// A soft limit that leaves room for N clients and, once the filler goes, N
// accepted connections.
// (/proc/self/fd would need --allow-all: probe with fcntl instead.)
let maxFd = 0;
for (let fd = 0; fd < 65536; fd++) if (libc.fcntl(fd, 1 /* F_GETFD */, 0) >= 0) maxFd = fd;
const rl = new BigUint64Array(2);
if (libc.getrlimit(RLIMIT_NOFILE, rl) !== 0) fail("getrlimit");
rl[0] = BigInt(maxFd + 1 + 2 * N + 64); // N clients, then N accepted
if (libc.setrlimit(RLIMIT_NOFILE, rl) !== 0) fail("setrlimit");

// N clients connect in this one synchronous turn, so the listener (which
// accepts in later turns) finds them all waiting in its backlog...
const sa = new Uint8Array(16);
new DataView(sa.buffer).setUint16(0, AF_INET, true);
new DataView(sa.buffer).setUint16(2, l.localPort, false);
sa.set([127, 0, 0, 1], 4);
const clients = [];
for (let i = 0; i < N; i++) {
  const fd = libc.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || libc.connect(fd, sa, 16) !== 0) fail("client " + i);
  clients.push(fd);
}
// ...and every descriptor left is taken.
const fill = [];
for (;;) {
  const fd = libc.dup(0);
  if (fd < 0) break;
  fill.push(fd);
}

// A connect at the limit rejects with the typed error.
try {
  await TcpConnection.connect("127.0.0.1", l.localPort);
  fail("connect at the limit succeeded");
} catch (e) {
  if (!(e instanceof ResourceExhausted) || e.code !== "EMFILE") fail("connect at the limit: " + e?.constructor?.name + " " + e);
}

// Accepting fails (and is retried) while nothing is free.
for (let t = Date.now(); acceptErrors.length < 2 && Date.now() - t < 5000;) await sleep(10);
if (acceptErrors.length < 2) fail("accept errors: " + acceptErrors.length);
for (const e of acceptErrors) {
  if (!(e instanceof ResourceExhausted) || e.code !== "EMFILE") fail("accept error: " + e?.constructor?.name + " " + e);
}
await sleep(300);
if (accepted.length !== 0) fail("accepted at the limit: " + accepted.length);

// Free the descriptors; no new client connects. Every queued connection
// must now be accepted, within a bounded time.
for (const fd of fill) libc.close(fd);
const t0 = Date.now();
while (accepted.length < N && Date.now() - t0 < 3000) await sleep(10);
console.log("accepted " + accepted.length + " of " + N + " in " + (Date.now() - t0) + " ms; accept errors " + acceptErrors.length);
for (const fd of clients) libc.close(fd);
for (const c of accepted) c.dispose();
l.close();
`;

Deno.test({
  name: "after EMFILE, connections already queued are accepted once descriptors are free, with no new client",
  ignore: isWindows,
  async fn() {
    const r = await runScript(SCRIPT, 60_000, ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"]);
    assertCleanExit(r, "EMFILE script");
    assert.match(r.stdout, /accepted 100 of 100 in \d+ ms/);
  },
});

// What Windows can check of the same: no fd limit can be reached there (or
// under Wine) without starving the runtime, but the path a listener takes
// after an accept error is the one it takes after any pause: stop posting
// AcceptEx, and post again on resume. Connections that wait meanwhile (in
// the kernel's backlog or in finished AcceptEx) must all arrive on resume
// with no new client to announce them.
Deno.test("a listener that stopped accepting takes every connection queued meanwhile on resume, with no new client", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 8, simultaneousAccepts: 2 } });
  const clients: TcpConnection[] = [];
  // No onConnection: the queue (8) fills and accepting stops; the rest wait.
  for (let i = 0; i < 12; i++) clients.push(await TcpConnection.connect("127.0.0.1", l.localPort, { timeoutMs: 5000 }));
  await sleep(200);
  let got = 0;
  l.onConnection = (_l, c) => {
    got++;
    c.dispose();
  };
  const deadline = Date.now() + 5_000;
  while (got < 12 && Date.now() < deadline) await sleep(5);
  assert.equal(got, 12);
  for (const c of clients) c.abort();
  l.close();
});

/** Listener control: maxConnections, reusePort, adopted listening sockets (LISTEN_FDS, WSADuplicateSocket), fromSystemd. */
import assert from "node:assert/strict";
import { EventLoop, type OsHandle, TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, FAULT_PATTERN, isWindows, runDeno, sleep, until, within } from "./helpers.ts";
import { winsock } from "../examples/winsock_share.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const FLAGS = ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"];

Deno.test("maxConnections holds: sockets beyond it are closed at once, and a closed one frees its slot", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.maxConnections = 2;
  const servers: TcpConnection[] = [];
  l.onConnection = (_l, s) => {
    s.onData = () => {};
    servers.push(s);
  };
  const clients: TcpConnection[] = [];
  try {
    const closed: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await TcpConnection.connect("127.0.0.1", l.localPort);
      c.onData = () => {};
      c.onClose = (_c, why) => closed.push(why);
      clients.push(c);
    }
    await until(() => closed.length === 2, 10_000, "two refused clients closed");
    assert.equal(l.connectionCount, 2);
    assert.equal(servers.length, 2);
    servers[0].abort();
    assert.equal(l.connectionCount, 1);
    const c = await TcpConnection.connect("127.0.0.1", l.localPort);
    clients.push(c);
    await until(() => servers.length === 3, 10_000, "a slot again");
    assert.equal(l.connectionCount, 2);
    assert.throws(() => (l.maxConnections = -1), RangeError);
  } finally {
    for (const c of [...clients, ...servers]) c.abort();
    l.close();
  }
});

Deno.test("connectionCount counts connections waiting for accept() too", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const c = await TcpConnection.connect("127.0.0.1", l.localPort);
  try {
    await until(() => l.connectionCount === 1, 10_000, "queued connection counted");
    const s = await l.accept();
    s.abort();
    assert.equal(l.connectionCount, 0);
  } finally {
    c.abort();
    l.close();
  }
});

// A server process: listens with reusePort on `port` (0: any, printed),
// answers each connection with its name, stops when stdin closes.
const REUSE_SERVER = `
import { TcpListener } from "${MOD}";
const [name, port] = Deno.args;
const l = await TcpListener.listen("127.0.0.1", Number(port), { reusePort: true });
l.onConnection = (_l, c) => { c.onData = () => {}; c.send(new TextEncoder().encode(name)); c.close(); };
console.log(l.localPort);
for await (const _ of Deno.stdin.readable) { /* until EOF */ }
l.close();
`;

function spawnServer(file: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...FLAGS, file, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  return {
    async firstLine(): Promise<string> {
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      return text.trim();
    },
    async stop(): Promise<void> {
      await child.stdin.close();
      lines.releaseLock();
      await child.stdout.cancel().catch(() => {});
      const status = await child.status;
      const err = await new Response(child.stderr).text();
      clearTimeout(timer);
      const fault = FAULT_PATTERN.exec(err);
      if (status.code !== 0 || fault) throw new Error(`server exit ${status.code}: ${err.slice(-2000)}`);
    },
  };
}

Deno.test({
  name: "two processes listening with reusePort on one port both accept (Linux)",
  ignore: isWindows,
  async fn() {
    const dir = await Deno.makeTempDir();
    const file = `${dir}/server.ts`;
    await Deno.writeTextFile(file, REUSE_SERVER);
    const a = spawnServer(file, ["A", "0"]);
    const port = Number(await a.firstLine());
    const b = spawnServer(file, ["B", String(port)]);
    try {
      assert.equal(Number(await b.firstLine()), port);
      const seen = new Set<string>();
      // The kernel spreads connections by a hash of the 4-tuple: a few
      // dozen connections reach both (bounded).
      for (let i = 0; i < 200 && seen.size < 2; i++) {
        const c = await TcpConnection.connect("127.0.0.1", port);
        const name = await within(
          new Promise<string>((r) => (c.onData = (_c, d) => r(new TextDecoder().decode(d)))),
          10_000,
          "name",
        );
        seen.add(name);
        c.abort();
      }
      assert.deepEqual([...seen].sort(), ["A", "B"]);
    } finally {
      await a.stop();
      await b.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "reusePort is a typed NotSupported error where the OS lacks it (Windows)",
  ignore: !isWindows,
  async fn() {
    await assert.rejects(TcpListener.listen("127.0.0.1", 0, { reusePort: true }), Deno.errors.NotSupported);
  },
});

Deno.test({
  name: "an adopted listening socket accepts: LISTEN_FDS in a child process (Linux)",
  ignore: isWindows,
  async fn() {
    // Perl plays systemd: a listening socket at fd 3, LISTEN_FDS=1 and
    // LISTEN_PID=its own pid, then exec (the pid stays) into deno.
    const dir = await Deno.makeTempDir();
    const script = `${dir}/activated.ts`;
    await Deno.writeTextFile(
      script,
      `
      import { TcpListener } from "${MOD}";
      const [l] = TcpListener.fromSystemd();
      console.log(l.localPort, Deno.env.get("LISTEN_FDS") ?? "unset");
      const c = await l.accept();
      await new Promise<void>((r) => { c.onData = (conn, d) => { conn.send(d); r(); }; });
      await c.close();
      l.close();
    `,
    );
    const perl = `
      use Socket; use POSIX;
      $^F = 255; # no close-on-exec for the socket
      socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
      bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
      listen($s, 16) or die "listen: $!";
      if (fileno($s) != 3) { POSIX::dup2(fileno($s), 3) or die "dup2: $!"; }
      $ENV{LISTEN_FDS} = "1"; $ENV{LISTEN_PID} = $$;
      exec(@ARGV) or die "exec: $!";
    `;
    const child = new Deno.Command("perl", {
      args: ["-e", perl, Deno.execPath(), "run", "--quiet", ...FLAGS, script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let line = "";
      while (!line.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        line += value;
      }
      reader.releaseLock();
      const [port, env] = line.trim().split(" ");
      assert.equal(env, "unset"); // the variables are taken
      const c = await TcpConnection.connect("127.0.0.1", Number(port));
      const echoed = new Promise<string>((r) => (c.onData = (_c, d) => r(new TextDecoder().decode(d))));
      c.send(new TextEncoder().encode("activated"));
      assert.equal(await within(echoed, 10_000, "echo"), "activated");
      c.abort();
      const status = await child.status;
      const err = await new Response(child.stderr).text();
      assert.equal(status.code, 0, err);
      assert.doesNotMatch(err, FAULT_PATTERN);
    } finally {
      clearTimeout(timer);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fromSystemd gives clear errors when the variables are absent or meant for another process",
  ignore: isWindows,
  async fn() {
    const script = `
      import { TcpListener } from "${MOD}";
      try { TcpListener.fromSystemd(); console.log("no error"); }
      catch (e) { console.log(e.constructor.name + ": " + e.message); }
    `;
    const dir = await Deno.makeTempDir();
    const file = `${dir}/s.ts`;
    await Deno.writeTextFile(file, script);
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [{}, /^NotFound: .*LISTEN_PID and LISTEN_FDS are not set/],
        [{ LISTEN_PID: "1", LISTEN_FDS: "1" }, /^NotFound: .*meant for process 1, this is \d+/],
        [{ LISTEN_PID: "abc", LISTEN_FDS: "1" }, /^InvalidData: .*LISTEN_PID/],
      ];
      for (const [env, expected] of cases) {
        const r = await runDeno(["run", "--quiet", ...FLAGS, file], 30_000, env);
        assertCleanExit(r, "subprocess");
        assert.match(r.stdout.trim(), expected);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fromSystemd is a typed NotSupported error on Windows",
  ignore: !isWindows,
  fn() {
    assert.throws(() => TcpListener.fromSystemd(), Deno.errors.NotSupported);
  },
});

Deno.test({
  name: "an adopted listening socket accepts: a socket duplicated with WSADuplicateSocket (Windows)",
  ignore: !isWindows,
  async fn() {
    const ws = winsock();
    try {
      const { sock, port } = ws.listen();
      // The hand-over a parent does for a worker, here within one process.
      const info = ws.duplicate(sock, Deno.pid);
      const dup = ws.fromProtocolInfo(info);
      ws.closesocket(sock);
      const l = TcpListener.adopt(dup);
      try {
        assert.equal(l.localPort, port);
        l.onConnection = (_l, s) => (s.onData = (conn, d) => conn.send(d));
        const c = await TcpConnection.connect("127.0.0.1", port);
        const echoed = new Promise<string>((r) => (c.onData = (_c, d) => r(new TextDecoder().decode(d))));
        c.send(new TextEncoder().encode("duplicated"));
        assert.equal(await within(echoed, 10_000, "echo"), "duplicated");
        c.abort();
      } finally {
        l.close();
      }
    } finally {
      ws.close();
    }
  },
});

Deno.test({
  name:
    "one listening socket duplicated into two loops: the second adopt is AlreadyExists (one completion port per socket)",
  ignore: !isWindows,
  async fn() {
    // Duplicates of a socket are one socket object, and Windows lets an
    // object belong to one I/O completion port (as libuv finds for imported
    // sockets): why examples/multicore_server.ts hands out accepted sockets
    // on Windows instead of the listening one.
    const ws = winsock();
    const other = new EventLoop();
    try {
      const { sock } = ws.listen();
      const a = ws.fromProtocolInfo(ws.duplicate(sock, Deno.pid));
      const b = ws.fromProtocolInfo(ws.duplicate(sock, Deno.pid));
      ws.closesocket(sock);
      const first = TcpListener.adopt(a);
      assert.throws(() => TcpListener.adopt(b, { loop: other }), Deno.errors.AlreadyExists);
      ws.closesocket(b); // refused: still ours
      first.close();
    } finally {
      await other.close();
      ws.close();
    }
  },
});

Deno.test("TcpListener.adopt refuses a socket that is not listening, and leaves it to the caller", async () => {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const raw = new Promise<OsHandle>((r) => (l.onAccept = (_l, h) => r(h)));
  const client = await TcpConnection.connect("127.0.0.1", l.localPort);
  try {
    const handle = await within(raw, 10_000, "onAccept");
    assert.throws(() => TcpListener.adopt(handle), TypeError);
    // Untouched: it still adopts as the connection it is.
    const server = TcpConnection.create();
    server.adopt(handle);
    const echoed = new Promise<string>((r) => (client.onData = (_c, d) => r(new TextDecoder().decode(d))));
    server.onData = (c, d) => c.send(d);
    client.send(new TextEncoder().encode("still mine"));
    assert.equal(await within(echoed, 10_000, "echo"), "still mine");
    server.abort();
  } finally {
    client.abort();
    l.close();
    await sleep(1);
  }
});

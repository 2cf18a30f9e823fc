/**
 * Every example is started as its own process, exercised, and stopped the
 * way a user stops it (a signal, or closing the helper's stdin); its output
 * and exit status are checked. Linux runs all of them; Windows (deno.exe
 * under Wine, where a test cannot send ctrl-C or ctrl-Break to a process)
 * runs the named-pipe pair, which stops through stdin.
 */
import assert from "node:assert/strict";
import { platformDir } from "../ffi/candidates.ts";
import { TcpConnection } from "../mod.ts";
import { COMPILED_PERMISSIONS, ENTRY } from "../tools/compile.ts";
import { assertCleanExit, FAULT_PATTERN, isWindows, pipePath, runDeno, until, within } from "./helpers.ts";

const root = new URL("../", import.meta.url);
const RUN_FLAGS = ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"];

/** A running example: its output so far, and how it ended. */
class Example {
  text = "";
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;
  #pumps: Promise<void>[];
  #timer: ReturnType<typeof setTimeout>;

  constructor(file: string | URL, args: string[], flags: string[], stdin: "piped" | "null" = "null") {
    const path = file instanceof URL ? file : new URL(file, root);
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", ...flags, path.href, ...args],
      stdin,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", AIO_LIBRARY: "" },
    }).spawn();
    // Bounded: an example that never stops is killed, and the test fails on its status.
    this.#timer = setTimeout(() => this.#child.kill("SIGKILL"), 60_000);
    this.#pumps = [this.#child.stdout, this.#child.stderr].map(async (s) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) this.text += chunk;
    });
    this.#status = this.#child.status;
  }

  /** Waits until the output matches `re`; returns the match. */
  async waitFor(re: RegExp, what: string, ms = 20_000): Promise<RegExpMatchArray> {
    try {
      await until(() => re.test(this.text), ms, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- output so far\n${this.text}`);
    }
    return re.exec(this.text)!;
  }

  /** Closes the example's standard input. */
  async closeStdin(): Promise<void> {
    await this.#child.stdin.close();
  }

  /** Sends a signal (Linux). */
  signal(sig: Deno.Signal): void {
    this.#child.kill(sig);
  }

  /** Waits for the exit; fails unless it was a clean exit 0. */
  async exited(what: string): Promise<string> {
    const status = await within(this.#status, 30_000, `${what} exits`);
    await Promise.all(this.#pumps);
    clearTimeout(this.#timer);
    const fault = FAULT_PATTERN.exec(this.text);
    if (status.code !== 0 || status.signal !== null || fault) {
      throw new Error(`${what}: exit ${status.code}, signal ${status.signal}, fault ${fault?.[0]}\n${this.text}`);
    }
    return this.text;
  }

  /** Kills it (cleanup after a failed assertion). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // gone already
    }
  }
}

/** A TCP client that collects lines. */
async function lineClient(port: number) {
  const conn = await TcpConnection.connect("127.0.0.1", port, { timeoutMs: 5000 });
  const state = { text: "", ended: false, closed: false };
  conn.onData = (_c, d) => (state.text += new TextDecoder().decode(d));
  conn.onEnd = (c) => {
    state.ended = true;
    c.close(); // with onEnd set, finishing our side is ours to do
  };
  conn.onClose = () => (state.closed = true);
  return {
    conn,
    state,
    say: (line: string) => conn.send(new TextEncoder().encode(`${line}\n`)),
    saw: (s: string, what = s) => until(() => state.text.includes(s), 10_000, `client sees "${what}"`),
  };
}

Deno.test({
  name: "echo server and client: connections come and go, bytes are counted, SIGTERM drains and exits 0",
  ignore: isWindows,
  fn: async () => {
    const server = new Example("examples/echo_server.ts", ["0"], RUN_FLAGS);
    try {
      const port = Number((await server.waitFor(/echo server on 127\.0\.0\.1:(\d+) \(epoll\)/, "listening"))[1]);
      for (let i = 0; i < 2; i++) {
        const client = await runDeno(
          ["run", "--quiet", ...RUN_FLAGS, new URL("examples/echo_client.ts", root).href, String(port)],
          30_000,
        );
        assertCleanExit(client, `client ${i}`);
        assert.equal(client.stdout, "hello\nfrom\n@eve/aio\n(20 bytes back)\n");
      }
      await server.waitFor(/(- 127\.0\.0\.1:\d+ peer, 20 bytes echoed \(0 open\)[\s\S]*){2}/, "two clients left");
      // One still connected when the signal comes: drained, not aborted.
      const idle = await lineClient(port);
      await server.waitFor(/\(1 open\)\n(?![\s\S]*- )/, "third client in");
      server.signal("SIGTERM");
      const out = await server.exited("echo server");
      assert.match(out, /SIGTERM: shutting down, 1 connection\(s\) open/);
      assert.match(out, /closed: 1 drained, 0 aborted; 3 connections, 40 bytes echoed in all/);
      await until(() => idle.state.closed, 10_000, "idle client closed by the drain");
      assert.equal(idle.state.ended, true, "the drain ended the stream with a FIN, not a reset");
    } finally {
      server.kill();
    }
  },
});

Deno.test({
  name: "chat server: join, /nick, broadcast, /who, /quit, and everyone told before a SIGINT shutdown",
  ignore: isWindows,
  fn: async () => {
    const server = new Example("examples/chat_server.ts", ["0"], RUN_FLAGS);
    try {
      const port = Number((await server.waitFor(/chat server on 127\.0\.0\.1:(\d+)/, "listening"))[1]);
      const a = await lineClient(port);
      await a.saw("* welcome, guest1");
      const b = await lineClient(port);
      await b.saw("* welcome, guest2");
      await a.saw("* guest2 joined");
      b.say("/nick bob");
      await a.saw("* guest2 is now bob");
      await b.saw("* guest2 is now bob");
      a.say("hello, bob");
      await b.saw("guest1: hello, bob");
      assert.ok(!a.state.text.includes("guest1: hello"), "no echo to the sender");
      b.say("/who");
      await b.saw("* here: guest1, bob");
      a.say("/quit");
      await a.saw("* bye");
      await until(() => a.state.closed, 10_000, "quitter closed");
      await b.saw("* guest1 left");
      server.signal("SIGINT");
      await b.saw("* server stopping (SIGINT)");
      await until(() => b.state.closed, 10_000, "bob closed by the shutdown");
      const out = await server.exited("chat server");
      assert.match(out, /closed: 1 drained, 0 aborted/);
    } finally {
      server.kill();
    }
  },
});

Deno.test({
  name: "graceful server: SIGTERM refuses new clients, lets a request finish, aborts one past the grace time",
  ignore: isWindows,
  fn: async () => {
    const server = new Example("examples/graceful_server.ts", ["0", "700"], RUN_FLAGS);
    try {
      const port = Number((await server.waitFor(/graceful server on 127\.0\.0\.1:(\d+)/, "listening"))[1]);
      const quick = await lineClient(port), slow = await lineClient(port), idle = await lineClient(port);
      quick.say("work 300");
      slow.say("work 20000");
      await quick.saw("started 300");
      await slow.saw("started 20000");
      idle.say("work 0");
      await idle.saw("done 0");
      server.signal("SIGTERM");
      await server.waitFor(/SIGTERM: listener stopped; 2 request\(s\) in flight, 700 ms to finish/, "stopping");
      await assert.rejects(TcpConnection.connect("127.0.0.1", port, { timeoutMs: 5000 }), "a new client is refused");
      await quick.saw("done 300");
      const out = await server.exited("graceful server");
      assert.match(out, /closed: 2 drained, 1 aborted \(1 with a request unfinished\)/);
      await until(() => quick.state.closed && slow.state.closed && idle.state.closed, 10_000, "all closed");
      assert.equal(quick.state.ended, true, "finished request: answered, then FIN");
      assert.equal(idle.state.ended, true, "idle connection: FIN");
      assert.ok(!slow.state.text.includes("done 20000"), "the late request got no answer");
      assert.equal(slow.state.ended, false, "the late request's connection was reset");
    } finally {
      server.kill();
    }
  },
});

Deno.test("named-pipe IPC between two processes: requests answered, the helper stops when its stdin closes", async () => {
  const path = pipePath(13);
  const flags = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env"];
  if (isWindows) flags.push(`--allow-net=unix:${path}`);
  const server = new Example("examples/pipe_server.ts", [path, "--until-stdin-closes"], flags, "piped");
  try {
    await server.waitFor(/pipe server on /, "listening");
    const client = await runDeno(
      ["run", "--quiet", ...flags, new URL("examples/pipe_client.ts", root).href, path, "hello", "named pipes"],
      30_000,
    );
    assertCleanExit(client, "pipe client");
    assert.equal(client.stdout.replaceAll("\r\n", "\n"), "> hello\n> named pipes\n< HELLO\n< NAMED PIPES\n");
    await server.closeStdin();
    const out = await server.exited("pipe server");
    assert.match(out, /stopped \(stdin closed\): 2 requests served; 0 drained, 0 aborted/);
  } finally {
    server.kill();
  }
});

Deno.test({
  name:
    "the compile example: the echo server runs from the layout `deno task compile` embeds, with the binary's permissions only",
  ignore: isWindows,
  fn: async () => {
    // `deno compile --include <lib> examples/echo_server.ts` embeds the
    // modules and the library at their paths relative to the checkout,
    // under /tmp/deno-compile-echo_server/. Reproduced here, and run with
    // exactly the permissions the task compiles in (no read, no env).
    const vfs = `${await Deno.makeTempDir()}/deno-compile-echo_server`;
    const lib = `native/build/${platformDir(Deno.build.os, Deno.build.arch)}/libaio.so`;
    const copy = async (rel: string) => {
      const from = new URL(rel, root);
      if ((await Deno.stat(from)).isDirectory) {
        for await (const e of Deno.readDir(from)) await copy(`${rel}/${e.name}`);
      } else {
        await Deno.mkdir(`${vfs}/${rel.slice(0, rel.lastIndexOf("/") + 1)}`, { recursive: true });
        await Deno.copyFile(from, `${vfs}/${rel}`);
      }
    };
    for (const rel of ["mod.ts", "src", "ffi", ENTRY, "examples/stop_signals.ts", lib]) await copy(rel);
    const server = new Example(new URL(`file://${vfs}/${ENTRY}`), ["0"], COMPILED_PERMISSIONS);
    try {
      const port = Number((await server.waitFor(/echo server on 127\.0\.0\.1:(\d+)/, "listening"))[1]);
      const c = await lineClient(port);
      c.say("compiled");
      await c.saw("compiled\n");
      c.conn.abort();
      await server.waitFor(/bytes echoed \(0 open\)/, "client gone");
      server.signal("SIGINT");
      assert.match(await server.exited("embedded echo server"), /closed: 0 drained, 0 aborted; 1 connections, 9 bytes/);
    } finally {
      server.kill();
      await Deno.remove(vfs.slice(0, vfs.lastIndexOf("/")), { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the demo (tools/demo.sh): clients come and go, three at once, bytes counted, the graceful drain, and it ends by itself",
  ignore: isWindows,
  fn: async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const r = await new Deno.Command("bash", {
      args: [new URL("tools/demo.sh", root).pathname],
      env: { PORT: String(port), NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, out);
    assert.doesNotMatch(out, FAULT_PATTERN);
    assert.equal(out.match(/\(20 bytes back\)/g)?.length, 2, out);
    assert.match(out, /\[server\] \+ 127\.0\.0\.1:\d+ \(3 open\)/);
    assert.match(out, /\[server\] - 127\.0\.0\.1:\d+ peer, 21 bytes echoed \(0 open\)/);
    assert.match(out, /\[server\] SIGINT: shutting down, 1 connection\(s\) open/);
    assert.match(out, /\[server\] closed: 1 drained, 0 aborted; 7 connections, 114 bytes echoed in all/);
    assert.match(out, /\[client 6\] still here/);
  },
});

Deno.test("multicore server: one worker per core on one port (Linux reusePort; Windows sockets handed over with WSADuplicateSocket), stops when stdin closes", async () => {
  const server = new Example("examples/multicore_server.ts", ["0", "2"], [...RUN_FLAGS, "--allow-run"], "piped");
  try {
    const port = Number((await server.waitFor(/multicore server on 127\.0\.0\.1:(\d+): 2 workers/, "listening"))[1]);
    await server.waitFor(/worker 0 ready[\s\S]*worker 1 ready|worker 1 ready[\s\S]*worker 0 ready/, "both workers");
    const seen = new Set<string>();
    // Linux: the kernel spreads connections by a hash of the 4-tuple;
    // Windows: the parent hands accepted sockets out in turn. Bounded tries.
    for (let i = 0; i < 100 && seen.size < 2; i++) {
      const client = await lineClient(port);
      await client.saw("\n", "its worker's line");
      seen.add(/worker (\d)/.exec(client.state.text)![1]);
      client.say("echo me");
      await client.saw("echo me");
      client.conn.abort();
    }
    assert.deepEqual([...seen].sort(), ["0", "1"]);
    await server.closeStdin();
    const out = await server.exited("multicore server");
    assert.match(out, /stopped \(worker exit codes 0 0\)/);
  } finally {
    server.kill();
  }
});

/** A CA and a server certificate for localhost/127.0.0.1, written to a temp dir (test-only, made now). */
async function tlsFiles(): Promise<{ dir: string; cert: string; key: string; ca: string }> {
  const { makePki } = await import("./tls_certs.ts");
  const pki = await makePki();
  const dir = await Deno.makeTempDir({ prefix: "aio-tls-" });
  const files = { cert: `${dir}/server.pem`, key: `${dir}/server.key`, ca: `${dir}/ca.pem` };
  await Deno.writeTextFile(files.cert, pki.server.cert);
  await Deno.writeTextFile(files.key, pki.server.key);
  await Deno.writeTextFile(files.ca, pki.ca.cert);
  return { dir, ...files };
}

Deno.test("TLS echo server and client: lines come back over TLS 1.3, the server stops when stdin closes", async () => {
  const f = await tlsFiles();
  const server = new Example(
    "examples/tls_echo_server.ts",
    [f.cert, f.key, "0", "--until-stdin-closes"],
    RUN_FLAGS,
    "piped",
  );
  try {
    const port = (await server.waitFor(/tls echo server on 127\.0\.0\.1:(\d+)/, "listening"))[1];
    const client = await runDeno(
      ["run", "--quiet", ...RUN_FLAGS, new URL("examples/tls_echo_client.ts", root).href, f.ca, port],
      30_000,
    );
    assertCleanExit(client, "tls echo client");
    assert.match(client.stdout, /^connected: TLSv1\.3, server certificate \d+ bytes\n/);
    assert.match(client.stdout.replaceAll("\r\n", "\n"), /hello\nover\nTLS\n\(15 bytes back\)\n$/);
    await server.waitFor(/- (local|peer)/, "client gone");
    await server.closeStdin();
    const out = await server.exited("tls echo server");
    assert.match(out, /\+ 127\.0\.0\.1:\d+ TLSv1\.3/);
    assert.match(out, /stopped \(stdin closed\): 1 connections, 15 bytes echoed/);
  } finally {
    server.kill();
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("STARTTLS line protocol: greeting in clear, upgrade, encrypted echo; bytes behind STARTTLS are refused", async () => {
  const f = await tlsFiles();
  const server = new Example(
    "examples/starttls_server.ts",
    [f.cert, f.key, "0", "--until-stdin-closes"],
    RUN_FLAGS,
    "piped",
  );
  try {
    const port = (await server.waitFor(/starttls server on 127\.0\.0\.1:(\d+)/, "listening"))[1];
    const client = await runDeno(
      ["run", "--quiet", ...RUN_FLAGS, new URL("examples/starttls_client.ts", root).href, f.ca, port, "one", "two"],
      30_000,
    );
    assertCleanExit(client, "starttls client");
    assert.equal(
      client.stdout.replaceAll("\r\n", "\n"),
      "< 220 aio STARTTLS demo\n< 220 go ahead\n* TLS: TLSv1.3\n> one\n> two\n< secure: one\n< secure: two\n",
    );
    // An injection: a command smuggled right behind STARTTLS, in clear.
    const evil = await TcpConnection.connect("127.0.0.1", Number(port), { timeoutMs: 5000 });
    let text = "";
    const closed = new Promise<void>((r) => (evil.onClose = () => r()));
    evil.onData = (_c, d) => (text += new TextDecoder().decode(d));
    evil.onEnd = (c) => c.close();
    evil.send(new TextEncoder().encode("STARTTLS\r\nMAIL FROM:<evil>\r\n"));
    await within(closed, 10_000, "refused connection closed");
    assert.match(text, /501 bytes after STARTTLS/);
    assert.doesNotMatch(text, /220 go ahead/);
    await server.closeStdin();
    const out = await server.exited("starttls server");
    assert.match(out, /upgraded: TLSv1\.3/);
    assert.match(out, /stopped \(stdin closed\): 1 upgraded, 1 refused/);
  } finally {
    server.kill();
    await Deno.remove(f.dir, { recursive: true });
  }
});

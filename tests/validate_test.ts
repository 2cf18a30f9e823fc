/** Invalid arguments throw synchronously, naming the argument; permissions are checked. */
import assert from "node:assert/strict";
import { Pipe, PipeListener, TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, FAULT_PATTERN, runScript } from "./helpers.ts";

Deno.test("invalid arguments throw synchronously and name the argument", () => {
  const conn = TcpConnection.create();
  assert.throws(() => conn.connect("127.0.0.1", 70000), { name: "RangeError", message: /port/ });
  assert.throws(() => conn.connect("127.0.0.1", 1.5), { name: "TypeError", message: /port/ });
  assert.throws(() => conn.connect(42 as unknown as string, 80), { name: "TypeError", message: /host/ });
  assert.throws(() => conn.connect("127.0.0.1", 80, { timeoutMs: -1 }), { name: "RangeError", message: /timeoutMs/ });
  assert.throws(() => conn.connect("127.0.0.1", 80, { signal: {} as AbortSignal }), /signal/);
  assert.equal(conn.state, "detached", "nothing half done");
  assert.throws(() => conn.send("text" as unknown as Uint8Array), { name: "TypeError", message: /data/ });
  assert.throws(() => TcpConnection.create({ highWaterMark: 10, lowWaterMark: 20 }), {
    name: "RangeError",
    message: /lowWaterMark/,
  });
  assert.throws(() => TcpConnection.create({ highWaterMark: -1 }), { name: "RangeError", message: /highWaterMark/ });
  assert.throws(() => TcpListener.create({ backlog: 0 }), { name: "RangeError", message: /backlog/ });
  assert.throws(() => conn.adopt(-1), { name: "RangeError", message: /handle/ });
  conn.dispose();
  assert.throws(() => conn.send(new Uint8Array(1)), { name: "TypeError", message: /disposed/ });
  assert.throws(() => conn.connect("127.0.0.1", 80), /disposed/);
  conn.dispose(); // twice: nothing
});

Deno.test("listen and connect without net permission fail with NotCapable", async () => {
  const r = await runScript(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    for (const f of [() => TcpListener.listen("127.0.0.1", 0), () => TcpConnection.connect("127.0.0.1", 9)]) {
      try { await f(); console.log("granted?"); } catch (e) { console.log(e.constructor.name); }
    }
  `,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.2"],
  );
  assertCleanExit(r, "subprocess");
  assert.equal(r.stdout.trim().split("\n").join(","), "NotCapable,NotCapable");
});

Deno.test("a named endpoint without read/write permission for its path fails with NotCapable", async () => {
  const dir = await Deno.makeTempDir();
  const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-test-15" : `${dir}/denied.sock`;
  const r = await runScript(
    `
    import { Pipe, PipeListener } from "MOD_URL";
    for (const f of [() => PipeListener.listen(${JSON.stringify(path)}), () => Pipe.connect(${JSON.stringify(path)})]) {
      try { await f(); console.log("granted?"); } catch (e) { console.log(e.constructor.name); }
    }
  `,
    30_000,
    // Reading the library is allowed; writing the endpoint is not.
    ["--allow-ffi", `--allow-read`, "--allow-env"],
  );
  await Deno.remove(dir, { recursive: true });
  assertCleanExit(r, "subprocess");
  assert.equal(r.stdout.trim().split("\n").join(","), "NotCapable,NotCapable");
});

/** Runs `script` (a pty) around a Deno script, answers Deno's permission prompt, returns the RESULT line. */
async function answerPrompt(source: string, answer: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/prompt.ts`;
  await Deno.writeTextFile(file, source.replaceAll("MOD_URL", new URL("../mod.ts", import.meta.url).href));
  const cmd = `${Deno.execPath()} run --allow-ffi --allow-read --allow-env ${file}`;
  const child = new Deno.Command("script", { args: ["-qec", cmd, "/dev/null"], stdin: "piped", stdout: "piped" })
    .spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const writer = child.stdin.getWriter();
  let text = "", answered = false;
  let status: Deno.CommandStatus;
  const decoder = new TextDecoder();
  try {
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      // Deno drops input typed before its prompt asks: answer once the
      // question is shown and it waits for input.
      if (!answered && /Allow\?.*>/.test(text)) {
        answered = true;
        await new Promise((r) => setTimeout(r, 200));
        await writer.write(new TextEncoder().encode(`${answer}\n`));
      }
    }
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
    status = await child.status;
    await Deno.remove(dir, { recursive: true });
  }
  // `script -e` exits with the status of the deno it ran.
  if (!status.success || FAULT_PATTERN.test(text)) {
    throw new Error(`deno under a pty: exit status ${status.code}, signal ${status.signal}\n${text}`);
  }
  return text.replaceAll("\r", "").split("\n").find((l) => l.startsWith("RESULT")) ?? `no result: ${text}`;
}

Deno.test({
  name: "with a terminal attached, listening prompts for net permission like Deno does",
  ignore: Deno.build.os === "windows", // no pty under Wine; `script` is Linux's
  async fn() {
    const source = `
      import { TcpListener } from "MOD_URL";
      try { const l = await TcpListener.listen("127.0.0.1", 0); console.log("RESULT granted"); l.close(); }
      catch (e) { console.log("RESULT " + e.constructor.name); }
    `;
    assert.equal(await answerPrompt(source, "n"), "RESULT NotCapable");
    assert.equal(await answerPrompt(source, "y"), "RESULT granted");
  },
});

Deno.test("a named endpoint path that is too long throws RangeError synchronously", async () => {
  const { Pipe, PipeListener } = await import("../mod.ts");
  const long = Deno.build.os === "windows" ? `\\\\.\\pipe\\${"x".repeat(300)}` : `/tmp/${"x".repeat(200)}.sock`;
  assert.throws(() => PipeListener.listen(long), { name: "RangeError", message: /path/ });
  assert.throws(() => Pipe.connect(long), { name: "RangeError", message: /path/ });
  assert.throws(() => Pipe.connect(""), TypeError);
});

Deno.test("a NUL or a lone surrogate in a host, path or pipe name is a synchronous TypeError", () => {
  const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-test-13" : "/tmp/aio-x.sock";
  const bad = [`${path}\0/../../allowed/x`, `\0`, `${path}\ud800`];
  for (const p of bad) {
    assert.throws(() => Pipe.connect(p), { name: "TypeError", message: /^path must/ }, JSON.stringify(p));
    assert.throws(() => PipeListener.listen(p), { name: "TypeError", message: /^path must/ }, JSON.stringify(p));
  }
  for (const h of ["127.0.0.1\0evil", "localhost\0", "\0", "local\udc00host"]) {
    const conn = TcpConnection.create();
    assert.throws(() => conn.connect(h, 80), { name: "TypeError", message: /^host must/ }, JSON.stringify(h));
    assert.equal(conn.state, "detached", "nothing half done");
    assert.throws(() => TcpConnection.connect(h, 80), { name: "TypeError", message: /^host must/ });
    const l = TcpListener.create();
    assert.throws(() => l.listen(h, 0), { name: "TypeError", message: /^host must/ });
    assert.throws(() => TcpListener.listen(h, 0), { name: "TypeError", message: /^host must/ });
    l.dispose();
  }
});

Deno.test("a NUL cannot carry a named endpoint past the permission scope", async () => {
  // The server lives outside the only directory the subprocess may use; the
  // NUL trick names a path inside it for the permission check.
  const allowed = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  const target = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-test-14" : `${outside}/srv.sock`;
  const server = await PipeListener.listen(target);
  let accepted = 0;
  server.onConnection = (_l, p) => {
    accepted++;
    p.send(new TextEncoder().encode("secret"));
  };
  try {
    const trick = `${target}\0/../../${allowed.replaceAll("\\", "/")}/x`;
    const r = await runScript(
      `
      import { Pipe, PipeListener } from "MOD_URL";
      const trick = ${JSON.stringify(trick)};
      for (const f of [() => Pipe.connect(trick), () => PipeListener.listen(trick), () => Pipe.connect(${
        JSON.stringify(target)
      })]) {
        try { await f(); console.log("connected"); } catch (e) { console.log(e.constructor.name); }
      }
    `,
      30_000,
      ["--allow-ffi", "--allow-read=" + allowed + "," + Deno.cwd(), "--allow-write=" + allowed, "--allow-env"],
    );
    assertCleanExit(r, "subprocess");
    assert.equal(r.stdout.trim().split("\n").join(","), "TypeError,TypeError,NotCapable");
    assert.equal(accepted, 0, "the server outside the scope saw no client");
  } finally {
    await server.close();
    await Deno.remove(allowed, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a NUL in a host is refused under a scoped --allow-net too", async () => {
  const r = await runScript(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    for (const f of [() => TcpConnection.connect("127.0.0.1\\0evil", 9), () => TcpListener.listen("127.0.0.1\\0x", 0)]) {
      try { await f(); console.log("granted?"); } catch (e) { console.log(e.constructor.name + ":" + e.message); }
    }
  `,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"],
  );
  assertCleanExit(r, "subprocess");
  assert.equal(r.stdout.trim(), "TypeError:host must not contain a NUL character\n".repeat(2).trim());
});

/** Invalid arguments throw synchronously, naming the argument; permissions are checked. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, runScript } from "./helpers.ts";

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
    await child.status;
    await Deno.remove(dir, { recursive: true });
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

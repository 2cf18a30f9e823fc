/** Invalid arguments throw synchronously, naming the argument; permissions are checked. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { runScript } from "./helpers.ts";

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
  assert.equal(r.code, 0, r.stderr);
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
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split("\n").join(","), "NotCapable,NotCapable");
});

/** Listening: dual stack, a pre-aborted listen, accept before listen, callbacks set after connections queued. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { assertCleanExit, runScript, sleep } from "./helpers.ts";

Deno.test("a dual-stack [::] listener accepts IPv4; ipv6Only refuses it", async () => {
  // Binding the wildcard needs net permission for "[::]", which the suite's
  // loopback-only scope does not grant: a subprocess gets it. All traffic
  // still goes to 127.0.0.1.
  const r = await runScript(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    const dual = await TcpListener.listen("::", 0);
    const accepted = dual.accept();
    const c4 = await TcpConnection.connect("127.0.0.1", dual.localPort);
    const s4 = await accepted;
    console.log(s4.remoteAddress.family, s4.remoteAddress.hostname);
    c4.abort(); s4.abort(); dual.close();
    const only = await TcpListener.listen("::", 0, { ipv6Only: true });
    try { await TcpConnection.connect("127.0.0.1", only.localPort); console.log("connected?"); }
    catch (e) { console.log(e.constructor.name); }
    only.close();
  `,
    30_000,
    ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=[::],127.0.0.1"],
  );
  assertCleanExit(r, "subprocess");
  assert.deepEqual(r.stdout.trim().split("\n"), ["6 ::ffff:127.0.0.1", "ConnectionRefused"]);
});

Deno.test("TcpListener.create + listen with a pre-aborted signal rejects and leaves it unbound", async () => {
  const l = TcpListener.create({ backlog: 16, simultaneousAccepts: 2 });
  await assert.rejects(l.listen("127.0.0.1", 0, { signal: AbortSignal.abort() }));
  assert.equal(l.isOpen, false);
  await l.listen("127.0.0.1", 0);
  assert.equal(l.isOpen, true);
  assert.throws(() => l.listen("127.0.0.1", 0), TypeError, "listening twice");
  l.close();
});

Deno.test("onConnection set after connections queued receives them, and accepting resumes", async () => {
  // Regression: queued connections never reached a late onConnection and
  // a full queue never resumed accepting.
  const l = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 1 } });
  const clients = [];
  for (let i = 0; i < 3; i++) clients.push(await TcpConnection.connect("127.0.0.1", l.localPort));
  await sleep(100);
  let got = 0;
  l.onConnection = (_l, c) => {
    got++;
    c.dispose();
  };
  for (let i = 0; i < 3; i++) clients.push(await TcpConnection.connect("127.0.0.1", l.localPort, { timeoutMs: 5000 }));
  const deadline = Date.now() + 10_000;
  while (got < 6 && Date.now() < deadline) await sleep(5);
  assert.equal(got, 6);
  for (const c of clients) c.abort();
  l.close();
});

Deno.test("accept() on a listener that never listened rejects", async () => {
  const l = TcpListener.create();
  await assert.rejects(l.accept(), TypeError);
  l.close();
});

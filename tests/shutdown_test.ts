/** ShutdownCoordinator: drain what can drain, abort what cannot. */
import assert from "node:assert/strict";
import { ShutdownCoordinator, TcpConnection, TcpListener } from "../mod.ts";
import { pattern, sha256, Sink, until, within } from "./helpers.ts";
import { unsafeCloseReason } from "../src/unsafe.ts";

Deno.test("shutdown delivers every queued byte of 100 connections mid-transfer and closes them gracefully", async () => {
  const coord = new ShutdownCoordinator();
  const l = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 128 } });
  assert.equal(l.track(coord), true);
  const size = 256 * 1024;
  const servers: TcpConnection[] = [];
  l.onConnection = (_l, c) => {
    c.track(coord);
    servers.push(c);
  };
  const clients = await Promise.all(Array.from({ length: 100 }, () => TcpConnection.connect("127.0.0.1", l.localPort)));
  await until(() => servers.length === 100, 20_000, "100 accepted");
  const sinks = clients.map((c) => {
    const s = new Sink();
    c.onData = (_c, d) => s.push(d);
    c.onEnd = () => {};
    return s;
  });
  const data = pattern(size, 11);
  for (const s of servers) s.send(data); // mid-transfer: queued when shutdown starts
  assert.equal(coord.size, 101);
  const result = await within(coord.shutdown(), 60_000, "shutdown");
  assert.deepEqual(result, { drained: 100, aborted: 0 });
  assert.equal(l.isOpen, false, "listener stopped");
  await until(() => sinks.every((s) => s.length === size), 30_000, "every byte delivered");
  const want = await sha256(data);
  for (const s of sinks) assert.equal(await sha256(s.bytes()), want);
  assert.equal(coord.size, 0);
  await Promise.all(clients.map((c) => c.close()));
});

Deno.test("shutdown aborts a connection whose peer never reads when the signal fires", async () => {
  const coord = new ShutdownCoordinator();
  const l = await TcpListener.listen("127.0.0.1", 0);
  const accepted = l.accept();
  const reader = await TcpConnection.connect("127.0.0.1", l.localPort);
  const stuck = await TcpConnection.connect("127.0.0.1", l.localPort);
  const a = await accepted;
  const b = await l.accept();
  reader.onData = () => {};
  stuck.onData = () => {};
  stuck.pauseReading(); // never reads: its server side cannot drain
  coord.track(a);
  coord.track(b);
  coord.track(l);
  const serverOfStuck = b.remoteAddress?.port === stuck.localAddress?.port ? b : a;
  serverOfStuck.send(pattern(64 << 20, 1));
  a.send(new Uint8Array(10));
  b.send(new Uint8Array(10));
  const result = await within(coord.shutdown({ signal: AbortSignal.timeout(500) }), 30_000, "shutdown");
  assert.deepEqual(result, { drained: 1, aborted: 1 });
  assert.equal(unsafeCloseReason(serverOfStuck), "aborted");
  reader.abort();
  stuck.abort();
});

Deno.test("a connection reset during shutdown counts as neither drained nor aborted", async () => {
  const coord = new ShutdownCoordinator();
  const l = await TcpListener.listen("127.0.0.1", 0);
  const accepted = l.accept();
  const peer = await TcpConnection.connect("127.0.0.1", l.localPort);
  const server = await accepted;
  server.track(coord);
  peer.pauseReading();
  peer.onData = () => {};
  server.send(new Uint8Array(16 << 20)); // cannot drain while the peer is paused
  const result = coord.shutdown();
  setTimeout(() => peer.abort(), 50);
  assert.deepEqual(await within(result, 20_000, "shutdown"), { drained: 0, aborted: 0 });
  assert.equal(unsafeCloseReason(server), "reset");
  l.close();
});

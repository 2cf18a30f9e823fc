/** Backpressure (water marks) and pause/resume. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { pattern, sha256, Sink, sleep, until, within } from "./helpers.ts";

async function pair(config?: { highWaterMark?: number; lowWaterMark?: number }) {
  const listener = await TcpListener.listen("127.0.0.1", 0);
  const accepted = listener.accept();
  const client = await TcpConnection.connect("127.0.0.1", listener.localPort, { config });
  const server = await accepted;
  return { listener, client, server };
}

Deno.test("send reports pressure at the high water mark and onWritable fires after the peer resumes", async () => {
  const high = 256 * 1024, low = 64 * 1024, chunk = 16 * 1024;
  const { listener, client, server } = await pair({ highWaterMark: high, lowWaterMark: low });
  const sink = new Sink();
  server.onData = (_c, d) => sink.push(d);
  server.pauseReading();
  const data = pattern(64 << 20, 3);
  let sent = 0, pressure = false;
  // Bounded: the kernel buffers fill, then our queue reaches the mark.
  for (let i = 0; i < 4096 && !pressure; i++) {
    const r = client.send(data.subarray(sent, sent + chunk));
    sent += chunk;
    assert.ok(client.sendQueueLen <= high + chunk, `queue ${client.sendQueueLen} > high + one send`);
    if (r === "pressure") pressure = true;
    else assert.equal(r, "ok");
    if (i % 16 === 15) await sleep(1); // let the kernel take what it will
  }
  assert.ok(pressure, "send reported pressure");
  assert.ok(client.sendQueueLen >= high);
  assert.equal(client.isWritable, false);
  const writable = new Promise<void>((r) => (client.onWritable = () => r()));
  await sleep(100);
  server.resumeReading();
  await within(writable, 30_000, "onWritable");
  assert.ok(client.sendQueueLen <= low);
  await until(() => sink.length === sent, 30_000, "all bytes arrive");
  assert.equal(await sha256(sink.bytes()), await sha256(data.subarray(0, sent)));
  await client.close();
  await server.close();
  listener.close();
});

Deno.test("write() resolves only once the queue is below the high water mark", async () => {
  const high = 64 * 1024;
  const { listener, client, server } = await pair({ highWaterMark: high, lowWaterMark: 0 });
  const sink = new Sink();
  server.onData = (_c, d) => sink.push(d);
  server.pauseReading();
  const big = pattern(32 << 20, 9);
  let resolved = false;
  const w = client.write(big).then(() => (resolved = true));
  await sleep(100);
  assert.equal(resolved, false, "write waits while the peer is paused");
  server.resumeReading();
  await within(w, 30_000, "write");
  assert.ok(client.sendQueueLen < high);
  await until(() => sink.length === big.length, 30_000, "all bytes arrive");
  await client.close();
  await server.close();
  listener.close();
});

Deno.test("pause/resume with 8 MiB in flight delivers nothing while paused and all of it after, in order", async () => {
  const { listener, client, server } = await pair();
  const sink = new Sink();
  let whilePaused = 0, paused = false;
  server.onData = (_c, d) => {
    if (paused) whilePaused += d.length;
    sink.push(d);
  };
  await until(() => true, 10, "");
  server.pauseReading();
  paused = true;
  const data = pattern(8 << 20, 5);
  client.send(data);
  await sleep(300);
  assert.equal(whilePaused, 0, "no data delivered while paused");
  paused = false;
  server.resumeReading();
  await within(until(() => sink.length === data.length, 30_000, "8 MiB"), 31_000, "resume");
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  await client.close();
  await server.close();
  listener.close();
});

Deno.test("bytes sent while connecting that the OS takes at once still wake write() and onWritable", async () => {
  // Regression: the queue emptied with no WRITTEN record, so nobody woke.
  const l = await TcpListener.listen("127.0.0.1", 0);
  l.onConnection = (_l, s) => (s.onData = () => {});
  const c = TcpConnection.create({ highWaterMark: 10, lowWaterMark: 0 });
  const connected = c.connect("127.0.0.1", l.localPort);
  const writable = new Promise<void>((r) => (c.onWritable = () => r()));
  const w = c.write(new Uint8Array(20)); // "pressure" while connecting
  await connected;
  await within(w, 5_000, "write");
  await within(writable, 5_000, "onWritable");
  assert.equal(c.sendQueueLen, 0);
  await c.close();
  l.close();
});

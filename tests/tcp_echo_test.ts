/** Bulk and many-connection echo, verified byte for byte. */
import assert from "node:assert/strict";
import { TcpConnection, TcpListener } from "../mod.ts";
import { pattern, sha256, Sink, within } from "./helpers.ts";

function echoServer(listener: TcpListener): void {
  listener.onConnection = (_l, conn) => {
    conn.onData = (c, data) => {
      if (c.send(data) === "pressure") {
        c.pauseReading();
        c.onWritable = (c2) => c2.resumeReading();
      }
    };
  };
}

async function sendAll(conn: TcpConnection, data: Uint8Array, chunk: number): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    await conn.write(data.subarray(off, off + chunk));
  }
}

Deno.test("64 MiB echo through one connection arrives intact", async () => {
  const listener = await TcpListener.listen("127.0.0.1", 0);
  echoServer(listener);
  const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
  const data = pattern(64 << 20, 7);
  const sink = new Sink();
  const done = new Promise<void>((resolve) => {
    conn.onData = (_c, d) => {
      sink.push(d);
      if (sink.length >= data.length) resolve();
    };
  });
  await within(Promise.all([sendAll(conn, data, 256 * 1024), done]), 120_000, "64 MiB echo");
  assert.equal(sink.length, data.length);
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  assert.equal(conn.bytesWritten, data.length);
  assert.equal(conn.bytesRead, data.length);
  await conn.close();
  listener.close();
});

Deno.test("1,000 concurrent connections each echo 64 KiB", async () => {
  const listener = await TcpListener.listen("127.0.0.1", 0, { config: { backlog: 1024 } });
  echoServer(listener);
  const count = 1000, size = 64 * 1024;
  const one = async (i: number) => {
    const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
    const data = pattern(size, i + 1);
    const sink = new Sink();
    const done = new Promise<void>((resolve) => {
      conn.onData = (_c, d) => {
        sink.push(d);
        if (sink.length >= size) resolve();
      };
    });
    conn.send(data);
    await done;
    assert.deepEqual(sink.bytes(), data, `connection ${i}`);
    await conn.close();
  };
  await within(Promise.all(Array.from({ length: count }, (_, i) => one(i))), 120_000, "1000 echoes");
  listener.close();
});

Deno.test("messages around the read buffer's size arrive whole and in order, with pauses between", async () => {
  // On IOCP a socket reads into its own 1 KiB buffer first and goes on from
  // the kernel after a full one; sizes on both sides of that edge, and a
  // reader paused while bytes are buffered, must lose and reorder nothing.
  const listener = await TcpListener.listen("127.0.0.1", 0);
  echoServer(listener);
  const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, { noDelay: true });
  const sizes = [1, 63, 1023, 1024, 1025, 2047, 2048, 2049, 4096 + 7, 65536 + 1];
  try {
    for (const [k, size] of sizes.entries()) {
      const msg = pattern(size, k + 1);
      const sink = new Sink();
      const whole = new Promise<void>((resolve) => {
        conn.onData = (c, d) => {
          sink.push(d);
          // Pause after the first piece; resume a little later.
          if (sink.length === d.length && sink.length < size) {
            c.pauseReading();
            setTimeout(() => c.resumeReading(), 5);
          }
          if (sink.length >= size) resolve();
        };
      });
      conn.send(msg);
      await within(whole, 10_000, `echo of ${size} bytes`);
      assert.equal(sink.length, size, `size ${size}`);
      assert.equal(await sha256(sink.bytes()), await sha256(msg), `content of ${size} bytes`);
    }
  } finally {
    await conn.close();
    listener.close();
  }
});

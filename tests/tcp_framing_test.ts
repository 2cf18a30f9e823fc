/** Framing and reading: bufferUntil, a live readBufferSize change, yieldRead. */
import assert from "node:assert/strict";
import type { TcpConnection } from "../mod.ts";
import { pattern, sha256, Sink, sleep, tcpPair, until, within } from "./helpers.ts";

// Sends `data` in odd-sized pieces with pauses, so reads see many splits.
async function sendOdd(c: TcpConnection, data: Uint8Array): Promise<void> {
  const sizes = [1, 7, 3, 13, 29, 2, 101, 5, 997, 11];
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - off);
    c.send(data.subarray(off, off + n));
    off += n;
    if (i % 16 === 0) await sleep(1);
  }
}

Deno.test("bufferUntil(10) over odd-sized pieces delivers only 10-byte chunks, nothing lost", async () => {
  const p = await tcpPair({ noDelay: true });
  try {
    const data = pattern(10 * 3_001, 3);
    const sink = new Sink();
    const sizes = new Set<number>();
    p.s.bufferUntil(10);
    p.s.onData = (_c, d) => {
      sizes.add(d.length);
      sink.push(d);
    };
    await sendOdd(p.c, data);
    await until(() => sink.length === data.length, 20_000, "all bytes");
    assert.deepEqual([...sizes], [10]);
    assert.equal(await sha256(sink.bytes()), await sha256(data));
  } finally {
    p.done();
  }
});

Deno.test("bufferUntil changes on the way keep every byte in order, and 'streaming' goes back", async () => {
  const p = await tcpPair({ noDelay: true });
  try {
    const data = pattern(20_000, 5);
    const sink = new Sink();
    const bad: number[] = [];
    let frame = 7;
    p.s.bufferUntil(frame);
    let n = 0;
    p.s.onData = (c, d) => {
      if (frame && d.length !== frame) bad.push(d.length);
      sink.push(d);
      // Re-frame from inside onData every few chunks, then stream.
      if (++n % 50 === 0) {
        frame = frame === 7 ? 33 : frame === 33 ? 0 : 7;
        c.bufferUntil(frame || "streaming");
      }
    };
    await sendOdd(p.c, data);
    // Whatever is left in a partial frame at the end is not lost either:
    // streaming delivers it, or the peer's end does.
    await sleep(50);
    p.s.bufferUntil("streaming");
    frame = 0;
    await until(() => sink.length === data.length, 20_000, "all bytes");
    assert.deepEqual(bad, []);
    assert.equal(await sha256(sink.bytes()), await sha256(data));
  } finally {
    p.done();
  }
});

Deno.test("bufferUntil delivers a partial frame short at the peer's end", async () => {
  const p = await tcpPair({ noDelay: true });
  try {
    const got: number[] = [];
    p.s.bufferUntil(10);
    p.s.onData = (_c, d) => got.push(d.length);
    const ended = new Promise<void>((r) => (p.s.onEnd = () => r()));
    p.c.send(new Uint8Array(25));
    await p.c.closeWrite();
    await within(ended, 10_000, "end");
    assert.deepEqual(got, [10, 10, 5]);
  } finally {
    p.done();
  }
});

Deno.test("a live readBufferSize change loses nothing", async () => {
  const p = await tcpPair({ noDelay: true });
  try {
    const data = pattern(4 << 20, 9);
    const sink = new Sink();
    let max = 0;
    let phase = 0;
    const sizes = [1024, 65536, 333, 1 << 20, 4096];
    p.s.onData = (c, d) => {
      sink.push(d);
      if (phase === sizes.length) max = Math.max(max, d.length);
      // Change the read size while bytes keep arriving.
      if (sink.length > (phase + 1) * 600_000 && phase < sizes.length) c.readBufferSize = sizes[phase++];
    };
    for (let off = 0; off < data.length; off += 256 * 1024) {
      await p.c.write(data.subarray(off, off + 256 * 1024));
    }
    await until(() => sink.length === data.length, 30_000, "all bytes");
    assert.equal(phase, sizes.length);
    assert.equal(p.s.readBufferSize, 4096);
    assert.ok(max <= 4096, `a read of ${max} bytes after the size went to 4096`);
    assert.equal(await sha256(sink.bytes()), await sha256(data));
    assert.throws(() => (p.s.readBufferSize = 0), RangeError);
  } finally {
    p.done();
  }
});

Deno.test("yieldRead hands the loop to other connections and reading resumes by itself", async () => {
  const a = await tcpPair({ noDelay: true });
  const b = await tcpPair({ noDelay: true });
  try {
    const data = pattern(2 << 20, 11);
    const sinkA = new Sink(), sinkB = new Sink();
    const order: string[] = [];
    a.s.onData = (c, d) => {
      sinkA.push(d);
      order.push("a");
      c.yieldRead();
    };
    b.s.onData = (_c, d) => {
      sinkB.push(d);
      order.push("b");
    };
    const sendAll = async (c: TcpConnection) => {
      for (let off = 0; off < data.length; off += 128 * 1024) await c.write(data.subarray(off, off + 128 * 1024));
    };
    await Promise.all([sendAll(a.c), sendAll(b.c)]);
    await until(() => sinkA.length === data.length && sinkB.length === data.length, 30_000, "all bytes");
    assert.equal(await sha256(sinkA.bytes()), await sha256(data));
    assert.equal(await sha256(sinkB.bytes()), await sha256(data));
    // The yielding connection never ran twice in a row while the other had data.
    const firstB = order.indexOf("b"), lastB = order.lastIndexOf("b");
    let aRuns = 0;
    for (let i = firstB; i <= lastB; i++) {
      if (order[i] === "a" && order[i - 1] === "a") aRuns++;
    }
    assert.ok(aRuns <= order.length / 4, `a ran back to back ${aRuns} times of ${order.length}`);
  } finally {
    a.done();
    b.done();
  }
});

Deno.test("pauseReading during a yield wins; resumeReading continues", async () => {
  const p = await tcpPair({ noDelay: true });
  try {
    const sink = new Sink();
    p.s.onData = (c, d) => {
      sink.push(d);
      c.yieldRead();
      c.pauseReading();
    };
    p.c.send(new Uint8Array(100));
    await until(() => sink.length > 0, 10_000, "first bytes");
    p.c.send(new Uint8Array(100));
    await sleep(100);
    const held = sink.length;
    assert.ok(held <= 200);
    p.s.onData = (_c, d) => sink.push(d);
    p.s.resumeReading();
    await until(() => sink.length === 200, 10_000, "the rest after resume");
  } finally {
    p.done();
  }
});

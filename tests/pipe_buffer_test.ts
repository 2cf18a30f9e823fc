/** A named endpoint's OS buffer: larger than Linux's default for Unix sockets, both ways (docs/DESIGN.md, "Unix socket buffers"). */
import assert from "node:assert/strict";
import { Pipe, PipeListener } from "../mod.ts";
import { isWindows, pattern, pipePath, sha256, Sink, sleep, within } from "./helpers.ts";

const BURST = 768 * 1024;

// What a Unix socket's send buffer is by default (wmem_default): the
// kernel takes about this much (219,264 bytes here with the default of
// 212,992) from a writer whose reader is not reading. Ours is at least
// twice as large even where wmem_max is the stock 212,992.
function defaultSendBuffer(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/net/core/wmem_default").trim());
  } catch {
    return 212_992; // Linux's own default
  }
}

// Sends BURST bytes to a peer that reads nothing yet; returns how many the
// OS took once the queue stopped moving.
async function burst(writer: Pipe, data: Uint8Array): Promise<number> {
  writer.send(data);
  let last = -1;
  for (let i = 0; i < 40 && writer.sendQueueLen !== last; i++) {
    last = writer.sendQueueLen;
    await sleep(25);
  }
  return data.length - writer.sendQueueLen;
}

// Reads everything the writer sent and checks it.
async function drain(reader: Pipe, data: Uint8Array): Promise<void> {
  const sink = new Sink();
  const done = new Promise<void>((resolve) => {
    reader.onData = (_p, d) => {
      sink.push(d);
      if (sink.length >= data.length) resolve();
    };
  });
  await within(done, 20_000, "the burst is read");
  assert.equal(await sha256(sink.bytes()), await sha256(data));
}

Deno.test("a named endpoint's OS buffer takes a burst beyond Linux's default socket buffer, both ways", async () => {
  const listener = await PipeListener.listen(pipePath(15));
  try {
    const accepted = listener.accept();
    const client = await Pipe.connect(listener.path, { timeoutMs: 20_000 });
    const server = await within(accepted, 20_000, "accept");
    // Neither end has onData yet: nothing is read, so whatever the writer's
    // queue no longer holds sits in the OS's buffers.
    for (const [writer, reader, seed] of [[client, server, 1], [server, client, 2]] as const) {
      const data = pattern(BURST, seed);
      const taken = await burst(writer, data);
      // A Windows named pipe's buffer is its bufferSize (64 KiB by default)
      // and a write waits for the reader there; the Unix socket buffer is
      // what this test is about.
      if (!isWindows) {
        assert.ok(
          taken > defaultSendBuffer() * 1.5,
          `the OS took ${taken} bytes of ${BURST}; its default send buffer is ${defaultSendBuffer()}`,
        );
      }
      await drain(reader, data);
      // The writer hears that the OS took the last bytes in its own record,
      // which may come after the reader has them (Windows: the write's
      // completion).
      for (let i = 0; i < 200 && writer.sendQueueLen > 0; i++) await sleep(10);
      assert.equal(writer.sendQueueLen, 0);
    }
    await client.close();
    await server.close();
  } finally {
    listener.close();
  }
});

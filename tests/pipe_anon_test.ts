/** Anonymous pipe pairs and adopted handles. */
import assert from "node:assert/strict";
import { closePipe, type CloseReason, createPipe, EventLoop, Pipe } from "../mod.ts";
import { FAULT_PATTERN, isWindows, pattern, sha256, Sink, sleep, until, within } from "./helpers.ts";

function pair(config?: { highWaterMark?: number; lowWaterMark?: number }) {
  const p = createPipe();
  const reader = Pipe.create();
  reader.adoptRead(p.readEnd);
  const writer = Pipe.create(config);
  writer.adoptWrite(p.writeEnd);
  return { reader, writer, p };
}

Deno.test("64 MiB through an anonymous pair arrives intact; the writer closing gives the reader everything, then peer", async () => {
  const { reader, writer } = pair();
  const data = pattern(64 << 20, 21);
  const sink = new Sink();
  reader.onData = (_p, d) => sink.push(d);
  const closed = new Promise<CloseReason>((r) => (reader.onClose = (_p, reason) => r(reason)));
  for (let off = 0; off < data.length; off += 1 << 20) await writer.write(data.subarray(off, off + (1 << 20)));
  await writer.close();
  assert.equal(await within(closed, 60_000, "reader closes"), "peer");
  assert.equal(sink.length, data.length);
  assert.equal(await sha256(sink.bytes()), await sha256(data));
  assert.equal(reader.bytesRead, data.length);
  assert.equal(writer.bytesWritten, data.length);
});

Deno.test("a paused reader makes the writer report pressure, then onWritable after resume", async () => {
  const high = 128 * 1024;
  const { reader, writer } = pair({ highWaterMark: high, lowWaterMark: 16 * 1024 });
  const sink = new Sink();
  reader.onData = (_p, d) => sink.push(d);
  reader.pauseReading();
  const chunk = pattern(16 * 1024, 4);
  let sent = 0, pressure = false;
  for (let i = 0; i < 4096 && !pressure; i++) {
    pressure = writer.send(chunk) === "pressure";
    sent += chunk.length;
    assert.ok(writer.sendQueueLen <= high + chunk.length);
    if (i % 16 === 15) await sleep(1);
  }
  assert.ok(pressure, "pressure reported");
  const writable = new Promise<void>((r) => (writer.onWritable = () => r()));
  await sleep(50);
  reader.resumeReading();
  await within(writable, 30_000, "onWritable");
  await until(() => sink.length === sent, 30_000, "all data");
  await writer.close();
  await reader.close();
});

Deno.test("a write end cannot read and a read end cannot send", () => {
  const { reader, writer } = pair();
  assert.throws(() => reader.send(new Uint8Array(1)), { name: "TypeError", message: /only reads/ });
  assert.equal(writer.send(new Uint8Array(1)), "ok");
  reader.dispose();
  writer.dispose();
});

Deno.test("closePipe closes the ends no Pipe adopted and leaves adopted ones alone", async () => {
  const p = createPipe();
  const reader = Pipe.create();
  reader.adoptRead(p.readEnd);
  const closed = new Promise<CloseReason>((r) => (reader.onClose = (_p, reason) => r(reason)));
  reader.onData = () => {};
  closePipe(p); // closes the write end only: the reader sees the end
  assert.equal(await within(closed, 10_000, "reader closes"), "peer");
  const q = createPipe();
  closePipe(q);
  assert.throws(() => closePipe({} as never), TypeError);
});

Deno.test("close while reads and writes are pending: no crash, no leak, no late callback", async () => {
  const loop = new EventLoop();
  try {
    const p = createPipe();
    const reader = Pipe.create(undefined, loop);
    reader.adoptRead(p.readEnd);
    const writer = Pipe.create(undefined, loop);
    writer.adoptWrite(p.writeEnd);
    let late = 0;
    reader.onData = () => late++;
    reader.pauseReading();
    writer.send(new Uint8Array(8 << 20));
    reader.dispose();
    writer.abort();
    await sleep(50);
    assert.equal(late, 0);
    assert.equal(loop.stats().handles, 0);
  } finally {
    await loop.close();
  }
});

Deno.test("a writer whose reader is gone closes with reason peer", async () => {
  const { reader, writer } = pair();
  const reason = new Promise<CloseReason>((r) => (writer.onClose = (_w, why) => r(why)));
  reader.dispose();
  for (let i = 0; i < 64 && writer.isOpen; i++) {
    writer.send(new Uint8Array(64 * 1024));
    await sleep(5);
  }
  assert.equal(await within(reason, 10_000, "writer closes"), "peer");
});

Deno.test("a read end whose readable is in use closes with peer after the writer's end", async () => {
  // Regression: a read-only end stayed open forever (it can never write).
  const { reader, writer } = pair();
  const reason = new Promise<CloseReason>((r) => (reader.onClose = (_p, why) => r(why)));
  writer.send(new Uint8Array(5));
  await writer.close();
  let n = 0;
  for await (const chunk of reader.readable) n += chunk.length;
  assert.equal(n, 5);
  assert.equal(await within(reason, 5_000, "reader closes"), "peer");
});

Deno.test("closePipe twice closes nothing the second time", async () => {
  // Regression: the second call closed descriptors the OS had given to others.
  const p = createPipe();
  closePipe(p);
  const q = createPipe(); // likely reuses the same handle values
  closePipe(p);
  const r = Pipe.create();
  r.adoptRead(q.readEnd);
  const w = Pipe.create();
  w.adoptWrite(q.writeEnd);
  const got = new Promise<number>((res) => (r.onData = (_r, d) => res(d.length)));
  w.send(new Uint8Array(3));
  assert.equal(await within(got, 5_000, "q still works"), 3);
  r.dispose();
  w.dispose();
});

// Issue 16 (6): a failed adopt leaves the handle as it was; the caller owns it.

Deno.test("adopting a pipe end twice fails with AlreadyExists and the first owner keeps working", async () => {
  const { reader, writer, p } = pair();
  assert.throws(() => Pipe.create().adoptRead(p.readEnd), (e: unknown) => {
    assert.ok(e instanceof Deno.errors.AlreadyExists, `got ${e}`);
    assert.equal((e as { code?: string }).code, "EEXIST");
    return true;
  });
  const got = new Promise<string>((r) => (reader.onData = (_p, d) => r(new TextDecoder().decode(d))));
  writer.send(new TextEncoder().encode("still mine"));
  assert.equal(await within(got, 10_000, "data through the first owner"), "still mine");
  reader.dispose();
  writer.dispose();
});

// libc, to hold an fd the library did not create (Linux only).
function libc() {
  return Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
}
const O_WRONLY = 1, F_GETFD = 1, F_GETFL = 3;

Deno.test({
  name: "adopting a character device fails with NotSupported and leaves the fd open, with its flags, and usable",
  ignore: isWindows,
  fn() {
    const lib = libc();
    const c = lib.symbols;
    try {
      // /dev/null is a character device epoll refuses (EPERM): not a permission problem.
      const fd = c.open(new TextEncoder().encode("/dev/null\0"), O_WRONLY);
      assert.ok(fd >= 0);
      const fl = c.fcntl(fd, F_GETFL, 0), fdfl = c.fcntl(fd, F_GETFD, 0);
      for (const adopt of [(p: Pipe) => p.adoptWrite(fd), (p: Pipe) => p.adoptRead(fd)]) {
        const p = Pipe.create();
        assert.throws(() => adopt(p), (e: unknown) => {
          assert.ok(e instanceof Deno.errors.NotSupported, `got ${e}`);
          assert.equal((e as { code?: string }).code, "ENOTSUP");
          return true;
        });
        assert.equal(p.state, "detached");
        assert.equal(c.fcntl(fd, F_GETFL, 0), fl, "O_NONBLOCK is not left set");
        assert.equal(c.fcntl(fd, F_GETFD, 0), fdfl, "FD_CLOEXEC is not left set");
        assert.equal(c.write(fd, new Uint8Array(3), 3n), 3n, "still open and writable");
      }
      assert.equal(c.close(fd), 0, "still open: the caller closes it");
    } finally {
      lib.close();
    }
  },
});

Deno.test({
  name: "adoptWrite(1) with stdout on /dev/null fails with NotSupported and fd 1 stays stdout",
  ignore: isWindows,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const file = `${dir}/opened.txt`;
      const script = `${dir}/script.ts`;
      await Deno.writeTextFile(
        script,
        `import { Pipe } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
let outcome = "adopted";
try { Pipe.create().adoptWrite(1); } catch (e) { outcome = (e as Error).constructor.name; }
// Had fd 1 been closed, this file would get fd 1 and the line below.
const f = Deno.openSync(${JSON.stringify(file)}, { write: true, create: true });
console.log("to stdout");
f.close();
console.error("outcome:" + outcome);
`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-ffi", "--allow-read", "--allow-write", "--allow-env", script],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      const out = await child.output().finally(() => clearTimeout(timer));
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.equal(out.signal, null);
      assert.doesNotMatch(stderr, FAULT_PATTERN);
      assert.match(stderr, /outcome:NotSupported/);
      assert.equal(await Deno.readTextFile(file), "", "nothing written into the file opened afterwards");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// Windows: kernel32, to hold handles the library did not create.
function kernel32() {
  return Deno.dlopen("kernel32.dll", {
    CreateFileW: { parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"], result: "usize" },
    CreateIoCompletionPort: { parameters: ["usize", "usize", "usize", "u32"], result: "usize" },
    WriteFile: { parameters: ["usize", "buffer", "u32", "buffer", "pointer"], result: "i32" },
    GetHandleInformation: { parameters: ["usize", "buffer"], result: "i32" },
    CloseHandle: { parameters: ["usize"], result: "i32" },
  });
}
const wide = (s: string) => new Uint8Array(new Uint16Array([...s].map((c) => c.charCodeAt(0)).concat(0)).buffer);
const GENERIC_WRITE = 0x40000000, OPEN_EXISTING = 3, INVALID_HANDLE = 0xffffffffffffffffn;

Deno.test({
  name: "adopting a character device (NUL) fails with NotSupported and leaves the handle open and usable",
  ignore: !isWindows,
  fn() {
    const lib = kernel32();
    const k = lib.symbols;
    try {
      const h = k.CreateFileW(wide("NUL"), GENERIC_WRITE, 3, null, OPEN_EXISTING, 0, null);
      assert.notEqual(BigInt(h), INVALID_HANDLE);
      assert.throws(() => Pipe.create().adoptWrite(h), (e: unknown) => {
        assert.ok(e instanceof Deno.errors.NotSupported, `got ${e}`);
        return true;
      });
      const written = new Uint32Array(1);
      assert.equal(k.WriteFile(h, new Uint8Array(3), 3, written, null), 1, "still open and writable");
      assert.equal(written[0], 3);
      assert.equal(k.CloseHandle(h), 1, "still open: the caller closes it");
    } finally {
      lib.close();
    }
  },
});

Deno.test({
  name: "adopting a pipe end associated with another completion port fails with AlreadyExists and leaves it open",
  ignore: !isWindows,
  fn() {
    const lib = kernel32();
    const k = lib.symbols;
    try {
      const port = k.CreateIoCompletionPort(INVALID_HANDLE, 0n, 0n, 1);
      assert.notEqual(BigInt(port), 0n);
      const p = createPipe();
      assert.notEqual(
        BigInt(k.CreateIoCompletionPort(BigInt(p.readEnd), port, 7n, 0)),
        0n,
        "associated with our own port",
      );
      const pipe = Pipe.create();
      assert.throws(() => pipe.adoptRead(p.readEnd), (e: unknown) => {
        assert.ok(e instanceof Deno.errors.AlreadyExists, `got ${e}`);
        return true;
      });
      assert.equal(pipe.state, "detached");
      assert.equal(k.GetHandleInformation(BigInt(p.readEnd), new Uint32Array(1)), 1, "still open");
      closePipe(p); // neither end was adopted: closePipe closes both
      assert.equal(k.CloseHandle(port), 1);
    } finally {
      lib.close();
    }
  },
});

/**
 * Named endpoints against Node's net (Deno's node:net: named pipes built on
 * tokio on Windows, Unix sockets on Linux), each in its own deno process,
 * which must exit with status 0: the crash of issue 16 came after the tests
 * had passed, when deno tore down (see README, "The native library stays
 * loaded until the process ends").
 */
import assert from "node:assert/strict";
import { assertCleanExit, isWindows, pipePath, runScript } from "./helpers.ts";

// The endpoint's exact --allow-net=unix:<name> (node:net asks for it too).
// On Windows Deno asks for --allow-all before node:net opens or creates a
// \\.\pipe\ name ("Requires all access"), whatever else is granted, and
// refuses --allow-all beside any other --allow-* flag: so only that one.
function flags(path: string): string[] {
  if (isWindows) return ["--allow-all"];
  return ["--allow-ffi", "--allow-read", "--allow-write", "--allow-env", `--allow-net=unix:${path}`];
}

// Two exchanges per process: 16 bytes, then 256 KiB (more than one pipe
// buffer, so the echo is paced by backpressure).
const SIZES = "[16, 256 * 1024]";

const nodeClientScript = (path: string) => `
import assert from "node:assert/strict";
import * as net from "node:net";
import { PipeListener } from "MOD_URL";

const PATH = ${JSON.stringify(path)};

function exchange(size: number): Promise<[Uint8Array, Uint8Array]> {
  const sent = new Uint8Array(size).map((_, i) => (i * 7 + size) & 255);
  return new Promise((resolve, reject) => {
    const got = new Uint8Array(size);
    let n = 0;
    const c = net.connect(PATH, () => c.write(sent));
    c.on("data", (d: Uint8Array) => {
      got.set(d, n);
      n += d.length;
      if (n < size) return;
      c.end();
      resolve([got, sent]);
    });
    c.on("error", reject);
  });
}

Deno.test("node:net client, our PipeListener echoes", async () => {
  const listener = await PipeListener.listen(PATH);
  listener.onConnection = (_l, p) => (p.onData = (pp, d) => pp.send(d));
  for (const size of ${SIZES}) {
    const [got, sent] = await exchange(size);
    assert.deepEqual(got, sent, size + " bytes echoed");
  }
  listener.close();
});
`;

const nodeServerScript = (path: string) => `
import assert from "node:assert/strict";
import * as net from "node:net";
import { Pipe } from "MOD_URL";

const PATH = ${JSON.stringify(path)};
const SIZES = ${SIZES};

Deno.test("our Pipe.connect, node:net server echoes", async () => {
  const server = net.createServer((c: net.Socket) => c.on("data", (d: Uint8Array) => c.write(d)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(PATH, () => resolve());
  });
  for (const size of SIZES) {
    const sent = new Uint8Array(size).map((_, i) => (i * 7 + size) & 255);
    const pipe = await Pipe.connect(PATH, { timeoutMs: 10_000 });
    const got = new Uint8Array(size);
    let n = 0;
    const done = new Promise<void>((resolve) => {
      pipe.onData = (_p, d) => {
        got.set(d, n);
        n += d.length;
        if (n >= size) resolve();
      };
    });
    pipe.send(sent);
    await done;
    assert.deepEqual(got, sent, size + " bytes echoed");
    // The last pipe stays open (its read pending) into deno's exit, when
    // the node:net side of it is closed by deno itself.
    if (size !== SIZES.at(-1)) await pipe.close();
  }
  server.close();
});
`;

Deno.test("node:net client against our PipeListener: the deno process exits with status 0", async () => {
  const path = pipePath(11);
  const r = await runScript(nodeClientScript(path), 120_000, flags(path), "test");
  assertCleanExit(r, "deno test with a node:net client");
  assert.match(r.stdout, /\| 1 passed \| 0 failed/);
});

Deno.test("our Pipe.connect against a node:net server: the deno process exits with status 0", async () => {
  const path = pipePath(12);
  const r = await runScript(nodeServerScript(path), 120_000, flags(path), "test");
  assertCleanExit(r, "deno test with a node:net server");
  assert.match(r.stdout, /\| 1 passed \| 0 failed/);
});

/**
 * The package imported the way JSR users get it: from an HTTP URL. The test
 * stages the package exactly as `deno task dist` publishes it (prebuilt
 * libraries, generated digests), serves it on 127.0.0.1, and imports mod.ts
 * from it in a subprocess that may import from that host only. The server
 * counts the requests for the library, and can serve a tampered copy.
 * Runs the same under Wine, where the subprocess downloads aio.dll.
 */
import assert from "node:assert/strict";
import { stagePackage } from "../tools/dist.ts";
import { packagePath } from "../ffi/candidates.ts";
import { assertCleanExit, runDeno, type RunResult, sha256 } from "./helpers.ts";

const LIBRARY = packagePath(Deno.build.os, Deno.build.arch);

// The subprocess: echo over TCP through the remote package, then report
// where its library came from (ffi/library.ts of the same base URL is the
// same module instance as the one mod.ts uses).
const SCRIPT = `
const base = Deno.args[0];
try {
  const { TcpConnection, TcpListener } = await import(base + "mod.ts");
  const { loadedLibrary } = await import(base + "ffi/library.ts");
  const listener = await TcpListener.listen("127.0.0.1", 0);
  listener.onConnection = (_l, c) => (c.onData = (c2, d) => c2.send(d));
  const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
  const echoed = await new Promise((resolve) => {
    conn.onData = (_c, d) => resolve(new TextDecoder().decode(d));
    conn.send(new TextEncoder().encode("ping over a downloaded library"));
  });
  conn.abort();
  listener.close();
  console.log(JSON.stringify({ echoed, library: loadedLibrary() }));
} catch (err) {
  console.log(JSON.stringify({ error: err.name, message: err.message, cause: String(err.cause) }));
  Deno.exit(3);
}
`;

interface Served {
  base: string;
  port: number;
  requests: (path: string) => number;
  tamper: boolean;
  close: () => Promise<void>;
}

function serve(dir: string): Served {
  const counts = new Map<string, number>();
  const state: Served = {
    base: "",
    port: 0,
    requests: (p) => counts.get(`/${p}`) ?? 0,
    tamper: false,
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    let body: Uint8Array;
    try {
      body = await Deno.readFile(`${dir}${path}`);
    } catch {
      return new Response("not found", { status: 404 });
    }
    if (state.tamper && path === `/${LIBRARY}`) {
      body = body.slice();
      body[body.length >> 1] ^= 0x5a; // one byte of the code changed
    }
    const type = path.endsWith(".ts")
      ? "application/typescript"
      : path.endsWith(".json")
      ? "application/json"
      : "application/octet-stream";
    return new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } });
  });
  state.port = server.addr.port;
  state.base = `http://127.0.0.1:${state.port}/`;
  return state;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out.push(p);
    }
  };
  await walk(dir).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  return out;
}

async function importRemote(
  s: Served,
  work: string,
  cache: string,
  perms: { write?: boolean } = {},
): Promise<RunResult> {
  const flags = [
    `--allow-import=127.0.0.1:${s.port}`,
    "--allow-net=127.0.0.1",
    "--allow-ffi",
    "--allow-env",
    `--allow-read=${cache}`,
    ...(perms.write === false ? [] : [`--allow-write=${cache}`]),
  ];
  return await runDeno(["run", "--quiet", "--no-prompt", ...flags, `${work}/script.ts`, s.base], 90_000, {
    AIO_CACHE_DIR: cache,
    AIO_LIBRARY: "",
    // The subprocess's module cache, so no run sees modules another cached.
    DENO_DIR: `${work}/deno_dir`,
    NO_COLOR: "1",
  });
}

function report(r: RunResult): Record<string, unknown> {
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`no report from the subprocess (exit ${r.code})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
}

Deno.test("remote import: downloaded, verified, cached and used; then loaded from the cache; a tampered library is refused and nothing is cached", async () => {
  const work = await Deno.makeTempDir({ prefix: "aio-remote-" });
  const pkg = `${work}/package`;
  const published = await stagePackage(pkg);
  const digest = published.files[LIBRARY.replace("native/build/", "")];
  assert.equal(digest, await sha256(await Deno.readFile(`${pkg}/${LIBRARY}`)), "staged digest");
  await Deno.writeTextFile(`${work}/script.ts`, SCRIPT);
  const s = serve(pkg);
  try {
    // 1. First run: nothing cached, so the library is downloaded.
    const cache = `${work}/cache`;
    const first = await importRemote(s, work, cache);
    assertCleanExit(first, "first run");
    const r1 = report(first) as { echoed: string; library: { path: string; origin: string } };
    assert.equal(r1.echoed, "ping over a downloaded library");
    assert.equal(r1.library.origin, "download");
    assert.equal(s.requests(LIBRARY), 1, "one download");
    const cached = await listFiles(cache);
    assert.equal(cached.length, 1, `one file in the cache, no temporary left: ${cached}`);
    assert.ok(cached[0].endsWith(LIBRARY.split("/").pop()!), cached[0]);
    assert.ok(cached[0].includes(published.version), "versioned cache folder");
    assert.equal(await sha256(await Deno.readFile(cached[0])), digest, "the cached file is the published one");

    // 2. Second run: loaded from the cache (checked again), no download.
    const second = await importRemote(s, work, cache);
    assertCleanExit(second, "second run");
    const r2 = report(second) as { echoed: string; library: { path: string; origin: string } };
    assert.equal(r2.echoed, "ping over a downloaded library");
    assert.equal(r2.library.origin, "cache");
    assert.equal(s.requests(LIBRARY), 1, "no second download");

    // 3. A tampered library on the server: refused, nothing cached.
    s.tamper = true;
    const fresh = `${work}/cache-tampered`;
    const bad = await importRemote(s, work, fresh);
    assert.equal(bad.code, 3, `refused with an error\n${bad.stdout}\n${bad.stderr}`);
    const r3 = report(bad) as { error: string; message: string; cause: string };
    assert.equal(r3.error, "LibraryLoadError");
    assert.match(r3.message, /refused the library downloaded from http:\/\/127\.0\.0\.1:\d+\/native\/build\//);
    assert.match(r3.message, /nothing was cached/);
    assert.match(r3.cause, /DigestMismatch: SHA-256 of the \d+ bytes received is [0-9a-f]{64}, the module publishes/);
    assert.equal(s.requests(LIBRARY), 2, "the tampered copy was fetched");
    assert.deepEqual(await listFiles(fresh), [], "nothing written to the cache");

    // 4. No write permission for the cache: the error says which flag.
    s.tamper = false;
    const noWrite = await importRemote(s, work, `${work}/cache-readonly`, { write: false });
    assert.equal(noWrite.code, 3, `fails\n${noWrite.stdout}\n${noWrite.stderr}`);
    const r4 = report(noWrite) as { error: string; message: string };
    assert.equal(r4.error, "LibraryLoadError");
    assert.match(r4.message, /not downloaded: needs --allow-write=/);
    assert.match(r4.message, /AIO_LIBRARY: not set/);
    assert.equal(s.requests(LIBRARY), 2, "nothing fetched without a place to put it");
  } finally {
    await s.close();
    await Deno.remove(work, { recursive: true });
  }
});

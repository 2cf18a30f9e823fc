/**
 * Where the loader looks, for every layout it can run in, including the two
 * forms of a `deno compile` binary (which cannot be built on this machine:
 * the runtime it embeds cannot be downloaded here, so the embedded file
 * system is reproduced instead); the cache folder convention; the digests
 * module; the synchronous SHA-256.
 */
import assert from "node:assert/strict";
import { libraryCandidates, type Place, platformDir } from "../ffi/candidates.ts";
import { cacheFolder, cacheRoot } from "../ffi/cache_dir.ts";
import { sha256Hex } from "../ffi/sha256.ts";
import { ABI_VERSION } from "../ffi/library.ts";
import { renderDigestsModule } from "../tools/digests.ts";
import { assertCleanExit, pattern, runDeno, sha256 } from "./helpers.ts";

const linux = { os: "linux", arch: "x86_64", standalone: false };
const windows = { os: "windows", arch: "x86_64", standalone: false };

Deno.test("a checkout loads the library beside the module", () => {
  const place: Place = { ...linux, moduleUrl: "file:///src/aio/ffi/library.ts", mainModule: "file:///src/app/main.ts" };
  assert.deepEqual(libraryCandidates(place), [
    { kind: "beside", url: "file:///src/aio/native/build/linux-x64/libaio.so" },
  ]);
});

Deno.test("a JSR module downloads from its own package base URL", () => {
  const place: Place = {
    ...windows,
    moduleUrl: "https://jsr.io/@eve/aio/0.2.0/ffi/library.ts",
    mainModule: "file:///C:/app/main.ts",
  };
  assert.deepEqual(libraryCandidates(place), [
    { kind: "remote", url: "https://jsr.io/@eve/aio/0.2.0/native/build/windows-x64/aio.dll" },
  ]);
});

Deno.test("compiled, local program (Linux): the --include'd library sits beside the module in the embedded file system", () => {
  // `deno compile --include native/build/linux-x64/libaio.so examples/echo_server.ts`
  // embeds the tree under /tmp/deno-compile-<exe>/ as it was in the checkout.
  const place: Place = {
    ...linux,
    standalone: true,
    moduleUrl: "file:///tmp/deno-compile-echo_server/ffi/library.ts",
    mainModule: "file:///tmp/deno-compile-echo_server/examples/echo_server.ts",
  };
  assert.deepEqual(libraryCandidates(place), [
    { kind: "beside", url: "file:///tmp/deno-compile-echo_server/native/build/linux-x64/libaio.so" },
    { kind: "embedded", url: "file:///tmp/deno-compile-echo_server/examples/native/build/linux-x64/libaio.so" },
  ]);
});

Deno.test("compiled, local program (Windows): the same inside C:\\...\\Temp\\deno-compile-<exe>.exe", () => {
  const vfs = "file:///C:/Users/u/AppData/Local/Temp/deno-compile-echo_server.exe";
  const place: Place = {
    ...windows,
    standalone: true,
    moduleUrl: `${vfs}/ffi/library.ts`,
    mainModule: `${vfs}/examples/echo_server.ts`,
  };
  assert.equal(libraryCandidates(place)[0].url, `${vfs}/native/build/windows-x64/aio.dll`);
});

Deno.test("compiled, JSR module: the library embedded beside the main module, then the download", () => {
  const place: Place = {
    ...linux,
    standalone: true,
    moduleUrl: "https://jsr.io/@eve/aio/0.2.0/ffi/library.ts",
    mainModule: "file:///tmp/deno-compile-server/main.ts",
  };
  assert.deepEqual(libraryCandidates(place), [
    { kind: "embedded", url: "file:///tmp/deno-compile-server/native/build/linux-x64/libaio.so" },
    { kind: "remote", url: "https://jsr.io/@eve/aio/0.2.0/native/build/linux-x64/libaio.so" },
  ]);
  assert.equal(platformDir("linux", "aarch64"), "linux-arm64");
});

Deno.test("compiled layout reproduced: the embedded candidate is a library this runtime opens", async () => {
  // The embedded file system of `deno compile --include native/build/<os>-<arch>/<file> main.ts`
  // for a program that imports @eve/aio from JSR.
  const vfs = await Deno.makeTempDir({ prefix: "deno-compile-server-" });
  try {
    const plat = platformDir(Deno.build.os, Deno.build.arch);
    const file = Deno.build.os === "windows" ? "aio.dll" : "libaio.so";
    await Deno.mkdir(`${vfs}/native/build/${plat}`, { recursive: true });
    await Deno.copyFile(
      new URL(`../native/build/${plat}/${file}`, import.meta.url),
      `${vfs}/native/build/${plat}/${file}`,
    );
    await Deno.writeTextFile(`${vfs}/main.ts`, "");
    const mainModule =
      new URL(`file:///${(await Deno.realPath(`${vfs}/main.ts`)).replaceAll("\\", "/").replace(/^\//, "")}`)
        .href;
    const [embedded] = libraryCandidates({
      moduleUrl: "https://jsr.io/@eve/aio/0.2.0/ffi/library.ts",
      mainModule,
      standalone: true,
      os: Deno.build.os,
      arch: Deno.build.arch,
    });
    assert.equal(embedded.kind, "embedded");
    // Opened in a subprocess: this process keeps its own copy loaded.
    const r = await runDeno([
      "eval",
      `const lib = Deno.dlopen(new URL(${
        JSON.stringify(embedded.url)
      }), { aio_abi_version: { parameters: [], result: "i32" } }); console.log(lib.symbols.aio_abi_version());`,
    ], 30_000);
    assertCleanExit(r, "dlopen of the embedded candidate");
    assert.equal(r.stdout.trim(), String(ABI_VERSION));
  } finally {
    await Deno.remove(vfs, { recursive: true });
  }
});

Deno.test("the cache folder follows Deno's convention and can be overridden", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(cacheRoot("linux", env({ HOME: "/home/u" })), "/home/u/.cache/deno/eve_aio");
  assert.equal(cacheRoot("linux", env({ HOME: "/home/u", XDG_CACHE_HOME: "/xdg" })), "/xdg/deno/eve_aio");
  assert.equal(cacheRoot("linux", env({ HOME: "/home/u", DENO_DIR: "/dd" })), "/dd/eve_aio");
  assert.equal(cacheRoot("linux", env({ DENO_DIR: "/dd", AIO_CACHE_DIR: "/mine" })), "/mine");
  assert.equal(cacheRoot("darwin", env({ HOME: "/Users/u" })), "/Users/u/Library/Caches/deno/eve_aio");
  assert.equal(
    cacheRoot("windows", env({ LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" })),
    "C:\\Users\\u\\AppData\\Local\\deno\\eve_aio",
  );
  assert.equal(cacheRoot("linux", env({})), null);
  assert.equal(cacheFolder("/c", "linux", "0.2.0", "linux-x64"), "/c/0.2.0/linux-x64");
  assert.equal(cacheFolder("C:\\c", "windows", "0.2.0", "windows-x64"), "C:\\c\\0.2.0\\windows-x64");
});

Deno.test("the committed digests module is the generator's output for a checkout", async () => {
  const committed = await Deno.readTextFile(new URL("../ffi/digests.ts", import.meta.url));
  assert.equal(committed.replaceAll("\r\n", "\n"), renderDigestsModule(null));
  const staged = renderDigestsModule({ version: "9.9.9", files: { "b/x": "22", "a/y": "11" } });
  assert.match(staged, /version: "9\.9\.9",\n {2}files: \{\n {4}"a\/y": "11",\n {4}"b\/x": "22",\n/);
});

Deno.test("the synchronous SHA-256 agrees with WebCrypto at every padding boundary", async () => {
  for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 300_001]) {
    const data = pattern(n, n + 3);
    assert.equal(sha256Hex(data), await sha256(data), `${n} bytes`);
  }
  assert.equal(
    sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

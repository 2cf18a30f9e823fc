/**
 * Loading the native library from a local module: lazily, with
 * `EventLoop.libraryPath` and `AIO_LIBRARY`, and the errors that name every
 * place tried and the missing permission. Each case runs in a subprocess
 * with exactly the permissions it is about.
 */
import assert from "node:assert/strict";
import { packagePath } from "../ffi/candidates.ts";
import { EventLoop } from "../mod.ts";
import { assertCleanExit, runDeno, runScript } from "./helpers.ts";

const BUILT = new URL(`../${packagePath(Deno.build.os, Deno.build.arch)}`, import.meta.url);
const builtPath = Deno.build.os === "windows"
  ? decodeURIComponent(BUILT.pathname).slice(1).replaceAll("/", "\\")
  : decodeURIComponent(BUILT.pathname);
const libUrl = new URL("../ffi/library.ts", import.meta.url).href;

// A round trip through an anonymous pipe pair: needs nothing but the library.
const PIPE_ROUND_TRIP = `
  const { readEnd, writeEnd } = createPipe();
  const reader = Pipe.create(), writer = Pipe.create();
  reader.adoptRead(readEnd);
  writer.adoptWrite(writeEnd);
  const got = await new Promise((resolve) => {
    reader.onData = (_p, d) => resolve(new TextDecoder().decode(d));
    writer.send(new TextEncoder().encode("through the pipe"));
  });
  await writer.close();
  reader.abort();
`;

Deno.test("importing mod.ts asks for no permission and loads nothing", async () => {
  const r = await runScript(
    `
    import * as aio from "MOD_URL";
    import { loadedLibrary } from ${JSON.stringify(libUrl)};
    console.log(["EventLoop", "TcpListener", "createPipe"].every((k) => typeof aio[k] === "function"), loadedLibrary());
  `,
    30_000,
    ["--no-prompt"],
  );
  assertCleanExit(r, "import without permissions");
  assert.equal(r.stdout.trim(), "true null");
});

Deno.test("EventLoop.libraryPath works with only --allow-ffi", async () => {
  const r = await runScript(
    `
    import { createPipe, EventLoop, Pipe } from "MOD_URL";
    import { loadedLibrary } from ${JSON.stringify(libUrl)};
    EventLoop.libraryPath = ${JSON.stringify(builtPath)};
    ${PIPE_ROUND_TRIP}
    let refused = "";
    try {
      EventLoop.libraryPath = "elsewhere";
    } catch (err) {
      refused = err.message;
    }
    console.log(JSON.stringify({ got, library: loadedLibrary(), path: EventLoop.libraryPath, refused }));
  `,
    30_000,
    ["--allow-ffi", "--no-prompt"],
  );
  assertCleanExit(r, "libraryPath run");
  const out = JSON.parse(r.stdout.trim());
  assert.equal(out.got, "through the pipe");
  assert.deepEqual(out.library, { path: builtPath, origin: "libraryPath" });
  assert.equal(out.path, builtPath);
  assert.match(out.refused, /loaded already .*set EventLoop\.libraryPath before the first loop/);
});

Deno.test("AIO_LIBRARY is used where --allow-env grants it", async () => {
  const s = await runScriptEnv(
    `
    import { createPipe, Pipe } from "MOD_URL";
    import { loadedLibrary } from ${JSON.stringify(libUrl)};
    ${PIPE_ROUND_TRIP}
    console.log(JSON.stringify({ got, library: loadedLibrary() }));
  `,
    ["--allow-ffi", "--allow-env=AIO_LIBRARY", "--no-prompt"],
    { AIO_LIBRARY: builtPath },
  );
  assertCleanExit(s, "AIO_LIBRARY run");
  const out = JSON.parse(s.stdout.trim());
  assert.equal(out.got, "through the pipe");
  assert.deepEqual(out.library, { path: builtPath, origin: "AIO_LIBRARY" });
});

// runScript, with an environment for the subprocess.
async function runScriptEnv(source: string, flags: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/script.ts`;
    await Deno.writeTextFile(file, source.replaceAll("MOD_URL", new URL("../mod.ts", import.meta.url).href));
    return await runDeno(["run", "--quiet", ...flags, file], 30_000, env);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// A copy of the package's modules without any built library: what a
// checkout looks like before `deno task build`.
async function unbuiltCopy(): Promise<{ dir: string; mod: string; expected: string }> {
  const dir = await Deno.makeTempDir({ prefix: "aio-unbuilt-" });
  const copy = async (rel: string) => {
    const from = new URL(`../${rel}`, import.meta.url);
    if ((await Deno.stat(from)).isDirectory) {
      await Deno.mkdir(`${dir}/${rel}`, { recursive: true });
      for await (const e of Deno.readDir(from)) await copy(`${rel}/${e.name}`);
    } else {
      await Deno.copyFile(from, `${dir}/${rel}`);
    }
  };
  await copy("mod.ts");
  await copy("src");
  await copy("ffi");
  const real = await Deno.realPath(dir);
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return {
    dir,
    mod: `${real}${sep}mod.ts`,
    expected: [real, ...packagePath(Deno.build.os, Deno.build.arch).split("/")].join(sep),
  };
}

async function failingLoad(mod: string, flags: string[], env: Record<string, string> = {}, setup = "") {
  const r = await runScriptEnv(
    `
    import { EventLoop } from ${JSON.stringify(`file:///${mod.replace(/^\//, "").replaceAll("\\", "/")}`)};
    ${setup}
    try {
      new EventLoop();
      console.log("loaded?!");
    } catch (err) {
      console.log(JSON.stringify({ name: err.name, message: err.message, cause: err.cause?.name ?? null }));
    }
  `,
    ["--no-prompt", ...flags],
    { AIO_LIBRARY: "", ...env },
  );
  assertCleanExit(r, "failing load");
  return JSON.parse(r.stdout.trim()) as { name: string; message: string; cause: string | null };
}

Deno.test("a missing library: the error names every place tried and the missing permission", async () => {
  const { dir, mod, expected } = await unbuiltCopy();
  try {
    // Everything granted: the library beside the module is simply missing.
    const all = await failingLoad(mod, ["--allow-ffi", "--allow-env"]);
    assert.equal(all.name, "LibraryLoadError");
    assert.ok(all.message.includes(`${expected} (beside the module)`), all.message);
    assert.match(all.message, /AIO_LIBRARY: not set/);
    assert.match(all.message, /Build it with `deno task build`/);
    assert.notEqual(all.cause, null, "the dlopen error is the cause");

    // No --allow-env: AIO_LIBRARY could not be read, and the error says so.
    const noEnv = await failingLoad(mod, ["--allow-ffi"]);
    assert.match(noEnv.message, /AIO_LIBRARY: not read \(no --allow-env for it\)/);
    assert.ok(noEnv.message.includes(expected), noEnv.message);

    // No --allow-ffi: the flag is named.
    const noFfi = await failingLoad(mod, []);
    assert.match(noFfi.message, /permission missing: .*--allow-ffi/);
    assert.equal(noFfi.cause, "NotCapable");

    // An explicit path is that file and nothing else.
    const missing = `${dir}${Deno.build.os === "windows" ? "\\" : "/"}nowhere.so`;
    const explicit = await failingLoad(mod, ["--allow-ffi"], {}, `EventLoop.libraryPath = ${JSON.stringify(missing)};`);
    assert.equal(explicit.name, "LibraryLoadError");
    assert.ok(explicit.message.includes(`${missing} (from EventLoop.libraryPath)`), explicit.message);
    const viaEnv = await failingLoad(mod, ["--allow-ffi", "--allow-env"], { AIO_LIBRARY: missing });
    assert.ok(viaEnv.message.includes(`${missing} (from AIO_LIBRARY)`), viaEnv.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLoop.libraryPath rejects what is not a path", () => {
  // Checked before anything else, so this holds whether or not this process
  // has loaded the library already.
  assert.throws(() => (EventLoop.libraryPath = 42 as unknown as string), TypeError);
  assert.throws(() => (EventLoop.libraryPath = ""), TypeError);
});

/**
 * Processes that use the library exit cleanly: no fault at exit, whatever
 * the pump was doing when the last object closed (regressions: Windows
 * page faults in the unloaded DLL, a pool thread returning from a parked
 * wait after Deno had unloaded the library).
 */
import assert from "node:assert/strict";
import { assertCleanExit, runScript } from "./helpers.ts";

const RUNS = 20;
// Runs at a time: they are independent processes; this keeps the wall time
// of 20 Windows runs (each starts deno.exe under Wine) reasonable.
const PARALLEL = 4;
const FLAGS = ["--allow-ffi", "--allow-read", "--allow-env", "--allow-net=127.0.0.1"];

async function runMany(source: string, subcommand: "run" | "bench", what: string): Promise<void> {
  for (let start = 0; start < RUNS; start += PARALLEL) {
    const batch = [];
    for (let i = start; i < Math.min(start + PARALLEL, RUNS); i++) {
      // --no-check: deno bench type-checks by default, seconds per run.
      batch.push(
        runScript(source, 60_000, ["--no-check", ...FLAGS], subcommand).then((r) =>
          assertCleanExit(r, `${what}, run ${i + 1}`)
        ),
      );
    }
    await Promise.all(batch);
  }
}

Deno.test("a deno bench of a round trip that closes everything on unload exits cleanly, 20 runs", async () => {
  await runMany(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    const listener = await TcpListener.listen("127.0.0.1", 0);
    listener.onConnection = (_l, c) => (c.onData = (s, d) => s.send(d));
    const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
    let resolve = () => {};
    conn.onData = () => resolve();
    const msg = new Uint8Array(64);
    Deno.bench({ name: "64-byte round trip", n: 100, warmup: 10 }, async () => {
      const got = new Promise<void>((r) => (resolve = r));
      conn.send(msg);
      await got;
    });
    globalThis.addEventListener("unload", () => {
      conn.dispose();
      listener.close();
    });
  `,
    "bench",
    "deno bench",
  );
});

Deno.test("a script that closes everything on unload exits cleanly, 20 runs", async () => {
  await runMany(
    `
    import { TcpConnection, TcpListener } from "MOD_URL";
    const listener = await TcpListener.listen("127.0.0.1", 0);
    listener.onConnection = (_l, c) => (c.onData = (s, d) => s.send(d));
    const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
    let n = 0;
    conn.onData = (c, d) => {
      if (++n < 100) c.send(d);
      // The pump is parked again by the time this runs: exit with a wait
      // in flight, as a server stopped by a signal handler would.
      else setTimeout(() => Deno.exit(0), 5);
    };
    conn.send(new Uint8Array(64));
    globalThis.addEventListener("unload", () => {
      conn.dispose();
      listener.close();
    });
  `,
    "run",
    "deno run",
  );
});

Deno.test({
  name: "the library stays mapped after Deno closes it (a pool thread may still be returning through it)",
  // Under Wine `lib.close()` alone leaves aio.dll loaded even unpinned, so
  // this check could not fail there; on Windows the pin is guarded by
  // tests/pipe_interop_test.ts, which crashes at teardown without it.
  ignore: Deno.build.os === "windows",
  fn: checkStaysMapped,
});

async function checkStaysMapped(): Promise<void> {
  // Deterministic check of the mechanism behind the two tests above: open
  // the library alone, close it, and ask the OS whether it is still mapped.
  const libUrl = new URL("../ffi/library.ts", import.meta.url).href;
  const r = await runScript(
    `
    import { libraryLocation } from ${JSON.stringify(libUrl)};
    const where = libraryLocation();
    const lib = Deno.dlopen(where, { aio_abi_version: { parameters: [], result: "i32" } });
    lib.symbols.aio_abi_version();
    lib.close();
    let mapped;
    if (Deno.build.os === "windows") {
      const k32 = Deno.dlopen("kernel32.dll", { GetModuleHandleW: { parameters: ["buffer"], result: "pointer" } });
      const name = new Uint16Array([..."aio.dll"].map((c) => c.charCodeAt(0)).concat(0));
      mapped = k32.symbols.GetModuleHandleW(name) !== null;
      k32.close();
    } else {
      mapped = Deno.readTextFileSync("/proc/self/maps").includes("/libaio.so");
    }
    console.log(mapped ? "mapped" : "unmapped");
  `,
    30_000,
    ["--allow-all"], // /proc/self/maps wants it
  );
  assertCleanExit(r, "subprocess");
  assert.equal(r.stdout.trim(), "mapped");
}

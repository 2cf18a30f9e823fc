/**
 * Builds the native library for Linux (gcc) and Windows (mingw-w64) when a
 * source is newer than the output; does nothing when both are up to date.
 *
 *   deno task build            both targets (Windows skipped, with a note, when
 *                              the cross compiler is missing)
 *   deno task build linux      one target
 *   deno task build asan       the sanitized Linux flavour (not built by
 *                              default): libaio.so and the ABI fuzzer with
 *                              ASan+UBSan, for tools/fuzz.ts and the
 *                              sanitized suite (docs/DESIGN.md,
 *                              "Reliability machinery")
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const rel = (p: string) => new URL(p, root).pathname;

interface Target {
  name: string;
  cc: string;
  out: string;
  dirs: string[];
  flags: string[];
  libs: string[];
  /** The C tests (native/test/*.c): one program built from the tests and
   * the library's own sources with assertions on (docs/DESIGN.md). */
  tests: { out: string; flags: string[]; files?: () => string[] };
  /** Built only when asked for by name. */
  onRequest?: boolean;
}

const common = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-g"];
/* ASan+UBSan, every report fatal (a run with a report can never look
 * green), frame pointers for readable stacks. Assertions stay on. */
const sanitize = [
  "-std=c11",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-O1",
  "-g",
  "-fno-omit-frame-pointer",
  "-fsanitize=address,undefined",
  "-fno-sanitize-recover=all",
];
/* The shipped library is the release flavour: AIO_ASSERT compiled out. */
const release = [...common, "-DNDEBUG"];
const targets: Target[] = [
  {
    name: "linux",
    cc: Deno.env.get("CC") ?? "gcc",
    out: "native/build/linux-x64/libaio.so",
    dirs: ["native/src", "native/src/unix"],
    // A soname, so programs linked against it look it up by name (not by
    // the build path) along their $ORIGIN runpath. -z nodelete: dlclose
    // never unmaps it, because Deno closes the library at teardown while a
    // nonblocking call (the loop's wait) may still be inside it (the
    // Windows DLL pins itself: native/src/win/pin.c).
    flags: [...release, "-fPIC", "-fvisibility=hidden", "-shared", "-Wl,-soname,libaio.so", "-Wl,-z,nodelete"],
    libs: [],
    tests: { out: "native/build/linux-x64/ctest", flags: ["-pthread"] },
  },
  {
    name: "windows",
    cc: Deno.env.get("MINGW_CC") ?? "x86_64-w64-mingw32-gcc",
    out: "native/build/windows-x64/aio.dll",
    dirs: ["native/src", "native/src/win"],
    flags: [...release, "-shared", "-static-libgcc"],
    libs: ["-lws2_32", "-lmswsock", "-ladvapi32", "-lntdll", "-lbcrypt"],
    tests: { out: "native/build/windows-x64/ctest.exe", flags: ["-static-libgcc"] },
  },
  {
    name: "asan",
    cc: Deno.env.get("CC") ?? "gcc",
    out: "native/build/linux-x64-asan/libaio.so",
    dirs: ["native/src", "native/src/unix"],
    // Loaded by Deno with libasan preloaded (tools/test.sh); no -z nodelete
    // needed beyond the release flavour's reason, kept for the same one.
    flags: [...sanitize, "-fPIC", "-fvisibility=hidden", "-shared", "-Wl,-soname,libaio.so", "-Wl,-z,nodelete"],
    libs: [],
    tests: { out: "native/build/linux-x64-asan/fuzz", flags: [...sanitize, "-pthread"], files: () => fuzzSources() },
    onRequest: true,
  },
];

function listC(dirs: string[]): string[] {
  const files: string[] = [];
  for (const d of dirs) {
    for (const e of Deno.readDirSync(rel(d))) {
      if (e.isFile && /\.[ch]$/.test(e.name)) files.push(`${d}/${e.name}`);
    }
  }
  return files.sort();
}

function sources(t: Target): string[] {
  return listC(t.dirs).concat(["native/include/aio.h", "tools/build.ts"]).sort();
}

/** The C tests' own files (the library's sources come on top). */
const testSources = () => listC(["native/test"]).filter((f) => !f.includes("unload_repro") && !f.includes("/fuzz"));
/** The ABI fuzzer's own file (asan target). */
const fuzzSources = () => listC(["native/test"]).filter((f) => f.includes("/fuzz"));

function mtime(path: string): number {
  try {
    return Deno.statSync(rel(path)).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

async function have(cmd: string): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return r.success;
  } catch {
    return false;
  }
}

async function compile(cc: string, out: string, args: string[]): Promise<boolean> {
  // Built under its final name in a side folder: a DLL records its own
  // file name, and programs linked against it import that name.
  const slash = out.lastIndexOf("/");
  const tmp = `${out.slice(0, slash)}/.tmp/${out.slice(slash + 1)}`;
  Deno.mkdirSync(rel(tmp.slice(0, tmp.lastIndexOf("/"))), { recursive: true });
  const r = await new Deno.Command(cc, { args: [...args, "-o", rel(tmp)], stdout: "inherit", stderr: "inherit" })
    .output();
  if (!r.success) return false;
  // Rename into place so a loader never sees a half-written file.
  Deno.renameSync(rel(tmp), rel(out));
  return true;
}

async function build(t: Target): Promise<boolean> {
  const srcs = sources(t);
  const newest = Math.max(...srcs.map(mtime));
  const tests = t.tests.files ? t.tests.files() : testSources();
  const testsNewest = Math.max(newest, ...tests.map(mtime));
  if (mtime(t.out) >= newest && mtime(t.tests.out) >= testsNewest) {
    console.log(`build ${t.name}: up to date`);
    return true;
  }
  if (!(await have(t.cc))) {
    console.error(`build ${t.name}: skipped, ${t.cc} not found`);
    return t.name !== Deno.build.os;
  }
  const libC = srcs.filter((s) => s.endsWith(".c")).map(rel);
  const lib = [...t.flags, ...libC, ...t.libs];
  // Debug flavour: no -DNDEBUG, so the state-machine asserts run.
  const testArgs = [
    ...(t.tests.files ? [] : common),
    ...tests.filter((s) => s.endsWith(".c")).map(rel),
    ...libC,
    ...t.tests.flags,
    ...t.libs,
  ];
  if (!(await compile(t.cc, t.out, lib)) || !(await compile(t.cc, t.tests.out, testArgs))) {
    console.error(`build ${t.name}: FAILED`);
    return false;
  }
  console.log(`build ${t.name}: ${t.out}, ${t.tests.out}`);
  return true;
}

const wanted = Deno.args.length
  ? targets.filter((t) => Deno.args.includes(t.name))
  : targets.filter((t) => !t.onRequest);
let ok = true;
for (const t of wanted) ok = (await build(t)) && ok;
if (!ok) Deno.exit(1);

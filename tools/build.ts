/**
 * Builds the native library for Linux (gcc) and Windows (mingw-w64) when a
 * source is newer than the output; does nothing when both are up to date.
 *
 *   deno task build            both targets (Windows skipped, with a note, when
 *                              the cross compiler is missing)
 *   deno task build linux      one target
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
}

const common = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-g"];
const targets: Target[] = [
  {
    name: "linux",
    cc: Deno.env.get("CC") ?? "gcc",
    out: "native/build/linux-x64/libaio.so",
    dirs: ["native/src", "native/src/unix"],
    flags: [...common, "-fPIC", "-fvisibility=hidden", "-shared"],
    libs: [],
  },
  {
    name: "windows",
    cc: Deno.env.get("MINGW_CC") ?? "x86_64-w64-mingw32-gcc",
    out: "native/build/windows-x64/aio.dll",
    dirs: ["native/src", "native/src/win"],
    flags: [...common, "-shared", "-static-libgcc"],
    libs: ["-lws2_32", "-lmswsock", "-ladvapi32", "-lntdll", "-lbcrypt"],
  },
];

function sources(t: Target): string[] {
  const files: string[] = [];
  for (const d of t.dirs) {
    for (const e of Deno.readDirSync(rel(d))) {
      if (e.isFile && /\.[ch]$/.test(e.name)) files.push(`${d}/${e.name}`);
    }
  }
  return files.concat(["native/include/aio.h", "tools/build.ts"]).sort();
}

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

async function build(t: Target): Promise<boolean> {
  const srcs = sources(t);
  const newest = Math.max(...srcs.map(mtime));
  if (mtime(t.out) >= newest) {
    console.log(`build ${t.name}: up to date`);
    return true;
  }
  if (!(await have(t.cc))) {
    console.error(`build ${t.name}: skipped, ${t.cc} not found`);
    return t.name !== Deno.build.os;
  }
  Deno.mkdirSync(rel(t.out.replace(/\/[^/]+$/, "")), { recursive: true });
  const tmp = `${t.out}.tmp`;
  const args = [...t.flags, "-o", rel(tmp), ...srcs.filter((s) => s.endsWith(".c")).map(rel), ...t.libs];
  const r = await new Deno.Command(t.cc, { args, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) {
    console.error(`build ${t.name}: FAILED`);
    return false;
  }
  // Rename into place so a loader never sees a half-written library.
  Deno.renameSync(rel(tmp), rel(t.out));
  console.log(`build ${t.name}: ${t.out}`);
  return true;
}

const wanted = Deno.args.length ? targets.filter((t) => Deno.args.includes(t.name)) : targets;
let ok = true;
for (const t of wanted) ok = (await build(t)) && ok;
if (!ok) Deno.exit(1);

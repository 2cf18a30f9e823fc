/**
 * `deno task compile`: examples/echo_server.ts as a standalone server binary
 * with the native library embedded (`--include`). Inside the binary the
 * loader finds the library where it was in the checkout, relative to
 * ffi/library.ts in the embedded file system (ffi/candidates.ts).
 *
 *   deno task compile                                  for this machine
 *   deno task compile --target x86_64-pc-windows-msvc  a Windows binary from Linux
 *
 * `deno compile` downloads the runtime it embeds (denort) on first use for
 * each target; tests/examples_test.ts runs the example from a reproduction
 * of the embedded layout with the same permissions instead.
 *
 * @module
 */
import { packagePath } from "../ffi/candidates.ts";

/** The runtime permissions baked into the binary: the library and loopback TCP, nothing else. */
export const COMPILED_PERMISSIONS = ["--allow-ffi", "--allow-net=127.0.0.1"];

/** The entry point. */
export const ENTRY = "examples/echo_server.ts";

const TARGETS: Record<string, { os: string; arch: string; exe: string }> = {
  "x86_64-unknown-linux-gnu": { os: "linux", arch: "x86_64", exe: "" },
  "x86_64-pc-windows-msvc": { os: "windows", arch: "x86_64", exe: ".exe" },
};

/** The `deno compile` arguments for a target triple. */
export function compileArgs(target: string, output: string): string[] {
  const t = TARGETS[target];
  if (!t) throw new Error(`unsupported target ${target}; one of ${Object.keys(TARGETS).join(", ")}`);
  return [
    "compile",
    ...COMPILED_PERMISSIONS,
    "--target",
    target,
    "--include",
    packagePath(t.os, t.arch),
    "--output",
    output + t.exe,
    ENTRY,
  ];
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--target");
  const target = at >= 0 ? args.splice(at, 2)[1] : Deno.build.target;
  const ot = args.indexOf("--output");
  const output = ot >= 0 ? args.splice(ot, 2)[1] : ".cache/compile/echo_server";
  const root = Deno.realPathSync(new URL("../", import.meta.url));
  const run = async (cmd: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), { args: cmd, cwd: root, stdout: "inherit", stderr: "inherit" })
      .output();
    if (!r.success) Deno.exit(r.code || 1);
  };
  await run(["run", "--allow-read=.", "--allow-write=native/build", "--allow-run", "--allow-env", "tools/build.ts"]);
  await run(compileArgs(target, output));
  console.log(`compiled ${output}: run it, then talk to it with examples/echo_client.ts`);
}

/**
 * Stages the package exactly as it is published: the files `publish.include`
 * of deno.json lists, the prebuilt libraries among them, and ffi/digests.ts
 * rewritten with their SHA-256 digests. `deno publish` then runs in that
 * folder, so what is published is what tests/remote_import_test.ts serves
 * and imports, and the checkout itself never holds generated digests.
 *
 *   deno task dist                        build both libraries, stage into .cache/dist/package
 *   deno task dist --out DIR              stage elsewhere
 *   deno task publish [--dry-run ...]     stage, then `deno publish` there (flags passed on)
 *
 * @module
 */
import { type Published, renderDigestsModule, sha256File } from "./digests.ts";

const root = new URL("../", import.meta.url);

/** The library paths in the package (relative to its root), one per published target. */
export const LIBRARIES = ["native/build/linux-x64/libaio.so", "native/build/windows-x64/aio.dll"];

interface DenoConfig {
  version: string;
  publish: { include: string[]; exclude?: string[] };
}

/** Reads deno.json of the checkout. */
export function readConfig(): DenoConfig {
  return JSON.parse(Deno.readTextFileSync(new URL("deno.json", root)));
}

function copyTree(from: URL, to: URL): void {
  const info = Deno.statSync(from);
  if (info.isFile) {
    Deno.mkdirSync(new URL("./", to), { recursive: true });
    Deno.copyFileSync(from, to);
    return;
  }
  Deno.mkdirSync(to, { recursive: true });
  for (const e of Deno.readDirSync(from)) {
    const slash = e.isDirectory ? "/" : "";
    copyTree(new URL(e.name + slash, from), new URL(e.name + slash, to));
  }
}

/**
 * Copies the published files into `out` (emptied first) and writes the
 * digests module for the libraries found there. Every library of
 * `LIBRARIES` must have been built. Returns what the digests module says.
 */
export async function stagePackage(out: string): Promise<Published> {
  const config = readConfig();
  for (const lib of LIBRARIES) {
    if (!config.publish.include.includes(lib)) throw new Error(`deno.json publish.include lacks ${lib}`);
    try {
      Deno.statSync(new URL(lib, root));
    } catch {
      throw new Error(`${lib} is missing: run \`deno task build\` (the Windows one needs mingw-w64)`);
    }
  }
  await Deno.remove(out, { recursive: true }).catch(() => {});
  Deno.mkdirSync(out, { recursive: true });
  const outUrl = new URL(`file://${Deno.realPathSync(out).replaceAll("\\", "/").replace(/^(?=[A-Za-z]:)/, "/")}/`);
  for (const entry of config.publish.include) copyTree(new URL(entry, root), new URL(entry, outUrl));
  const files: Record<string, string> = {};
  for (const lib of LIBRARIES) files[lib.replace("native/build/", "")] = await sha256File(new URL(lib, outUrl));
  const published = { version: config.version, files };
  Deno.writeTextFileSync(new URL("ffi/digests.ts", outUrl), renderDigestsModule(published));
  return published;
}

async function run(args: string[], cwd?: string): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`deno ${args.join(" ")} failed (exit ${r.code})`);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const publish = args[0] === "--publish";
  if (publish) args.shift();
  let out = new URL(".cache/dist/package", root).pathname;
  const o = args.indexOf("--out");
  if (o >= 0) {
    out = args[o + 1];
    args.splice(o, 2);
  }
  const rootPath = Deno.realPathSync(new URL(".", root));
  await run(
    ["run", "--allow-read=.", "--allow-write=native/build", "--allow-run", "--allow-env", "tools/build.ts"],
    rootPath,
  );
  const published = await stagePackage(out);
  console.log(`staged @eve/aio ${published.version} in ${out}`);
  for (const [file, digest] of Object.entries(published.files)) console.log(`  ${digest}  ${file}`);
  if (publish) await run(["publish", ...args], out);
}

/**
 * Where the native library may be, as a pure function of where this module
 * runs: its own URL, the main module's URL, whether the process is a
 * `deno compile` binary, the OS and the architecture. Kept free of any
 * Deno API call so that tests can reproduce every layout (a checkout, a
 * JSR download, a compiled binary on Linux or Windows) on one machine.
 *
 * @module
 */

/** What the lookup depends on; `Deno.build` and `import.meta` in real use. */
export interface Place {
  /** URL of a module in this package's `ffi/` folder (its `import.meta.url`). */
  moduleUrl: string;
  /** `Deno.mainModule`: inside a compiled binary, a `file:` URL in its embedded file system. */
  mainModule: string;
  /** `Deno.build.standalone`: true inside a `deno compile` binary. */
  standalone: boolean;
  /** `Deno.build.os`. */
  os: string;
  /** `Deno.build.arch`. */
  arch: string;
}

/** One place to look, in the order tried. */
export interface Candidate {
  /** Which rule produced it. */
  kind: "beside" | "embedded" | "remote";
  /** A `file:` URL for the local kinds; for "remote", the URL to download from. */
  url: string;
}

/** The folder name of a target in `native/build/` and in the cache: "linux-x64", "windows-x64", "linux-arm64". */
export function platformDir(os: string, arch: string): string {
  const a = arch === "x86_64" ? "x64" : arch === "aarch64" ? "arm64" : arch;
  return `${os}-${a}`;
}

/** The library's file name on an OS. */
export function libraryFileName(os: string): string {
  switch (os) {
    case "windows":
      return "aio.dll";
    case "darwin":
      return "libaio.dylib";
    default:
      return "libaio.so";
  }
}

/** The library's path inside the package: `native/build/<os>-<arch>/<file>`. */
export function packagePath(os: string, arch: string): string {
  return `native/build/${platformDir(os, arch)}/${libraryFileName(os)}`;
}

/**
 * The places the library may be, in order, after the explicit choices
 * (`EventLoop.libraryPath`, `AIO_LIBRARY`), which the loader handles itself:
 *
 * 1. "beside": a local (`file:`) module loads `native/build/...` of its own
 *    package. This also covers a `deno compile` binary of a local program:
 *    there `import.meta.url` points into the embedded file system, laid out
 *    as the source tree was (`/tmp/deno-compile-<exe>/...`, or
 *    `C:\...\Temp\deno-compile-<exe>.exe\...` on Windows), so the library
 *    passed with `--include native/build/...` sits at the same relative path.
 * 2. "embedded": a compiled binary whose copy of this package came from a
 *    remote URL (JSR) cannot find files relative to it (a remote module has
 *    no place in the embedded file system), so it looks beside the main
 *    module: `<main module dir>/native/build/<os>-<arch>/<file>`, which is
 *    where `deno compile --include native/build/...` puts a library that
 *    the program's own project holds at that path.
 * 3. "remote": a module from `https:`/`http:` downloads the library from its
 *    own package base URL into the verified cache.
 */
export function libraryCandidates(place: Place): Candidate[] {
  const rel = packagePath(place.os, place.arch);
  // This module lives in `ffi/`: the package root is one level up.
  const base = new URL("../", place.moduleUrl);
  const out: Candidate[] = [];
  if (base.protocol === "file:") out.push({ kind: "beside", url: new URL(rel, base).href });
  if (place.standalone && place.mainModule.startsWith("file:")) {
    const url = new URL(rel, place.mainModule).href;
    if (!out.some((c) => c.url === url)) out.push({ kind: "embedded", url });
  }
  if (base.protocol === "https:" || base.protocol === "http:") {
    out.push({ kind: "remote", url: new URL(rel, base).href });
  }
  return out;
}

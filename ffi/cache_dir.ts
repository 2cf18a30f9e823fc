/**
 * Where downloaded libraries are kept: beside Deno's own cache, following
 * its convention, so that clearing Deno's cache clears ours too.
 *
 *   AIO_CACHE_DIR                   an explicit folder (used as is)
 *   DENO_DIR                        <DENO_DIR>/eve_aio
 *   Linux and others                $XDG_CACHE_HOME/deno/eve_aio, else $HOME/.cache/deno/eve_aio
 *   macOS                           $HOME/Library/Caches/deno/eve_aio
 *   Windows                         %LOCALAPPDATA%\deno\eve_aio
 *
 * Below that: `<version>/<os>-<arch>/<file>`, so versions never overwrite
 * each other's files (a process may have the old one loaded).
 *
 * @module
 */

/** Reads one environment variable: undefined when unset or not readable. */
export type EnvReader = (name: string) => string | undefined;

/** The environment variables `cacheRoot` may read, in the order it reads them. */
export function cacheVariables(os: string): string[] {
  const common = ["AIO_CACHE_DIR", "DENO_DIR"];
  if (os === "windows") return [...common, "LOCALAPPDATA"];
  if (os === "darwin") return [...common, "HOME"];
  return [...common, "XDG_CACHE_HOME", "HOME"];
}

/** The cache root for downloaded libraries, or null when no variable names one. */
export function cacheRoot(os: string, env: EnvReader): string | null {
  const sep = os === "windows" ? "\\" : "/";
  const join = (...parts: string[]) => parts.join(sep);
  const explicit = env("AIO_CACHE_DIR");
  if (explicit) return explicit;
  const denoDir = env("DENO_DIR");
  if (denoDir) return join(denoDir, "eve_aio");
  if (os === "windows") {
    const local = env("LOCALAPPDATA");
    return local ? join(local, "deno", "eve_aio") : null;
  }
  const home = env("HOME");
  if (os === "darwin") return home ? join(home, "Library", "Caches", "deno", "eve_aio") : null;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "deno", "eve_aio");
  return home ? join(home, ".cache", "deno", "eve_aio") : null;
}

/** The cached library's folder: `<root>/<version>/<os>-<arch>`. */
export function cacheFolder(root: string, os: string, version: string, platform: string): string {
  const sep = os === "windows" ? "\\" : "/";
  return [root, version, platform].join(sep);
}

/**
 * Finds and opens the native library, once per thread, on first use (the
 * first `EventLoop`, or `createPipe`): importing the package asks for no
 * permission at all.
 *
 * Order (README, "Loading the native library"):
 *  1. `EventLoop.libraryPath`, when set: that file and nothing else;
 *  2. `AIO_LIBRARY`, where `--allow-env` grants reading it: likewise;
 *  3. the file beside this module, when the module is local (a checkout, or
 *     a local program inside a `deno compile` binary);
 *  4. the file embedded in a `deno compile` binary beside its main module;
 *  5. for a remote module (`https:`, as from JSR): the cache, filled by a
 *     download from the module's own base URL that is checked against the
 *     SHA-256 digests published with the module (ffi/digests.ts) before it
 *     is written or opened.
 * An explicit choice (1, 2) that fails is an error of its own: falling
 * back to another library would hide a mistake. Otherwise every place is
 * tried, and the error names each one with the reason it failed, including
 * the permission that was missing.
 *
 * @module
 */
import { type Native, symbols } from "./symbols.ts";
import { type Candidate, libraryCandidates, libraryFileName, platformDir } from "./candidates.ts";
import { cacheFolder, cacheRoot, cacheVariables } from "./cache_dir.ts";
import { DigestMismatch, downloadSync } from "./download.ts";
import { PUBLISHED } from "./digests.ts";
import { sha256Hex } from "./sha256.ts";

/** The ABI this module speaks (`AIO_ABI_VERSION` of native/include/aio.h). */
export const ABI_VERSION = 6;
const DOWNLOAD_TIMEOUT_MS = 60_000;

/** How the loaded library was found. */
export type LibraryOrigin = "libraryPath" | "AIO_LIBRARY" | "beside" | "embedded" | "cache" | "download";

/**
 * Raised when the native library cannot be found or opened.
 *
 * @example Telling a missing library from other errors
 * ```ts
 * import { EventLoop, LibraryLoadError } from "@eve/aio";
 *
 * try {
 *   console.log(EventLoop.default.backend);
 * } catch (err) {
 *   if (!(err instanceof LibraryLoadError)) throw err;
 *   console.error(err.message); // every place tried, and the permission missing
 * }
 * ```
 */
export class LibraryLoadError extends Error {
  /** Creates the error; `cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LibraryLoadError";
  }
}

interface Opened {
  symbols: Native;
  path: string;
  origin: LibraryOrigin;
}

let opened: Opened | null = null;
let explicitPath: string | null = null;

/** Sets the file to load (`EventLoop.libraryPath`); only before the library is loaded. */
export function setLibraryPath(path: string | null): void {
  if (path !== null && (typeof path !== "string" || path === "")) {
    throw new TypeError("EventLoop.libraryPath must be a non-empty string or null");
  }
  if (opened && path !== explicitPath) {
    throw new Error(
      `@eve/aio: the native library is loaded already (from ${opened.path}); set EventLoop.libraryPath before the first loop`,
    );
  }
  explicitPath = path;
}

/** The file set with `setLibraryPath`, or null. */
export function libraryPath(): string | null {
  return explicitPath;
}

/** Where the loaded library came from; null before it is loaded. */
export function loadedLibrary(): { path: string; origin: LibraryOrigin } | null {
  return opened && { path: opened.path, origin: opened.origin };
}

/** The path the library is loaded from (loading it first when needed). */
export function libraryLocation(): string {
  native();
  return opened!.path;
}

/** Opens the library (once) and returns its typed symbols. */
export function native(): Native {
  if (opened) return opened.symbols;
  opened = find();
  return opened.symbols;
}

function find(): Opened {
  if (explicitPath !== null) {
    return openOrThrow(explicitPath, "libraryPath", "EventLoop.libraryPath");
  }
  const tried: string[] = [];
  const env = readEnv("AIO_LIBRARY");
  if (env.value) return openOrThrow(env.value, "AIO_LIBRARY", "AIO_LIBRARY");
  tried.push(env.denied ? "AIO_LIBRARY: not read (no --allow-env for it)" : "AIO_LIBRARY: not set");

  const place = {
    moduleUrl: import.meta.url,
    mainModule: Deno.mainModule,
    standalone: Deno.build.standalone === true,
    os: Deno.build.os,
    arch: Deno.build.arch,
  };
  let cause: unknown;
  for (const c of libraryCandidates(place)) {
    if (c.kind === "remote") {
      const r = fromRemote(c, tried);
      if ("opened" in r) return r.opened;
      cause = r.cause ?? cause;
      continue;
    }
    const url = new URL(c.url);
    try {
      return open(url, c.kind, filePath(url));
    } catch (err) {
      if (err instanceof LibraryLoadError) throw err;
      tried.push(`${filePath(url)} (${c.kind === "beside" ? "beside the module" : "embedded"}): ${reason(err)}`);
      cause = err;
    }
  }
  const local = import.meta.url.startsWith("file:");
  throw new LibraryLoadError(
    `@eve/aio: cannot load the native library for ${platformDir(Deno.build.os, Deno.build.arch)}. Tried:\n` +
      tried.map((t) => `  - ${t}\n`).join("") +
      (local ? "Build it with `deno task build`, or set " : "Set ") +
      "EventLoop.libraryPath (or AIO_LIBRARY) to the library's path.",
    { cause },
  );
}

function fromRemote(c: Candidate, tried: string[]): { opened: Opened } | { cause?: unknown } {
  const os = Deno.build.os;
  const platform = platformDir(os, Deno.build.arch);
  const file = libraryFileName(os);
  const digest = PUBLISHED?.files[`${platform}/${file}`];
  if (!PUBLISHED || !digest) {
    tried.push(
      `${c.url}: not downloaded: ${
        PUBLISHED
          ? `@eve/aio ${PUBLISHED.version} publishes no library for ${platform}`
          : "this copy of @eve/aio was not published with binaries (ffi/digests.ts lists none)"
      }`,
    );
    return {};
  }
  const denied: string[] = [];
  const root = cacheRoot(os, (name) => {
    const r = readEnv(name);
    if (r.denied) denied.push(name);
    return r.value;
  });
  if (!root) {
    tried.push(
      `${c.url}: no cache folder: ${
        denied.length
          ? `needs --allow-env=${denied.join(",")} (or AIO_CACHE_DIR set and readable)`
          : `none of ${cacheVariables(os).join(", ")} is set`
      }`,
    );
    return {};
  }
  const sep = os === "windows" ? "\\" : "/";
  const folder = cacheFolder(root, os, PUBLISHED.version, platform);
  const path = `${folder}${sep}${file}`;
  if (!granted({ name: "read", path: folder })) {
    tried.push(`${path} (cache): needs --allow-read=${folder}`);
    return {};
  }
  const cached = readVerified(path, digest);
  if (cached === "ok") {
    try {
      return { opened: open(path, "cache", path) };
    } catch (err) {
      if (err instanceof LibraryLoadError) throw err;
      tried.push(`${path} (cache, SHA-256 verified): ${reason(err)}`);
      return { cause: err };
    }
  }
  tried.push(`${path} (cache): ${cached === "missing" ? "not cached yet" : "SHA-256 differs, downloading again"}`);
  const host = new URL(c.url).host;
  const missing = [
    granted({ name: "net", host }) ? "" : `--allow-net=${host}`,
    granted({ name: "write", path: folder }) ? "" : `--allow-write=${folder}`,
  ].filter(Boolean);
  if (missing.length) {
    tried.push(`${c.url}: not downloaded: needs ${missing.join(" and ")}`);
    return {};
  }
  try {
    downloadSync({ url: c.url, digest, folder, file, sep, timeoutMs: DOWNLOAD_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof DigestMismatch) {
      throw new LibraryLoadError(
        `@eve/aio: refused the library downloaded from ${c.url}: ${err.message}. ` +
          `It was not loaded and nothing was cached. Tried:\n` + tried.map((t) => `  - ${t}\n`).join(""),
        { cause: err },
      );
    }
    tried.push(`${c.url}: download failed: ${reason(err)}`);
    return { cause: err };
  }
  // Opened only after checking the file on disk once more: what is loaded
  // is always a verified cached file.
  if (readVerified(path, digest) !== "ok") {
    tried.push(`${path} (cache): SHA-256 differs after the download (another writer?)`);
    return {};
  }
  try {
    return { opened: open(path, "download", path) };
  } catch (err) {
    if (err instanceof LibraryLoadError) throw err;
    tried.push(`${path} (downloaded, SHA-256 verified): ${reason(err)}`);
    return { cause: err };
  }
}

function readVerified(path: string, digest: string): "ok" | "missing" | "mismatch" {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return "missing";
  }
  return sha256Hex(bytes) === digest ? "ok" : "mismatch";
}

function openOrThrow(where: string, origin: LibraryOrigin, label: string): Opened {
  try {
    return open(where, origin, where);
  } catch (err) {
    if (err instanceof LibraryLoadError) throw err;
    throw new LibraryLoadError(`@eve/aio: cannot open the native library at ${where} (from ${label}): ${reason(err)}`, {
      cause: err,
    });
  }
}

// Throws what Deno.dlopen throws; a LibraryLoadError when the file opened
// but is not a library this code can use.
function open(where: string | URL, origin: LibraryOrigin, path: string): Opened {
  const lib = Deno.dlopen(where, symbols);
  let v: number;
  try {
    v = lib.symbols.aio_abi_version();
  } catch (err) {
    lib.close();
    throw err;
  }
  if (v !== ABI_VERSION) {
    lib.close();
    throw new LibraryLoadError(`@eve/aio: native library ABI ${v}, expected ${ABI_VERSION} (${path}, from ${origin})`);
  }
  return { symbols: lib.symbols, path, origin };
}

function reason(err: unknown): string {
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return `permission missing: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

// Reads a variable only where --allow-env grants it: never prompts.
function readEnv(variable: string): { value?: string; denied: boolean } {
  if (!granted({ name: "env", variable })) return { denied: true };
  return { value: Deno.env.get(variable) || undefined, denied: false };
}

function filePath(url: URL): string {
  const p = decodeURIComponent(url.pathname);
  return Deno.build.os === "windows" ? p.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\") : p;
}

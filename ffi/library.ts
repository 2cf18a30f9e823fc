/**
 * Finds and opens the native library for the running OS, once per thread.
 *
 * Lookup order: the `AIO_LIBRARY` environment variable (an explicit path),
 * then the library built beside this module (`native/build/<os>-<arch>/`).
 * Later issues add a verified download cache and `deno compile` support here
 * without changing any caller.
 *
 * @module
 */
import { type Native, symbols } from "./symbols.ts";

const ABI_VERSION = 2;

let opened: Native | null = null;

/** Raised when the native library cannot be found or opened. */
export class LibraryLoadError extends Error {
  /** Creates the error; `cause` keeps the loader's own error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LibraryLoadError";
  }
}

function libraryFile(): string {
  switch (Deno.build.os) {
    case "windows":
      return "aio.dll";
    case "darwin":
      return "libaio.dylib";
    default:
      return "libaio.so";
  }
}

/** The path or URL the library is loaded from. */
export function libraryLocation(): string | URL {
  let explicit: string | undefined;
  try {
    explicit = Deno.env.get("AIO_LIBRARY");
  } catch {
    // No --allow-env: only the default location applies.
  }
  if (explicit) return explicit;
  const dir = `${Deno.build.os}-${Deno.build.arch === "x86_64" ? "x64" : Deno.build.arch}`;
  return new URL(`../native/build/${dir}/${libraryFile()}`, import.meta.url);
}

/** Opens the library (once) and returns its typed symbols. */
export function native(): Native {
  if (opened) return opened;
  const where = libraryLocation();
  let lib: Deno.DynamicLibrary<typeof symbols>;
  try {
    lib = Deno.dlopen(where, symbols);
  } catch (cause) {
    throw new LibraryLoadError(
      `@eve/aio: cannot open the native library at ${String(where)}. ` +
        `Build it with \`deno task build\` or set AIO_LIBRARY to its path.`,
      { cause },
    );
  }
  const v = lib.symbols.aio_abi_version();
  if (v !== ABI_VERSION) {
    lib.close();
    throw new LibraryLoadError(`@eve/aio: native library ABI ${v}, expected ${ABI_VERSION} (${String(where)})`);
  }
  opened = lib.symbols;
  return opened;
}

/**
 * Library error codes -> `Deno.errors` classes. The numbers mirror
 * `enum aio_error` in native/include/aio.h (tests/errors_test.ts compares
 * them with the library's own names); this is the only place they become
 * JavaScript errors.
 *
 * @module
 */

/** Library error codes (positive; the C functions return them negated). */
export const Code = {
  EBADID: 1,
  EINVAL: 2,
  ENOMEM: 3,
  ECLOSED: 4,
  EAGAIN: 5,
  EADDRINUSE: 6,
  EADDRNOTAVAIL: 7,
  ECONNREFUSED: 8,
  ECONNRESET: 9,
  ECONNABORTED: 10,
  ETIMEDOUT: 11,
  ENOENT: 12,
  EACCES: 13,
  EPIPE: 14,
  ECANCELED: 15,
  ENETUNREACH: 16,
  EHOSTUNREACH: 17,
  EBUSY: 18,
  ENOTSUP: 19,
  EMFILE: 20,
  ENOTFOUND: 21,
  EEXIST: 22,
  ENOTCONN: 23,
  EBADF: 24,
  EIO: 25,
  ENAMETOOLONG: 26,
  EAFNOSUPPORT: 27,
} as const;

/** Names by code, as the C side spells them. */
export const CODE_NAMES: readonly string[] = (() => {
  const names = ["OK"];
  for (const [name, value] of Object.entries(Code)) names[value] = name;
  return names;
})();

type ErrorClass = new (message?: string, options?: ErrorOptions) => Error;

/**
 * Out of descriptors or handles: the process (EMFILE) or the system
 * (ENFILE; Windows WSAEMFILE) can open no more, so a socket could not be
 * created or accepted. `code` is "EMFILE". Deno.errors has no class for it:
 * Busy means a resource in use elsewhere (EBUSY), and a plain Error would
 * leave callers only the string to test. It is transient, unlike most
 * errors: retrying after descriptors are closed may succeed (a listener
 * does so by itself).
 *
 * @example Out of descriptors is an error of its own
 * ```ts
 * import { ResourceExhausted, TcpConnection, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * try {
 *   const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
 *   conn.abort();
 * } catch (err) {
 *   // Retrying later may succeed, once descriptors are closed.
 *   if (err instanceof ResourceExhausted) console.error("out of descriptors:", err.message);
 *   else throw err;
 * } finally {
 *   listener.close();
 * }
 * ```
 */
export class ResourceExhausted extends Error {
  /** Creates the error; the library sets `code`. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ResourceExhausted";
  }
}

// Deno.errors classes by code; a class this Deno lacks falls back to Error.
function errorClass(code: number): ErrorClass {
  const e = Deno.errors as unknown as Record<string, ErrorClass | undefined>;
  const pick = (name: string) => e[name] ?? Error;
  switch (code) {
    case Code.EBADID:
    case Code.EBADF:
      return pick("BadResource");
    case Code.EINVAL:
      return TypeError;
    case Code.EAGAIN:
      return pick("WouldBlock");
    case Code.EADDRINUSE:
      return pick("AddrInUse");
    case Code.EADDRNOTAVAIL:
      return pick("AddrNotAvailable");
    case Code.ECONNREFUSED:
      return pick("ConnectionRefused");
    case Code.ECONNRESET:
      return pick("ConnectionReset");
    case Code.ECONNABORTED:
      return pick("ConnectionAborted");
    case Code.ETIMEDOUT:
      return pick("TimedOut");
    case Code.ENOENT:
    case Code.ENOTFOUND:
      return pick("NotFound");
    case Code.EACCES:
      return pick("PermissionDenied");
    case Code.EPIPE:
    case Code.ECLOSED:
      return pick("BrokenPipe");
    case Code.ECANCELED:
      return pick("Interrupted");
    case Code.ENETUNREACH:
    case Code.EHOSTUNREACH:
      return pick("NetworkUnreachable");
    case Code.EBUSY:
      return pick("Busy");
    case Code.ENOTSUP:
    case Code.EAFNOSUPPORT:
      return pick("NotSupported");
    case Code.EEXIST:
      return pick("AlreadyExists");
    case Code.ENOTCONN:
      return pick("NotConnected");
    case Code.EMFILE:
      return ResourceExhausted;
    default:
      return Error;
  }
}

/** The POSIX-style `code` an error carries ("EBADF" for a stale id). */
export function codeName(code: number): string {
  if (code === Code.EBADID) return "EBADF";
  if (code === Code.ECLOSED) return "EPIPE";
  return CODE_NAMES[code] ?? "EIO";
}

/** An error as thrown by this library: a Deno.errors instance + code/osError. */
export type AioError = Error & { code: string; osError?: number };

/** Builds the error for a library code (positive or negated). */
export function aioError(code: number, osError: number, what: string): AioError {
  const c = Math.abs(code);
  const name = codeName(c);
  const Cls = errorClass(c);
  const os = osError ? ` (os error ${osError})` : "";
  const err = new Cls(`${what}: ${name}${os}`) as AioError;
  err.code = name;
  if (osError) err.osError = osError;
  return err;
}

/** A typed error for an operation that timed out (`timeoutMs`). */
export function timedOut(what: string, ms: number): AioError {
  const err = new Deno.errors.TimedOut(`${what}: timed out after ${ms} ms`) as AioError;
  err.code = "ETIMEDOUT";
  return err;
}

/** The error for using an object after `dispose()`. */
export function disposedError(what: string): TypeError {
  return new TypeError(`${what}: the object has been disposed`);
}

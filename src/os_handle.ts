/**
 * OS handles as the API takes them (an fd on Linux, a SOCKET or HANDLE
 * value on Windows) and as the FFI passes them (u64, or two 32-bit halves
 * in a record).
 *
 * @module
 */

/**
 * An OS socket or handle: an fd on Linux, a SOCKET/HANDLE value on Windows.
 *
 * @example The handles of an anonymous pipe pair
 * ```ts
 * import { closePipe, createPipe, type OsHandle } from "@eve/aio";
 *
 * const pair = createPipe();
 * const handles: OsHandle[] = [pair.readEnd, pair.writeEnd];
 * console.log(handles.length); // 2: file descriptors on Linux, HANDLE values on Windows
 * closePipe(pair);
 * ```
 */
export type OsHandle = number | bigint;

/** Checks an OS handle argument. */
export function checkHandle(handle: unknown, name = "handle"): OsHandle {
  if (typeof handle === "bigint") {
    if (handle < 0n || handle > 0xffffffffffffffffn) throw new RangeError(`${name} is out of range`);
    return handle;
  }
  if (typeof handle !== "number" || !Number.isInteger(handle)) {
    throw new TypeError(`${name} must be an integer or bigint OS handle`);
  }
  if (handle < 0) throw new RangeError(`${name} must not be negative, got ${handle}`);
  return handle;
}

/** An OS handle from a record's two halves. */
export function osHandle(lo: number, hi: number): OsHandle {
  return hi === 0 ? lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** An OS handle as the FFI's u64 parameters take it. */
export function u64(handle: OsHandle): bigint {
  return typeof handle === "bigint" ? handle : BigInt(handle);
}

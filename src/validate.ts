/**
 * Argument checks, made at the public method before any state changes.
 * Each throws TypeError or RangeError naming the argument.
 *
 * @module
 */

/** A port in 0..65535 (or 1..65535 when `allowZero` is false). */
export function checkPort(port: unknown, name = "port", allowZero = true): number {
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new TypeError(`${name} must be an integer, got ${typeof port === "number" ? port : typeof port}`);
  }
  const min = allowZero ? 0 : 1;
  if (port < min || port > 65535) throw new RangeError(`${name} must be in ${min}..65535, got ${port}`);
  return port;
}

/**
 * A string that will cross into C (a host, a path, a pipe name). C stops at
 * a NUL, and TextEncoder turns a lone surrogate into U+FFFD, while Deno's
 * permission check sees the whole JS string: either would let the check
 * approve one name and the OS open another. So both are refused here,
 * before any permission check.
 */
export function checkString(value: unknown, name: string): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${typeof value}`);
  if (value.includes("\0")) throw new TypeError(`${name} must not contain a NUL character`);
  if (!value.isWellFormed()) throw new TypeError(`${name} must be well-formed UTF-16 (it has a lone surrogate)`);
  return value;
}

/** An optional integer in [min, max]. */
export function checkInt(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${typeof value === "number" ? value : typeof value}`);
  }
  if (value < min || value > max) throw new RangeError(`${name} must be in ${min}..${max}, got ${value}`);
  return value;
}

/** An optional AbortSignal. */
export function checkSignal(signal: unknown, name = "options.signal"): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new TypeError(`${name} must be an AbortSignal`);
  return signal;
}

/** An optional options object. */
export function checkOptions<T extends object>(options: unknown, name = "options"): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") throw new TypeError(`${name} must be an object, got ${typeof options}`);
  return options as Partial<T>;
}

/** Water marks and buffer sizes of a connection or pipe. */
export interface WaterMarks {
  highWaterMark: number;
  lowWaterMark: number;
  readBufferSize: number;
}

/** Default high water mark: the queue level at which send() reports pressure. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** Default read size per wake-up. */
export const DEFAULT_READ_BUFFER_SIZE = 64 * 1024;
/** The largest read size: the loop's receive arena. */
export const MAX_READ_BUFFER_SIZE = 1024 * 1024;

// No config: one shared answer (never mutated: a change replaces it).
const DEFAULT_MARKS: WaterMarks = Object.freeze({
  highWaterMark: DEFAULT_HIGH_WATER_MARK,
  lowWaterMark: DEFAULT_HIGH_WATER_MARK / 2,
  readBufferSize: DEFAULT_READ_BUFFER_SIZE,
});

/** Validates a connection/pipe config and fills in the defaults. */
export function checkWaterMarks(config: unknown, name = "config"): WaterMarks {
  if (config === undefined) return DEFAULT_MARKS;
  const c = checkOptions<{ highWaterMark: number; lowWaterMark: number; readBufferSize: number; bufferSize: number }>(
    config,
    name,
  );
  const high = checkInt(c.highWaterMark, `${name}.highWaterMark`, 1, Number.MAX_SAFE_INTEGER) ??
    DEFAULT_HIGH_WATER_MARK;
  const low = checkInt(c.lowWaterMark, `${name}.lowWaterMark`, 0, Number.MAX_SAFE_INTEGER) ??
    Math.min(Math.floor(high / 2), high);
  if (low > high) {
    throw new RangeError(`${name}.lowWaterMark (${low}) must not exceed ${name}.highWaterMark (${high})`);
  }
  // A pipe's config calls it bufferSize: the error names what was given.
  const readName = c.readBufferSize === undefined && c.bufferSize !== undefined ? "bufferSize" : "readBufferSize";
  const read = checkInt(c.readBufferSize ?? c.bufferSize, `${name}.${readName}`, 1, MAX_READ_BUFFER_SIZE) ??
    DEFAULT_READ_BUFFER_SIZE;
  return { highWaterMark: high, lowWaterMark: low, readBufferSize: read };
}

/**
 * A payload for send(): a Uint8Array or an array of them. Views of a
 * SharedArrayBuffer or of a resizable/growable buffer are accepted (their
 * bytes are copied during the call, as Node's socket.write does); a view
 * whose buffer was detached (transferred) or shrank below it is refused:
 * it reads as empty, and sending nothing in its place would lose the
 * bytes the caller meant to send without a word.
 */
export function checkPayload(data: unknown, name = "data"): Uint8Array[] {
  if (data instanceof Uint8Array) {
    checkAttached(data, name);
    return [data];
  }
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      if (!(data[i] instanceof Uint8Array)) throw new TypeError(`${name}[${i}] must be a Uint8Array`);
      checkAttached(data[i], `${name}[${i}]`);
    }
    return data as Uint8Array[];
  }
  throw new TypeError(`${name} must be a Uint8Array or an array of Uint8Array`);
}

function checkAttached(view: Uint8Array, name: string): void {
  // A detached or out-of-bounds view has length 0 and is the only kind
  // that makes at() throw, so a view with bytes costs nothing here.
  if (view.length !== 0) return;
  try {
    view.at(0);
  } catch {
    throw new TypeError(`${name} is detached or out of bounds of its resizable buffer`);
  }
}

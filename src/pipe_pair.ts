/**
 * Anonymous pipe pairs: `createPipe` and `closePipe`, and the record of
 * which ends a Pipe has adopted (an adopted end belongs to its Pipe, so
 * `closePipe` must leave it alone).
 *
 * @module
 */
import { native } from "../ffi/library.ts";
import { OsHandleKind } from "../ffi/records.ts";
import { aioError } from "./errors.ts";
import { checkHandle, type OsHandle, u64 } from "./os_handle.ts";

/**
 * The two ends of an anonymous pipe, as OS handles.
 *
 * @example Both ends of an anonymous pipe
 * ```ts
 * import { closePipe, createPipe, type PipePair } from "@eve/aio";
 *
 * const pair: PipePair = createPipe();
 * console.log(typeof pair.readEnd, typeof pair.writeEnd); // "number" "number" (or bigint)
 * closePipe(pair);
 * ```
 */
export interface PipePair {
  /** The end to read from. */
  readEnd: OsHandle;
  /** The end to write to. */
  writeEnd: OsHandle;
}

const pairs = new Map<string, { pair: PipePair; adopted: boolean }>();
const closedPairs = new WeakSet<PipePair>();
const key = (h: OsHandle) => String(h);

/**
 * Creates an anonymous pipe pair usable with the loop (a unique named pipe on Windows).
 *
 * @example An anonymous pipe the loop reads and writes
 * ```ts
 * import { createPipe, Pipe } from "@eve/aio";
 *
 * const { readEnd, writeEnd } = createPipe();
 * const reader = Pipe.create(), writer = Pipe.create();
 * reader.adoptRead(readEnd);
 * writer.adoptWrite(writeEnd);
 * const got = new Promise<string>((resolve) => (reader.onData = (_p, d) => resolve(new TextDecoder().decode(d))));
 * writer.send(new TextEncoder().encode("hello"));
 * console.log(await got); // "hello"
 * await writer.close();
 * reader.abort();
 * ```
 */
export function createPipe(): PipePair {
  const out = new BigUint64Array(2);
  const err = new Int32Array(2);
  const r = native().aio_pipe_pair(out, err);
  if (r < 0) throw aioError(err[0] || r, err[1], "createPipe");
  const num = (v: bigint): OsHandle => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const pair: PipePair = { readEnd: num(out[0]), writeEnd: num(out[1]) };
  pairs.set(key(pair.readEnd), { pair, adopted: false });
  pairs.set(key(pair.writeEnd), { pair, adopted: false });
  return pair;
}

/**
 * Closes the ends of a pair that no Pipe has adopted.
 *
 * @example Closing a pair no Pipe adopted
 * ```ts
 * import { closePipe, createPipe } from "@eve/aio";
 *
 * const pair = createPipe();
 * closePipe(pair); // both handles closed
 * closePipe(pair); // a second call does nothing
 * ```
 */
export function closePipe(pair: PipePair): void {
  if (!pair || typeof pair !== "object") throw new TypeError("pair must be a PipePair");
  const ends = [checkHandle(pair.readEnd, "pair.readEnd"), checkHandle(pair.writeEnd, "pair.writeEnd")];
  if (closedPairs.has(pair)) return;
  closedPairs.add(pair);
  for (const h of ends) {
    const rec = pairs.get(key(h));
    if (rec && rec.pair !== pair) continue; // the value now belongs to a newer pair
    if (!rec?.adopted) native().aio_os_close(u64(h), OsHandleKind.PIPE);
    pairs.delete(key(h));
  }
}

/** A Pipe adopted `handle`: if it is an end of a pair, `closePipe` must not close it. */
export function markAdopted(handle: OsHandle): void {
  const rec = pairs.get(key(handle));
  if (rec) rec.adopted = true;
}

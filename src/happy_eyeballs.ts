/**
 * Connecting to one of several addresses (docs/DESIGN.md, "Connect
 * attempts"): Happy Eyeballs per RFC 8305 (the families interleaved, a
 * new attempt every `attemptDelayMs` or as soon as one fails, the first to
 * connect wins, the others closed at once), or one address after another.
 *
 * Each attempt is its own native socket with a small target on the loop
 * that takes its CONNECTED record; the winner's id then goes to the
 * stream. Before CONNECTED a socket reports nothing else (no reading has
 * started and early sends wait in JS), so handing the id over loses
 * nothing.
 *
 * @module
 */
import { encodeAddr, type IpAddr } from "./address.ts";
import { CloseMode, RecordKind } from "../ffi/records.ts";
import type { ConnectAttempt } from "./connect.ts";
import { aioError, Code } from "./errors.ts";
import type { LoopCore } from "./pump.ts";

/** RFC 8305's recommended Connection Attempt Delay. */
export const DEFAULT_ATTEMPT_DELAY_MS = 250;

/** One destination and the local address to bind for it (or none). */
export interface Candidate {
  /** Where to connect. */
  addr: IpAddr;
  /** What to bind first, or null. */
  local: IpAddr | null;
  /** The local port to bind (0: any). */
  localPort: number;
}

/** The attempt that won. */
export interface Winner {
  /** Its native id, still registered to the race: the caller attaches it (taking it over). */
  id: number;
  /** The address it connected to. */
  addr: IpAddr;
}

/**
 * RFC 8305 section 4: alternate the families, starting with the family of
 * the resolver's first answer, each family in the resolver's order.
 */
export function interleave(addrs: IpAddr[]): IpAddr[] {
  if (addrs.length < 2) return addrs;
  const first = addrs.filter((a) => a.family === addrs[0].family);
  const other = addrs.filter((a) => a.family !== addrs[0].family);
  const out: IpAddr[] = [];
  for (let i = 0; i < Math.max(first.length, other.length); i++) {
    if (i < first.length) out.push(first[i]);
    if (i < other.length) out.push(other[i]);
  }
  return out;
}

/** What a connect race needs from its connection. */
export interface RaceOptions {
  loop: LoopCore;
  port: number;
  flags: number;
  /** Start the next attempt after this long without an outcome; Infinity: only after a failure. */
  delayMs: number;
  /** Whether the attempts keep the process alive (the connection's ref). */
  ref: boolean;
  /** For messages. */
  where: string;
  /** The loop closed under the attempts: the connection is disposed. */
  onLoopClosed: () => void;
}

/**
 * Connects to the first candidate that answers; rejects with the last
 * failure, or with the attempt's cancellation (every socket closed).
 */
export async function race(candidates: Candidate[], o: RaceOptions, a: ConnectAttempt): Promise<Winner> {
  const loop = o.loop;
  const inFlight = new Map<number, IpAddr>();
  let next = 0;
  let lastError: unknown = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const close = (id: number) => {
    loop.unregister(id);
    if (!loop.closed) loop.native.aio_close(loop.ptr, id, CloseMode.NOW);
  };
  const closeAll = () => {
    clearTimeout(timer);
    for (const id of inFlight.keys()) close(id);
    inFlight.clear();
  };

  const outcome = a.wait<Winner | { error: unknown }>((resolve) => {
    // Starts the next candidate (a failure to even start moves on at once).
    const start = () => {
      clearTimeout(timer);
      timer = undefined;
      while (next < candidates.length) {
        const c = candidates[next++];
        const local = c.local ? encodeAddr(c.local, c.localPort) : null;
        const id = loop.native.aio_tcp_connect_from(loop.ptr, encodeAddr(c.addr, o.port), local, o.flags);
        if (id < 0) {
          lastError = aioError(id, loop.osError(), o.where);
          continue;
        }
        inFlight.set(id, c.addr);
        loop.register(id, {
          record: (kind, status, osError) => {
            if (kind === RecordKind.CONNECTED) settle(id, status, osError);
          },
          dispose: () => {
            inFlight.delete(id);
            o.onLoopClosed();
          },
        }, o.ref);
        if (next < candidates.length && Number.isFinite(o.delayMs)) timer = setTimeout(start, o.delayMs);
        return;
      }
      if (inFlight.size === 0) {
        resolve({ error: lastError ?? aioError(Code.ENOTFOUND, 0, `${o.where}: no address`) });
      }
    };
    const settle = (id: number, status: number, osError: number) => {
      const addr = inFlight.get(id);
      if (addr === undefined) return;
      inFlight.delete(id);
      if (status < 0) {
        close(id);
        lastError = aioError(status, osError, o.where);
        // RFC 8305: a failed attempt starts the next one at once.
        start();
        return;
      }
      // The first to connect wins; the others are cancelled (closed now:
      // the shim drains whatever the OS still reports for them).
      // The id stays registered until the connection attaches it, so the
      // loop's reference count does not drop to zero in between.
      closeAll();
      resolve({ id, addr });
    };
    start();
  });
  let r: Winner | { error: unknown };
  try {
    r = await outcome;
  } catch (error) {
    closeAll();
    throw error;
  }
  if ("error" in r) throw r.error;
  return r;
}

/**
 * The one deliberate way into the internals, for the tests (as @db/sqlite's
 * `unsafeHandle`): not exported by mod.ts, so not part of the API. Nothing
 * in src/ uses it.
 *
 * @module
 */
import { coreOf } from "./cores.ts";
import { coreOfLoop, type EventLoop } from "./loop.ts";
import type { LoopCore } from "./pump.ts";
import { type CloseReason, StreamCore } from "./stream.ts";

/** The inside of a loop: its native symbols (`native`), pointer (`ptr`) and pump. */
export function unsafeLoop(loop: EventLoop): LoopCore {
  return coreOfLoop(loop);
}

/** The native id of a connection, pipe or listener (0 when it has none). */
export function unsafeId(object: object): number {
  const core = coreOf(object);
  if (!core) throw new TypeError("not an @eve/aio object");
  return core.id;
}

/** Why a connection or pipe closed, once it has. */
export function unsafeCloseReason(stream: object): CloseReason | null {
  const core = coreOf(stream);
  if (!(core instanceof StreamCore)) throw new TypeError("not an @eve/aio stream");
  return core.closeReason;
}

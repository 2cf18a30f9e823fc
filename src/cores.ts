/**
 * Which core belongs to which public object. The public classes keep their
 * core in a private field; this map is for the few places outside them that
 * need it (the shutdown coordinator's close reasons, the tests' escape
 * hatch in src/unsafe.ts), so no public class carries an internal member.
 *
 * @module
 */
import type { HandleCore } from "./handle.ts";
import type { CloseReason } from "./stream.ts";

const cores = new WeakMap<object, HandleCore>();

/** Records `core` as the inside of `owner`. */
export function bindCore(owner: object, core: HandleCore): void {
  cores.set(owner, core);
}

/** The core of a public object, if it is one of ours. */
export function coreOf(owner: object): HandleCore | undefined {
  return cores.get(owner);
}

const reasons = new WeakMap<object, () => CloseReason | null>();

/** Records how to read the close reason of `owner`, a stream with no core of its own (TLS). */
export function bindCloseReason(owner: object, reason: () => CloseReason | null): void {
  reasons.set(owner, reason);
}

/** The close reason of a stream, or null while open (or when it is not one of ours). */
export function closeReasonOf(owner: object): CloseReason | null {
  const core = cores.get(owner) as { closeReason?: CloseReason | null } | undefined;
  return core?.closeReason ?? reasons.get(owner)?.() ?? null;
}

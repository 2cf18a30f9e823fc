/**
 * Which core belongs to which public object. The public classes keep their
 * core in a private field; this map is for the few places outside them that
 * need it (the shutdown coordinator's close reasons, the tests' escape
 * hatch in src/unsafe.ts), so no public class carries an internal member.
 *
 * @module
 */
import type { HandleCore } from "./handle.ts";

const cores = new WeakMap<object, HandleCore>();

/** Records `core` as the inside of `owner`. */
export function bindCore(owner: object, core: HandleCore): void {
  cores.set(owner, core);
}

/** The core of a public object, if it is one of ours. */
export function coreOf(owner: object): HandleCore | undefined {
  return cores.get(owner);
}

/**
 * What the inside of every object that owns a native handle is: an id on a
 * loop, ref/unref, dispose checks, and callbacks that cannot break the
 * loop. The public classes hold one of these (a stream or listener core)
 * and show only the API (docs/DESIGN.md, "Public faces and cores").
 *
 * @module
 */
import type { LoopCore, LoopTarget } from "./pump.ts";
import { disposedError } from "./errors.ts";

/** Base of the stream and listener cores. */
export abstract class HandleCore implements LoopTarget {
  /** The loop the object runs on. */
  readonly loop: LoopCore;
  /** The native id while attached, else 0. */
  id = 0;
  /** The public class's name, for messages. */
  readonly what: string;
  #ref = true;
  #disposed = false;

  /** Binds the object to `loop`. */
  constructor(loop: LoopCore, what: string) {
    this.loop = loop;
    this.what = what;
  }

  /** Handles a record of the loop. */
  abstract record(kind: number, status: number, osError: number, a: number, b: number): void;
  /** Releases the object without callbacks. */
  abstract dispose(): void;

  /** Throws TypeError when the object was disposed. */
  live(): void {
    if (this.#disposed) throw disposedError(this.what);
  }

  /** Whether the object keeps the process alive (ref, the default) or not (unref). */
  get refed(): boolean {
    return this.#ref;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Records that `dispose()` was called. */
  protected markDisposed(): void {
    this.#disposed = true;
  }

  /** Binds the object to a native id. */
  attach(id: number): void {
    this.id = id;
    this.loop.register(id, this, this.#ref);
  }

  /** Unbinds the object; the id's records are no longer delivered. */
  detach(): void {
    if (this.id === 0) return;
    this.loop.unregister(this.id);
    this.id = 0;
  }

  /** Closes the native handle (if any) in `mode` (CloseMode); the result of aio_close. */
  closeNative(mode: number): number {
    if (this.id === 0) return 0;
    return this.loop.native.aio_close(this.loop.ptr, this.id, mode);
  }

  /** Starts or stops native reading (accepting, for a listener). */
  protected setNativeReading(on: boolean): void {
    if (this.id === 0) return;
    const n = this.loop.native;
    if (on) {
      n.aio_read_start(this.loop.ptr, this.id);
      this.loop.kick();
    } else {
      n.aio_read_stop(this.loop.ptr, this.id);
    }
  }

  /** Keeps the process alive while the object is open (the default). */
  ref(): void {
    this.live();
    this.#ref = true;
    if (this.id) this.loop.setRef(this.id, true);
  }

  /**
   * A graceful close is under way: keep the process alive until it ends,
   * even when the object was unref'd, so that `await close()` always
   * settles (the shim only needs to flush and send FIN).
   */
  holdWhileClosing(): void {
    if (this.id) this.loop.setRef(this.id, true);
    this.loop.kick();
  }

  /** Lets the process exit while the object is open. */
  unref(): void {
    this.live();
    this.#ref = false;
    if (this.id) this.loop.setRef(this.id, false);
  }

  /**
   * Calls a user callback. A throw is reported to `onError` when there is
   * one, else to the loop; the caller then closes this object with reason
   * "error". Returns false when the callback threw.
   */
  invoke<A extends unknown[]>(fn: ((...args: A) => void) | null | undefined, ...args: A): boolean {
    if (!fn) return true;
    try {
      fn(...args);
      return true;
    } catch (error) {
      this.callbackFailed(error);
      return false;
    }
  }

  /** What happens when a callback throws; cores override it to close. */
  protected callbackFailed(error: unknown): void {
    this.loop.reportError(error);
  }
}

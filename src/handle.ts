/**
 * What every object that owns a native handle is: an id on a loop,
 * ref/unref, dispose checks, and callbacks that cannot break the loop.
 *
 * @module
 */
import type { EventLoop, LoopTarget } from "./loop.ts";
import { disposedError } from "./errors.ts";

/** Base of TcpListener, TcpConnection, Pipe and PipeListener. */
export abstract class Resource implements LoopTarget {
  /** The loop the object runs on. */
  readonly _loop: EventLoop;
  /** The native id while attached, else 0. */
  _id = 0;
  #ref = true;
  #disposed = false;

  /** Binds the object to `loop`. */
  constructor(loop: EventLoop) {
    this._loop = loop;
  }

  /** The name used in error messages. */
  protected abstract get _what(): string;

  /** Handles a record of the loop (internal). */
  abstract _record(kind: number, status: number, osError: number, a: number, b: number): void;
  /** Releases the object without callbacks. */
  abstract dispose(): void;

  /** Throws TypeError when the object was disposed. */
  protected _live(): void {
    if (this.#disposed) throw disposedError(this._what);
  }

  /** Whether `dispose()` was called. */
  protected get _disposed(): boolean {
    return this.#disposed;
  }

  /** Records that `dispose()` was called. */
  protected _markDisposed(): void {
    this.#disposed = true;
  }

  /** Binds the object to a native id. */
  protected _attach(id: number): void {
    this._id = id;
    this._loop._register(id, this, this.#ref);
  }

  /** Unbinds the object; the id's records are no longer delivered. */
  protected _detach(): void {
    if (this._id === 0) return;
    this._loop._unregister(this._id);
    this._id = 0;
  }

  /** Starts or stops native reading (accepting, for a listener). */
  protected _setNativeReading(on: boolean): void {
    if (this._id === 0) return;
    const n = this._loop._native;
    if (on) {
      n.aio_read_start(this._loop._ptr, this._id);
      this._loop._kick();
    } else {
      n.aio_read_stop(this._loop._ptr, this._id);
    }
  }

  /** Keeps the process alive while the object is open (the default). */
  ref(): void {
    this._live();
    this.#ref = true;
    if (this._id) this._loop._setRef(this._id, true);
  }

  /** Lets the process exit while the object is open; its events still arrive while something else keeps it alive. */
  unref(): void {
    this._live();
    this.#ref = false;
    if (this._id) this._loop._setRef(this._id, false);
  }

  /**
   * Calls a user callback. A throw is reported to `onError` when there is
   * one, else to the loop; the caller then closes this object with reason
   * "error". Returns false when the callback threw.
   */
  protected _invoke<A extends unknown[]>(fn: ((...args: A) => void) | null, ...args: A): boolean {
    if (!fn) return true;
    try {
      fn(...args);
      return true;
    } catch (error) {
      this._callbackFailed(error);
      return false;
    }
  }

  /** What happens when a callback throws; objects override it to close. */
  protected _callbackFailed(error: unknown): void {
    this._loop._reportError(error);
  }
}

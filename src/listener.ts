/**
 * What TcpListener and PipeListener share: accepted handles become stream
 * objects that go to `onConnection` or wait (bounded) for `accept()` and
 * async iteration; accepting pauses while nobody can take them.
 *
 * @module
 */
import { CloseMode, RecordKind } from "../ffi/records.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { aioError, Code } from "./errors.ts";
import { Resource } from "./handle.ts";
import { type EventLoop, osHandle, u64 } from "./loop.ts";
import type { OsHandle } from "./tcp_connection.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { checkOptions, checkSignal } from "./validate.ts";

// After a failure such as EMFILE, accepting resumes after this pause.
const ACCEPT_RETRY_MS = 100;

/** Base of the listeners: `Conn` is what they accept, `Self` the listener type. */
export abstract class Listener<Conn extends { dispose(): void }, Self> extends Resource {
  #onConnection: ((listener: Self, conn: Conn) => void) | null = null;
  #open = false;
  // close() was called (possibly before a listen in progress finished).
  #closed = false;
  // listen() was called: accept() may wait for it.
  #started = false;
  #queue: AcceptQueue<Conn>;
  #accepting = true;
  #retry: ReturnType<typeof setTimeout> | undefined;

  /** `backlog` bounds the connections waiting for accept(). */
  constructor(loop: EventLoop, backlog: number) {
    super(loop);
    this.#queue = new AcceptQueue(backlog);
  }

  /** This listener, as callbacks receive it. */
  protected abstract get _self(): Self;

  /** Wraps an accepted OS handle; throws when it cannot be adopted. */
  protected abstract _wrap(handle: OsHandle): Conn;

  /** Whether a raw-handle callback takes accepted handles instead (onAccept). */
  protected _takeRaw(_handle: OsHandle): boolean {
    return false;
  }

  /** The OS handle kind for aio_os_close: 0 socket, 1 pipe. */
  protected abstract get _handleKind(): number;

  /** Receives every accepted connection, ready to use (also those that were waiting for accept()). */
  get onConnection(): ((listener: Self, conn: Conn) => void) | null {
    return this.#onConnection;
  }
  set onConnection(fn: ((listener: Self, conn: Conn) => void) | null) {
    if (fn !== null && typeof fn !== "function") {
      throw new TypeError(`${this._what}.onConnection must be a function or null`);
    }
    this.#onConnection = fn;
    if (fn) queueMicrotask(() => this.#handOver());
    this._callbacksChanged();
  }

  /** Whether the listener owns an open OS handle. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Whether close() or dispose() was called. */
  protected get _closed(): boolean {
    return this.#closed;
  }

  /** A listen() has begun: throws TypeError when the listener is closed or listening already. */
  protected _startListen(): void {
    if (this.#closed) throw new TypeError(`${this._what}.listen: the listener is closed`);
    if (this.#started) throw new TypeError(`${this._what}.listen: already listening`);
    this.#started = true;
  }

  /** A listen() failed: another may be tried. */
  protected _listenFailed(): void {
    this.#started = false;
  }

  /**
   * Starts delivering for the listening handle `id`; false (and the handle
   * closed) when close() came while the listen was under way.
   */
  protected _listening(id: number): boolean {
    if (this.#closed) {
      this._loop._native.aio_close(this._loop._ptr, id, CloseMode.NOW);
      return false;
    }
    this._attach(id);
    this.#open = true;
    return true;
  }

  /** A callback was set or cleared: accepting may resume. */
  protected _callbacksChanged(): void {
    this.#syncAccepting();
  }

  // Connections that waited in the queue go to onConnection once it is set.
  #handOver(): void {
    for (let conn = this.#queue.shift(); conn && this.#onConnection; conn = this.#queue.shift()) {
      this._invoke(this.#onConnection, this._self, conn);
    }
    this.#syncAccepting();
  }

  /** The next connection; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<Conn> {
    this._live();
    const signal = checkSignal(checkOptions<{ signal: AbortSignal }>(options).signal);
    if (!this.#started && !this.#closed) {
      return Promise.reject(new TypeError(`${this._what}.accept: not listening (call listen first)`));
    }
    const p = this.#queue.take(signal);
    this.#syncAccepting();
    return p;
  }

  /** Yields connections until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Conn> {
    while (this.#open) {
      try {
        yield await this.accept();
      } catch (error) {
        if (!this.#open) return;
        throw error;
      }
    }
  }

  /** Stops listening; queued, never accepted connections are closed. */
  close(): void {
    this.#closed = true;
    if (this._disposed || !this.#open) {
      this.#queue.close(closedError(this._what));
      return;
    }
    this.#shut();
  }

  /** Releases the listener without callbacks. */
  dispose(): void {
    if (this._disposed) return;
    this.#closed = true;
    this.#shut();
    this._markDisposed();
  }

  /** Tracks this listener for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this._live();
    return coordinator.track(this);
  }

  /** Closes the listener; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this._loop._settled();
  }

  #shut(): void {
    clearTimeout(this.#retry);
    if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this._detach();
    this.#open = false;
    this.#queue.close(closedError(this._what));
  }

  // Accept only while someone can take the connections: a callback, or
  // room in the queue (backlog); beyond it the OS backlog applies.
  #syncAccepting(): void {
    if (!this._id || this.#retry !== undefined) return;
    const want = this._hasCallback() || !this.#queue.full || this.#queue.waiting;
    if (want === this.#accepting) return;
    this.#accepting = want;
    this._setNativeReading(want);
  }

  /** Whether a callback takes every connection (so the queue never fills). */
  protected _hasCallback(): boolean {
    return this.#onConnection !== null;
  }

  /** Handles a record of the loop (internal). */
  override _record(kind: number, status: number, osError: number, a: number, b: number): void {
    if (kind === RecordKind.ACCEPTED) {
      this.#accepted(osHandle(a, b));
    } else if (kind === RecordKind.ACCEPT_ERROR) {
      // The listener stays open; accepting pauses briefly (EMFILE and the
      // like usually pass) and resumes.
      this._loop._reportError(aioError(status, osError, `${this._what}.accept`));
      this.#accepting = false;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#syncAccepting();
      }, ACCEPT_RETRY_MS);
    }
  }

  #accepted(handle: OsHandle): void {
    if (this._takeRaw(handle)) return;
    let conn: Conn;
    try {
      conn = this._wrap(handle);
    } catch (error) {
      // A refused adopt leaves the handle untouched and ours (aio.h): this
      // is its one and only close.
      this._loop._native.aio_os_close(u64(handle), this._handleKind);
      this._loop._reportError(error);
      return;
    }
    if (this.#onConnection) {
      this._invoke(this.#onConnection, this._self, conn);
      return;
    }
    this.#queue.push(conn);
    this.#syncAccepting();
  }
}

function closedError(what: string): () => Error {
  return () => aioError(Code.EBADID, 0, `${what}.accept: the listener is closed`);
}

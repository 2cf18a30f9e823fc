/**
 * The inside of TcpListener and PipeListener: accepted handles become
 * stream objects that go to `onConnection` or wait (bounded) for `accept()`
 * and async iteration; accepting pauses while nobody can take them.
 *
 * Two small state machines (docs/DESIGN.md, "Listener states"):
 *  - life:      idle -> starting (listen called) -> listening -> closed;
 *               starting -> idle when the listen fails, -> closed when
 *               close() came first;
 *  - accepting: on <-> off (somebody can take a connection, or not),
 *               -> backoff after an accept error (EMFILE), on again after
 *               a pause.
 *
 * @module
 */
import { CloseMode, RecordKind } from "../ffi/records.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { aioError, Code } from "./errors.ts";
import { HandleCore } from "./handle.ts";
import { type OsHandle, osHandle, u64 } from "./os_handle.ts";
import type { LoopCore } from "./pump.ts";
import { checkOptions, checkSignal } from "./validate.ts";

// After an accept error (out of descriptors), accepting pauses this long.
const ACCEPT_RETRY_MS = 100;

type Life = "idle" | "starting" | "listening" | "closed";
type Accepting = "on" | "off" | "backoff";

/** What a kind of listener does with accepted handles. */
export interface ListenerKind<Conn> {
  /** The public class's name, for messages. */
  what: string;
  /** What an accepted handle is, for closing one nobody takes (OsHandleKind). */
  acceptedKind: number;
  /** Wraps an accepted OS handle; throws when it cannot be adopted. */
  wrap(handle: OsHandle): Conn;
  /** Gives the raw handle to a raw-handle callback (onAccept); false when there is none. */
  takeRaw(handle: OsHandle): boolean;
  /** Whether a raw-handle callback is set. */
  hasRaw(): boolean;
  /** Whether one more connection may be taken (maxConnections); false closes the handle at once. */
  admit?(): boolean;
}

/** The inside of a listener: `Conn` is what it accepts, `O` its public object. */
export class ListenerCore<Conn extends { dispose(): void }, O> extends HandleCore {
  /** What an accepted handle is (OsHandleKind), for the loop's orphaned records. */
  readonly acceptedKind: number;
  readonly #owner: O;
  readonly #kind: ListenerKind<Conn>;
  #onConnection: ((listener: O, conn: Conn) => void) | null = null;
  #life: Life = "idle";
  #accepting: Accepting = "on";
  #queue: AcceptQueue<Conn>;
  #retry: ReturnType<typeof setTimeout> | undefined;

  /** `backlog` bounds the connections waiting for accept(). */
  constructor(owner: O, kind: ListenerKind<Conn>, loop: LoopCore, backlog: number) {
    super(loop, kind.what);
    this.#owner = owner;
    this.#kind = kind;
    this.acceptedKind = kind.acceptedKind;
    this.#queue = new AcceptQueue(backlog);
  }

  /** The `onConnection` callback. */
  get onConnection(): ((listener: O, conn: Conn) => void) | null {
    return this.#onConnection;
  }

  /** Sets `onConnection`; connections that were waiting for accept() go to it. */
  setOnConnection(fn: ((listener: O, conn: Conn) => void) | null): void {
    if (fn !== null && typeof fn !== "function") {
      throw new TypeError(`${this.what}.onConnection must be a function or null`);
    }
    this.#onConnection = fn;
    if (fn) queueMicrotask(() => this.#handOver());
    this.callbacksChanged();
  }

  /** Whether the listener owns an open OS handle. */
  get isOpen(): boolean {
    return this.#life === "listening";
  }

  /** Whether close() or dispose() was called. */
  get closed(): boolean {
    return this.#life === "closed";
  }

  /** idle -> starting: throws TypeError when the listener is closed or listening already. */
  startListen(): void {
    if (this.#life === "closed") throw new TypeError(`${this.what}.listen: the listener is closed`);
    if (this.#life !== "idle") throw new TypeError(`${this.what}.listen: already listening`);
    this.#life = "starting";
  }

  /** starting -> idle: the listen failed, another may be tried. */
  listenFailed(): void {
    if (this.#life === "starting") this.#life = "idle";
  }

  /**
   * starting -> listening: starts delivering for the listening handle
   * `id`; false (and the handle closed) when close() came while the listen
   * was under way.
   */
  listening(id: number): boolean {
    if (this.#life === "closed") {
      this.loop.native.aio_close(this.loop.ptr, id, CloseMode.NOW);
      return false;
    }
    this.attach(id);
    this.#life = "listening";
    return true;
  }

  /** A callback was set or cleared: accepting may resume. */
  callbacksChanged(): void {
    this.#syncAccepting();
  }

  #handOver(): void {
    for (let conn = this.#queue.shift(); conn && this.#onConnection; conn = this.#queue.shift()) {
      this.invoke(this.#onConnection, this.#owner, conn);
    }
    this.#syncAccepting();
  }

  /** The next connection; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<Conn> {
    this.live();
    const signal = checkSignal(checkOptions<{ signal: AbortSignal }>(options).signal);
    if (this.#life === "idle") {
      return Promise.reject(new TypeError(`${this.what}.accept: not listening (call listen first)`));
    }
    const p = this.#queue.take(signal);
    this.#syncAccepting();
    return p;
  }

  /** Yields connections until the listener closes. */
  async *connections(): AsyncGenerator<Conn, void, undefined> {
    while (this.#life === "listening") {
      try {
        yield await this.accept();
      } catch (error) {
        if (this.#life !== "listening") return;
        throw error;
      }
    }
  }

  /** Stops listening; queued, never accepted connections are closed. */
  close(): void {
    const wasListening = this.#life === "listening";
    // any -> closed; a listen under way sees it when it completes.
    this.#life = "closed";
    if (this.disposed || !wasListening) {
      this.#queue.close(closedError(this.what));
      return;
    }
    this.#shut();
  }

  /** Releases the listener without callbacks. */
  dispose(): void {
    if (this.disposed) return;
    this.#life = "closed";
    this.#shut();
    this.markDisposed();
  }

  #shut(): void {
    clearTimeout(this.#retry);
    this.closeNative(CloseMode.NOW);
    this.detach();
    this.#queue.close(closedError(this.what));
  }

  #syncAccepting(): void {
    if (!this.id || this.#accepting === "backoff") return;
    const want = this.#kind.hasRaw() || this.#onConnection !== null || !this.#queue.full || this.#queue.waiting;
    // on <-> off: accept exactly while somebody can take a connection, so
    // that beyond the backlog the OS's own backlog applies.
    const next: Accepting = want ? "on" : "off";
    if (next === this.#accepting) return;
    this.#accepting = next;
    this.setNativeReading(want);
  }

  /** Handles a record of the loop. */
  record(kind: number, status: number, osError: number, a: number, b: number): void {
    if (kind === RecordKind.ACCEPTED) {
      this.#accepted(osHandle(a, b));
    } else if (kind === RecordKind.ACCEPT_ERROR) {
      this.loop.reportError(aioError(status, osError, `${this.what}.accept`));
      // -> backoff: the shim stopped accepting; the connections that could
      // not be accepted are still queued, so try again after a pause.
      this.#accepting = "backoff";
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        // backoff -> off, then on again if somebody can take one.
        this.#accepting = "off";
        this.#syncAccepting();
      }, ACCEPT_RETRY_MS);
    }
  }

  #accepted(handle: OsHandle): void {
    if (this.#kind.admit && !this.#kind.admit()) {
      // Beyond maxConnections: closed at once, as Node does.
      this.loop.native.aio_os_close(u64(handle), this.acceptedKind);
      return;
    }
    if (this.#kind.takeRaw(handle)) return;
    let conn: Conn;
    try {
      conn = this.#kind.wrap(handle);
    } catch (error) {
      this.loop.native.aio_os_close(u64(handle), this.acceptedKind);
      this.loop.reportError(error);
      return;
    }
    if (this.#onConnection) {
      this.invoke(this.#onConnection, this.#owner, conn);
      return;
    }
    this.#queue.push(conn);
    this.#syncAccepting();
  }
}

function closedError(what: string): () => Error {
  return () => aioError(Code.EBADID, 0, `${what}.accept: the listener is closed`);
}

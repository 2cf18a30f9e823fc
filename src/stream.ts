/**
 * The byte-stream machinery TcpConnection and Pipe share: send accounting
 * and water marks, pause/resume, end of stream, close reasons, Web Streams.
 *
 * Data flows one way through it: records from the loop (DATA, END,
 * WRITTEN, SHUTDOWN, CLOSED, ERROR) update the state here and fire the
 * callbacks; public methods turn into single synchronous native calls.
 *
 * @module
 */
import { CloseMode, RecordKind } from "../ffi/records.ts";
import { type AioError, aioError, Code } from "./errors.ts";
import { Resource } from "./handle.ts";
import type { EventLoop } from "./loop.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { checkPayload, checkWaterMarks, type WaterMarks } from "./validate.ts";

/** What `send` reports. */
export type SendResult = "ok" | "pressure" | "closed";
/** Where a connection is in its life. */
export type SocketState = "detached" | "connecting" | "open" | "closing" | "closed";
/** Why a connection closed. */
export type CloseReason = "local" | "peer" | "reset" | "error" | "aborted" | "timeout";

// Larger sends are split: the C side takes an i32 length.
const MAX_NATIVE_SEND = 1 << 30;
// What a `readable` buffers before reading pauses natively.
const READABLE_HIGH_WATER = 256 * 1024;

const enum Consumer {
  None,
  Callback,
  Stream,
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** Base of TcpConnection and Pipe: everything a byte stream does. */
export abstract class ByteStream<Self> extends Resource {
  /** The peer finished sending (FIN). */
  onEnd: ((stream: Self) => void) | null = null;
  /** The send queue fell to the low water mark after a "pressure". */
  onWritable: ((stream: Self) => void) | null = null;
  /** The stream closed; called exactly once. */
  onClose: ((stream: Self, reason: CloseReason) => void) | null = null;
  /** An I/O error, or an error thrown by a callback. */
  onError: ((stream: Self, error: Error) => void) | null = null;

  #onData: ((stream: Self, data: Uint8Array) => void) | null = null;
  #state: SocketState = "detached";
  #marks: WaterMarks;
  #queued = 0;
  #bytesRead = 0;
  #bytesWritten = 0;
  #needDrain = false;
  #consumer = Consumer.None;
  #paused = false;
  #nativeReading = false;
  #streamFull = false;
  #cancelled = false;
  #held: Uint8Array[] = [];
  #endHeld = false;
  #ended = false;
  #peerEndedFirst = false;
  #shutRequested = false;
  #writeShut = false;
  #shutWaiter: Waiter | null = null;
  #shutPromise: Promise<void> | null = null;
  #closeReason: CloseReason | null = null;
  #closePromise: Promise<void> | null = null;
  #closeResolve: (() => void) | null = null;
  #writeWaiters: Waiter[] = [];
  #earlySends: Uint8Array[] = [];
  #readCtl: ReadableStreamDefaultController<Uint8Array> | null = null;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #inOnError = false;
  #closeError: AioError | null = null;

  /** Validates `config` and binds to `loop`. */
  constructor(config: unknown, loop: EventLoop) {
    super(loop);
    this.#marks = checkWaterMarks(config);
  }

  /** This object, as the callbacks receive it. */
  protected abstract get _self(): Self;

  /** Ends the write side for `writable.close()`. */
  protected abstract _endWritable(): Promise<void>;

  // --- public surface -------------------------------------------------

  /** Received bytes; the view is valid only during the call. Setting it starts reading. */
  get onData(): ((stream: Self, data: Uint8Array) => void) | null {
    return this.#onData;
  }
  set onData(fn: ((stream: Self, data: Uint8Array) => void) | null) {
    if (fn !== null && typeof fn !== "function") throw new TypeError(`${this._what}.onData must be a function or null`);
    if (fn && this.#consumer === Consumer.Stream) {
      throw new TypeError(`${this._what}.onData: data already goes to readable`);
    }
    this.#onData = fn;
    if (fn && this.#consumer === Consumer.None) {
      this.#consumer = Consumer.Callback;
      this.#syncReading();
    }
  }

  /** Whether the stream owns an open OS handle. */
  get isOpen(): boolean {
    return this.#state === "open" || this.#state === "closing";
  }

  /** Where the stream is in its life. */
  get state(): SocketState {
    return this.#state;
  }

  /** Bytes accepted by `send` that the OS has not taken yet. */
  get sendQueueLen(): number {
    return this.#queued;
  }

  /** Whether `send` would accept bytes without reporting pressure. */
  get isWritable(): boolean {
    return (this.#state === "open" || this.#state === "connecting") && !this.#shutRequested &&
      this.#queued < this.#marks.highWaterMark;
  }

  /** Bytes delivered to the reader so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes the OS has taken so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** The reason the stream closed, once it has. */
  get _closeReason(): CloseReason | null {
    return this.#closeReason;
  }

  /**
   * Queues bytes for sending; they are copied (or written at once), so the
   * caller may reuse its buffer. "pressure" means the queue reached the high
   * water mark; `onWritable` fires once it drains to the low one.
   */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    this._live();
    const chunks = checkPayload(data);
    const s = this.#state;
    if (s === "detached") throw new TypeError(`${this._what}.send: not connected`);
    if (s === "closing" || s === "closed" || this.#shutRequested) return "closed";
    if (s === "connecting") {
      for (const c of chunks) {
        if (c.length === 0) continue;
        this.#earlySends.push(c.slice());
        this.#queued += c.length;
      }
    } else {
      for (const c of chunks) if (!this.#push(c)) return "closed";
    }
    if (this.#queued >= this.#marks.highWaterMark) {
      this.#needDrain = true;
      return "pressure";
    }
    return "ok";
  }

  /** Sends, then resolves once the queue is below the high water mark. */
  write(data: Uint8Array): Promise<void> {
    // Disposed objects, bad arguments and unconnected streams throw here,
    // synchronously, as send() does; only a closed stream rejects.
    const r = this.send(data);
    if (r === "closed") return Promise.reject(this.#closedError("write"));
    if (this.#queued < this.#marks.highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.#writeWaiters.push({ resolve, reject }));
  }

  /** Stops delivering data; what arrives meanwhile is kept, none is lost. */
  pauseReading(): void {
    this._live();
    this.#paused = true;
    this.#syncReading();
  }

  /** Delivers again, starting with anything kept while paused. */
  resumeReading(): void {
    this._live();
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#held.length || this.#endHeld) queueMicrotask(() => this.#drainHeld());
    else this.#syncReading();
  }

  /** Graceful close: flush the queue, FIN, release. Resolves when closed. */
  close(): Promise<void> {
    if (this._disposed || this.#state === "closed") return Promise.resolve();
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = new Promise((resolve) => (this.#closeResolve = resolve));
    const reason: CloseReason = this.#ended ? "peer" : "local";
    if (this.#state === "detached") {
      this.#finish(reason, null, true);
    } else if (this.#state === "connecting") {
      this._cancelConnect();
      this.#finish(reason);
    } else {
      this.#state = "closing";
      this.#closeReason = reason;
      const r = this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.GRACEFUL);
      if (r < 0) this.#release(reason);
      else this._loop._kick();
    }
    return this.#closePromise.then(() => this._loop._settled());
  }

  /** Abortive close: drops the queue and resets the connection (RST). */
  abort(): void {
    if (this._disposed || this.#state === "closed" || this.#state === "detached") return;
    if (this.#state === "connecting") {
      this._cancelConnect();
      this.#finish("aborted");
      return;
    }
    this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.ABORT);
    this.#queued = 0;
    this.#finish("aborted");
  }

  /** Releases the stream at once without invoking any callback. */
  dispose(): void {
    if (this._disposed) return;
    if (this.#state === "connecting") this._cancelConnect();
    else if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this.#finish(this.#closeReason ?? "local", null, true);
    this._markDisposed();
  }

  /** Tracks this stream for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this._live();
    return coordinator.track(this);
  }

  /** Closes gracefully; for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The received bytes as a Web Stream (with backpressure). Taking it starts reading. */
  get readable(): ReadableStream<Uint8Array> {
    this._live();
    if (this.#readable) return this.#readable;
    if (this.#consumer === Consumer.Callback) {
      throw new TypeError(`${this._what}.readable: data already goes to onData`);
    }
    this.#consumer = Consumer.Stream;
    this.#readable = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        // Taken after the end or the close: it ends (or errors) at once.
        if (this.#closeError) ctl.error(this.#closeError);
        else if (this.#ended || this.#state === "closed") ctl.close();
        else this.#readCtl = ctl;
      },
      pull: () => {
        this.#streamFull = false;
        this.#syncReading();
      },
      cancel: () => {
        // The reader is gone: what arrives is dropped, and the end is still
        // seen, so the connection closes by itself at the peer's FIN when
        // nothing else listens for it.
        this.#cancelled = true;
        this.#readCtl = null;
        this.#streamFull = false;
        this.#syncReading();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: READABLE_HIGH_WATER }));
    this.#syncReading();
    return this.#readable;
  }

  /** Bytes to send as a Web Stream; closing it ends the write side. */
  get writable(): WritableStream<Uint8Array> {
    this._live();
    this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this._endWritable(),
      abort: () => this.abort(),
    });
    return this.#writable;
  }

  // --- for subclasses --------------------------------------------------

  /** The handle is connected (or adopted): start the stream proper. */
  protected _opened(id: number): void {
    if (this._id !== id) this._attach(id);
    this.#state = "open";
    const n = this._loop._native;
    n.aio_read_budget(this._loop._ptr, id, this.#marks.readBufferSize);
    const early = this.#earlySends;
    this.#earlySends = [];
    for (const c of early) {
      this.#queued -= c.length;
      if (!this.#push(c)) break;
    }
    // A closeWrite() made while connecting goes out behind those bytes.
    if (this.#shutRequested && this.#shutWaiter) this.#startShutdown();
    this.#syncReading();
    // The OS may have taken those bytes at once, with no WRITTEN to follow:
    // wake writers now (after the caller's own continuation, e.g. onConnect).
    if (early.length) queueMicrotask(() => this.#drained());
  }

  /** Marks the stream as connecting (a connect attempt is under way). */
  protected _connecting(): void {
    this.#state = "connecting";
  }

  /** Subclasses stop a connect attempt here (close its native handle). */
  protected _cancelConnect(): void {}

  /** A failed or cancelled connect ends the stream with `reason`. */
  protected _connectFailed(reason: CloseReason): void {
    this.#earlySends = [];
    this.#queued = 0;
    // A loop that closed meanwhile closes its objects without callbacks.
    this.#finish(reason, null, this._loop.closed);
  }

  /** Half-close: flush, then FIN; reading goes on. */
  protected _shutdownWrite(): Promise<void> {
    this._live();
    if (this.#state === "detached") return Promise.reject(new TypeError(`${this._what}.closeWrite: not connected`));
    if (this.#shutPromise) return this.#shutPromise;
    if (this.#state === "closing" || this.#state === "closed") return Promise.resolve();
    this.#shutRequested = true;
    this.#shutPromise = new Promise<void>((resolve, reject) => (this.#shutWaiter = { resolve, reject }));
    if (this.#state === "open") this.#startShutdown();
    return this.#shutPromise;
  }

  /** Whether this stream writes at all (a pipe's read end does not). */
  protected get _writesData(): boolean {
    return true;
  }

  /**
   * The close reason for a failure code. A peer that went away is not a
   * failure of the connection: a reset, an abort, or EPIPE (a send after the
   * peer closed, which Linux reports instead of the reset once the reset was
   * seen) end it with "reset", reported through onClose only; "error" is
   * what reaches onError (or the global handler). Pipes override EPIPE.
   */
  protected _reasonFor(code: number): CloseReason {
    return code === Code.ECONNRESET || code === Code.ECONNABORTED || code === Code.EPIPE ? "reset" : "error";
  }

  /** Handles a record of the loop (internal). */
  override _record(kind: number, status: number, osError: number, a: number, b: number): void {
    switch (kind) {
      case RecordKind.DATA:
        return this.#data(a, b);
      case RecordKind.WRITTEN:
        return this.#written(b);
      case RecordKind.END:
        return this.#end();
      case RecordKind.SHUTDOWN:
        return this.#shutdownDone(status, osError);
      case RecordKind.CLOSED:
        // The id is dead on the native side already.
        this._loop._unregister(this._id);
        this._id = 0;
        return this.#finish(this.#closeReason ?? "local");
      case RecordKind.ERROR:
        return this.#fail(status, osError);
    }
  }

  /** A callback threw: report it, close with reason "error". */
  protected override _callbackFailed(error: unknown): void {
    if (this.#onErrorReport(error)) return;
    if (this.#state === "closed") return;
    if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this.#finish("error", null);
  }

  // --- internals --------------------------------------------------------

  // Reports a callback's error; true when it was onError itself that threw.
  #onErrorReport(error: unknown): boolean {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.#inOnError || !this.onError) {
      this._loop._reportError(err);
      return this.#inOnError;
    }
    this.#inOnError = true;
    try {
      this.onError(this._self, err);
    } catch (again) {
      this._loop._reportError(again);
    } finally {
      this.#inOnError = false;
    }
    return false;
  }

  #push(c: Uint8Array): boolean {
    const n = this._loop._native, ptr = this._loop._ptr;
    for (let off = 0; off < c.length; off += MAX_NATIVE_SEND) {
      const part = off === 0 && c.length <= MAX_NATIVE_SEND ? c : c.subarray(off, off + MAX_NATIVE_SEND);
      const r = n.aio_send(ptr, this._id, part, part.length);
      if (r < 0) {
        const os = this._loop._osError();
        // Report asynchronously: send() itself never runs callbacks.
        queueMicrotask(() => this.#fail(r, os));
        return false;
      }
      this.#bytesWritten += r;
      this.#queued += part.length - r;
    }
    return true;
  }

  #syncReading(): void {
    const want = this.#state === "open" && this.#consumer !== Consumer.None && !this.#paused && !this.#ended &&
      !this.#streamFull && this.#held.length === 0 && this._id !== 0;
    if (want === this.#nativeReading) return;
    this.#nativeReading = want;
    this._setNativeReading(want);
  }

  #data(offset: number, length: number): void {
    if (this.#state !== "open" && this.#state !== "closing") return;
    this.#bytesRead += length;
    const view = this._loop._arena.subarray(offset, offset + length);
    // Paused after this batch was read: keep a copy, deliver on resume.
    if (this.#paused || this.#held.length) {
      this.#held.push(view.slice());
      this.#syncReading();
      return;
    }
    this.#deliver(view);
  }

  #deliver(view: Uint8Array): void {
    if (this.#consumer === Consumer.Callback) {
      this._invoke(this.#onData, this._self, view);
    } else if (this.#readCtl) {
      this.#readCtl.enqueue(view.slice());
      if ((this.#readCtl.desiredSize ?? 0) <= 0) {
        this.#streamFull = true;
        this.#syncReading();
      }
    }
  }

  #drainHeld(): void {
    while (this.#held.length && !this.#paused && this.#state !== "closed") {
      this.#deliver(this.#held.shift()!);
    }
    if (this.#held.length === 0 && this.#endHeld && !this.#paused) {
      this.#endHeld = false;
      this.#end();
    }
    this.#syncReading();
  }

  #written(n: number): void {
    this.#queued -= n;
    this.#bytesWritten += n;
    this.#drained();
  }

  // The queue went down: wake write() callers below the high mark, and
  // fire onWritable at the low mark after a "pressure".
  #drained(): void {
    if (this.#queued < this.#marks.highWaterMark && this.#writeWaiters.length) {
      const waiters = this.#writeWaiters;
      this.#writeWaiters = [];
      for (const w of waiters) w.resolve();
    }
    if (this.#needDrain && this.#queued <= this.#marks.lowWaterMark) {
      this.#needDrain = false;
      if (this.#state === "open") this._invoke(this.onWritable, this._self);
    }
  }

  #end(): void {
    if (this.#state === "closed") return;
    if (this.#held.length || this.#paused) {
      this.#endHeld = true;
      return;
    }
    this.#ended = true;
    this.#syncReading();
    const streamInUse = this.#consumer === Consumer.Stream && !this.#cancelled;
    if (this.#readCtl) {
      try {
        this.#readCtl.close();
      } catch {
        // Already closed by a cancel.
      }
    }
    if (this.#state !== "open") return;
    if (!this.onEnd && !streamInUse) {
      // Nobody listens for the end: flush and close (allowHalfOpen=false).
      this.close();
      return;
    }
    if (!this.#writeShut) this.#peerEndedFirst = true;
    this._invoke(this.onEnd, this._self);
    // Both directions are done: ours was shut, or this end never writes
    // (a pipe's read end).
    if ((this.#writeShut || !this._writesData) && this.#state === "open") {
      this.#release(this.#peerEndedFirst ? "peer" : "local");
    }
  }

  #startShutdown(): void {
    const r = this._loop._native.aio_shutdown(this._loop._ptr, this._id);
    if (r < 0) this.#shutdownDone(r, this._loop._osError());
    else this._loop._kick();
  }

  #shutdownDone(status: number, osError: number): void {
    const w = this.#shutWaiter;
    this.#shutWaiter = null;
    if (status < 0) {
      w?.reject(aioError(status, osError, `${this._what}.closeWrite`));
      return;
    }
    this.#writeShut = true;
    w?.resolve();
    if (this.#ended && this.#state === "open") this.#release(this.#peerEndedFirst ? "peer" : "local");
  }

  #fail(status: number, osError: number): void {
    if (this.#state === "closed") return;
    const code = Math.abs(status);
    const error = aioError(status, osError, `${this._what}`);
    const reason = this._reasonFor(code);
    if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this.#finish(reason, error);
  }

  // Both directions are done (or the handle failed): release it now.
  #release(reason: CloseReason): void {
    if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this.#finish(reason);
  }

  #closedError(what: string): AioError {
    return aioError(Code.EPIPE, 0, `${this._what}.${what}: the stream is ${this.#state}`);
  }

  #finish(reason: CloseReason, error: AioError | null = null, silent = false): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closeReason = reason;
    this.#closeError = error;
    this._detach();
    this.#nativeReading = false;
    this.#held = [];
    const failure = error ?? this.#closedError("write");
    const waiters = this.#writeWaiters;
    this.#writeWaiters = [];
    for (const w of waiters) w.reject(failure);
    if (this.#shutWaiter) {
      // A graceful close flushed and sent FIN: the half-close happened.
      if (!error && (reason === "local" || reason === "peer")) this.#shutWaiter.resolve();
      else this.#shutWaiter.reject(error ?? this.#closedError("closeWrite"));
      this.#shutWaiter = null;
    }
    if (this.#readCtl) {
      try {
        if (error) this.#readCtl.error(error);
        else this.#readCtl.close();
      } catch {
        // Already closed.
      }
      this.#readCtl = null;
    }
    if (this.#closeResolve) {
      this.#closeResolve();
      this.#closeResolve = null;
    } else {
      this.#closePromise = Promise.resolve();
    }
    if (silent) return;
    if (reason === "error" && error) this.#onErrorReport(error);
    try {
      this.onClose?.(this._self, reason);
    } catch (e) {
      this.#onErrorReport(e);
    }
  }
}

/**
 * The inside of TcpConnection and Pipe: send accounting and water marks,
 * read delivery with pause/resume, end of stream, close reasons, Web
 * Streams, timers and framing. Small state machines, each changed in one
 * place with the reason beside it (docs/DESIGN.md, "Stream states"):
 *
 *  - life:    detached -> connecting -> open -> closing -> closed
 *  - read:    flowing <-> paused, flowing -> yielded -> flowing (yieldRead),
 *             any -> ended (the peer's FIN delivered)
 *  - write:   open -> shutting (closeWrite asked) -> shut (FIN sent)
 *  - idle:    off <-> armed (idleTimeoutMs while open or closing)
 *  - timer:   none <-> armed (setTimer; fires once, cancelTimer, closed)
 *  - framing: streaming <-> frames (bufferUntil(n))
 *
 * plus who consumes the data (`Consumer`). Records from the loop (DATA,
 * END, WRITTEN, SHUTDOWN, CLOSED, ERROR) drive the machines and fire the
 * callbacks; public methods turn into single synchronous native calls.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { CloseMode, RecordKind } from "../ffi/records.ts";
import { type AioError, aioError, Code } from "./errors.ts";
import { HandleCore } from "./handle.ts";
import type { LoopCore } from "./pump.ts";
import { TimerEntry } from "./timers.ts";
import { ReadConsumer, writableOver, WriteWaiters } from "./stream_consumer.ts";
import {
  checkInt,
  checkPayload,
  checkWaterMarks,
  DEFAULT_READ_BUFFER_SIZE,
  MAX_READ_BUFFER_SIZE,
  type WaterMarks,
} from "./validate.ts";

/**
 * What `send` reports.
 *
 * @example What `send` says
 * ```ts
 * import { createPipe, Pipe, type SendResult } from "@eve/aio";
 *
 * const { readEnd, writeEnd } = createPipe();
 * const reader = Pipe.create(), writer = Pipe.create();
 * reader.adoptRead(readEnd);
 * writer.adoptWrite(writeEnd);
 * const result: SendResult = writer.send(new TextEncoder().encode("hello"));
 * console.log(result); // "ok": below the high water mark
 * await writer.close();
 * reader.abort();
 * ```
 */
export type SendResult = "ok" | "pressure" | "closed";
/**
 * Where a connection is in its life.
 *
 * @example A stream's state over its life
 * ```ts
 * import { createPipe, Pipe, type SocketState } from "@eve/aio";
 *
 * const { readEnd, writeEnd } = createPipe();
 * const reader = Pipe.create(), writer = Pipe.create();
 * reader.adoptRead(readEnd);
 * writer.adoptWrite(writeEnd);
 * const state: SocketState = writer.state;
 * console.log(state); // "open"
 * await writer.close();
 * reader.abort();
 * console.log(writer.state, reader.state); // "closed" "closed"
 * ```
 */
export type SocketState = "detached" | "connecting" | "open" | "closing" | "closed";
/**
 * Why a connection closed.
 *
 * @example Why a stream closed
 * ```ts
 * import { type CloseReason, createPipe, Pipe } from "@eve/aio";
 *
 * const { readEnd, writeEnd } = createPipe();
 * const reader = Pipe.create(), writer = Pipe.create();
 * reader.adoptRead(readEnd);
 * writer.adoptWrite(writeEnd);
 * const reason = new Promise<CloseReason>((resolve) => (reader.onClose = (_p, why) => resolve(why)));
 * reader.onData = () => {}; // reading starts with a data callback
 * await writer.close();
 * console.log(await reason); // "peer": the other end closed
 * ```
 */
export type CloseReason = "local" | "peer" | "reset" | "error" | "aborted" | "timeout";

/**
 * The read side: data flows, or waits (paused by the user, or yielded to
 * other connections until the loop's next macrotask), or the peer's end
 * was delivered.
 */
type ReadState = "flowing" | "paused" | "yielded" | "ended";
/** The idle timeout: not counting, or an entry in the loop's timer heap. */
type IdleState = "off" | "armed";
/** The one user timer: none, or an entry in the loop's timer heap. */
type UserTimerState = "none" | "armed";
/** How onData gets bytes: as they come, or in frames of exactly n bytes. */
type Framing = "streaming" | "frames";
/** The write side: open, a half-close asked for (FIN after the queue), FIN sent. */
type WriteState = "open" | "shutting" | "shut";

// Larger sends are split: the C side takes an i32 length.
const MAX_NATIVE_SEND = 1 << 30;
// Marks the peer's end in the queue of bytes held while paused.
const END = Symbol("end");

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** The callbacks a stream's public object carries; they receive that object. */
export interface StreamCallbacks<O> {
  /** The peer finished sending (FIN). */
  onEnd: ((stream: O) => void) | null;
  /** The send queue fell to the low water mark after a "pressure". */
  onWritable: ((stream: O) => void) | null;
  /** The stream closed; called exactly once. */
  onClose: ((stream: O, reason: CloseReason) => void) | null;
  /** An I/O error, or an error thrown by a callback. */
  onError: ((stream: O, error: Error) => void) | null;
  /** No send or receive for `idleTimeoutMs` (TCP only). */
  onIdleTimeout?: ((stream: O) => void) | null;
  /** The timer of `setTimer` fired (TCP only). */
  onTimer?: ((stream: O) => void) | null;
}

/** How TCP and pipes differ, for the parts of the stream that care. */
export interface StreamKind {
  /** The public class's name, for messages. */
  what: string;
  /** Whether `writable.close()` half-closes (TCP) or closes (a pipe cannot half-close). */
  halfClose: boolean;
  /** The close reason of EPIPE: "reset" for TCP, "peer" for a pipe whose other end went away. */
  epipe: CloseReason;
}

/** The inside of a byte stream; `O` is its public object. */
export class StreamCore<O extends StreamCallbacks<O>> extends HandleCore {
  /** Whether this stream writes at all (a pipe's read end does not). */
  writes = true;
  /** Stops a connect attempt in flight (set while one is). */
  cancelConnect: (() => void) | null = null;
  /** Takes the CONNECTED record (set while a connect is in flight). */
  connected: ((status: number, osError: number) => void) | null = null;
  /** Runs once when the stream is closed, callbacks or not (a listener's connection count). */
  onFinished: (() => void) | null = null;

  readonly #owner: O;
  readonly #kind: StreamKind;
  #life: SocketState = "detached";
  #read: ReadState = "flowing";
  #write: WriteState = "open";
  // Who takes received bytes (onData, a readable): reading follows it.
  readonly #consumer: ReadConsumer<O>;
  #marks: WaterMarks;
  #queued = 0;
  #bytesRead = 0;
  #bytesWritten = 0;
  #needDrain = false;
  #nativeReading = false;
  // Bytes (and the peer's END) that arrived while paused, in order.
  #held: (Uint8Array | typeof END)[] = [];
  #peerEndedFirst = false;
  #shutWaiter: Waiter | null = null;
  #shutPromise: Promise<void> | null = null;
  #closeReason: CloseReason | null = null;
  #closePromise: Promise<void> | null = null;
  #closeResolve: (() => void) | null = null;
  readonly #writeWaiters = new WriteWaiters();
  #earlySends: Uint8Array[] = [];
  #writable: WritableStream<Uint8Array> | null = null;
  #inOnError = false;
  #closeError: AioError | null = null;
  // Timers (docs/DESIGN.md, "Timers"): entries in the loop's one heap.
  #idle: IdleState = "off";
  #idleMs = 0;
  #lastActive = 0;
  #idleEntry: TimerEntry | null = null;
  #timer: UserTimerState = "none";
  #timerToken = 0;
  #timerEntry: TimerEntry | null = null;
  // Framing (bufferUntil): the frame size and the partial frame.
  #framing: Framing = "streaming";
  #frameSize = 0;
  #frame: Uint8Array | null = null;
  #frameFill = 0;
  // Bumped by bufferUntil: a delivery in progress sees the change.
  #frameGen = 0;

  /** Validates `config` (water marks, read size) and binds to `loop`. */
  constructor(owner: O, kind: StreamKind, config: unknown, loop: LoopCore) {
    super(loop, kind.what);
    this.#owner = owner;
    this.#kind = kind;
    this.#marks = checkWaterMarks(config);
    this.#consumer = new ReadConsumer(kind.what, () => this.#syncReading());
  }

  // --- what the public objects show ------------------------------------

  /** The `onData` callback. */
  get onData(): ((stream: O, data: Uint8Array) => void) | null {
    return this.#consumer.onData;
  }

  /** Sets `onData`; the first one makes the callback the consumer and starts reading. */
  setOnData(fn: ((stream: O, data: Uint8Array) => void) | null): void {
    this.#consumer.setOnData(fn);
  }

  /** Whether the stream owns an open OS handle. */
  get isOpen(): boolean {
    return this.#life === "open" || this.#life === "closing";
  }

  /** Where the stream is in its life. */
  get state(): SocketState {
    return this.#life;
  }

  /** Bytes accepted by `send` that the OS has not taken yet. */
  get sendQueueLen(): number {
    return this.#queued;
  }

  /** Whether `send` would accept bytes without reporting pressure. */
  get isWritable(): boolean {
    return (this.#life === "open" || this.#life === "connecting") && this.#write === "open" &&
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
  get closeReason(): CloseReason | null {
    return this.#closeReason;
  }

  /**
   * Received bytes not delivered yet: held while paused or yielded, or a
   * partial frame of bufferUntil. STARTTLS refuses while there are any.
   */
  get undelivered(): number {
    let n = this.#frameFill;
    for (const item of this.#held) if (item !== END) n += item.length;
    return n;
  }

  /**
   * Closes at once with `reason`, reporting `error` as a close with a
   * callback's error is (the TLS layer: a failed handshake closes its
   * transport with reason "error").
   */
  failWith(reason: CloseReason, error: Error | null): void {
    if (this.disposed || this.#life === "closed") return;
    if (this.#life === "connecting") this.cancelConnect?.();
    else this.closeNative(CloseMode.NOW);
    this.#finish(reason, null, false, error);
  }

  /** As `send` of the public objects. */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    this.live();
    const chunks = checkPayload(data);
    const s = this.#life;
    if (s === "detached") throw new TypeError(`${this.what}.send: not connected`);
    if (s === "open" && !this.writes) throw new TypeError(`${this.what}.send: this pipe end only reads`);
    if (s === "closing" || s === "closed" || this.#write !== "open") return "closed";
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

  /** As `write` of the public objects. */
  write(data: Uint8Array): Promise<void> {
    // Disposed objects, bad arguments and unconnected streams throw here,
    // synchronously, as send() does; only a closed stream rejects.
    const r = this.send(data);
    if (r === "closed") return Promise.reject(this.#closedError("write"));
    if (this.#queued < this.#marks.highWaterMark) return Promise.resolve();
    return this.#writeWaiters.wait();
  }

  /** Stops delivering data; what arrives meanwhile is kept, none is lost. */
  pauseReading(): void {
    this.live();
    // flowing|yielded -> paused: the user asked (a pause outlasts a yield).
    // An ended stream stays ended.
    if (this.#read === "flowing" || this.#read === "yielded") this.#read = "paused";
    this.#syncReading();
  }

  /**
   * Hands the loop to other connections: native reading stops after the
   * current callback and resumes by itself on the loop's next macrotask.
   */
  yieldRead(): void {
    this.live();
    if (this.#read !== "flowing") return;
    // flowing -> yielded: bytes already read are held, none lost; the
    // pump serves the other handles meanwhile.
    this.#read = "yielded";
    this.#syncReading();
    setImmediate(() => {
      // yielded -> flowing, unless a pause or the end came meanwhile.
      if (this.#read !== "yielded" || this.#life === "closed") return;
      this.#read = "flowing";
      if (this.#held.length) this.#drainHeld();
      else this.#syncReading();
    });
  }

  /** Most bytes read per wake-up; changes apply to the next read, held bytes stay. */
  get readBufferSize(): number {
    return this.#marks.readBufferSize;
  }

  /** Sets the read size; nothing buffered is dropped (bytes live in JS, not in the read buffer). */
  setReadBufferSize(size: number): void {
    this.live();
    if (size === undefined) throw new TypeError(`${this.what}.readBufferSize must be an integer`);
    const n = checkInt(size, `${this.what}.readBufferSize`, 1, MAX_READ_BUFFER_SIZE)!;
    this.#marks = { ...this.#marks, readBufferSize: n };
    if (this.id) this.loop.native.aio_read_budget(this.loop.ptr, this.id, n);
  }

  /** `onData` in frames of exactly `n` bytes, or as bytes come ("streaming"). */
  bufferUntil(n: number | "streaming"): void {
    this.live();
    if (n !== "streaming") checkInt(n, `${this.what}.bufferUntil`, 1, 0x7fffffff);
    const partial = this.#frameFill > 0 ? this.#frame!.slice(0, this.#frameFill) : null;
    this.#frameGen++;
    this.#frameFill = 0;
    if (n === "streaming") {
      // frames -> streaming: bytes go out as they come.
      this.#framing = "streaming";
      this.#frameSize = 0;
      this.#frame = null;
    } else {
      // -> frames: onData gets exactly n bytes at a time.
      this.#framing = "frames";
      this.#frameSize = n;
      this.#frame = new Uint8Array(n);
    }
    // A partial frame is older than anything held: it goes first, framed
    // anew (never dropped). Only a call outside a delivery can have one.
    if (partial) {
      this.#held.unshift(partial);
      this.#syncReading();
      if (this.#read === "flowing") queueMicrotask(() => this.#drainHeld());
    }
  }

  // --- timers (docs/DESIGN.md, "Timers") --------------------------------

  /** The idle timeout in milliseconds (0: off). */
  get idleTimeoutMs(): number {
    return this.#idleMs;
  }

  /** Sets the idle timeout; kept until the stream opens when set before. */
  setIdleTimeout(ms: number): void {
    this.live();
    if (ms === undefined) throw new TypeError(`${this.what}.idleTimeoutMs must be an integer`);
    this.#idleMs = checkInt(ms, `${this.what}.idleTimeoutMs`, 0, 0x7fffffff)!;
    this.#lastActive = performance.now();
    this.#syncIdle();
  }

  /** Starts the one user timer; returns its token. Throws while one is armed. */
  setTimer(ms: number): number {
    this.live();
    if (ms === undefined) throw new TypeError(`${this.what}.setTimer: ms must be an integer`);
    const delay = checkInt(ms, `${this.what}.setTimer: ms`, 0, 0x7fffffff)!;
    if (this.#life === "closed") throw new TypeError(`${this.what}.setTimer: the connection is closed`);
    if (this.#timer === "armed") {
      throw new TypeError(`${this.what}.setTimer: a timer is active already (cancelTimer it first)`);
    }
    this.#timerEntry ??= new TimerEntry(() => this.#timerFired());
    // none -> armed: one at a time, so a token is never silently replaced.
    this.#timer = "armed";
    this.#timerToken++;
    this.loop.timers.add(this.#timerEntry, performance.now() + delay);
    return this.#timerToken;
  }

  /** Cancels the user timer of `token`; a stale token does nothing. */
  cancelTimer(token: number): void {
    this.live();
    if (typeof token !== "number") throw new TypeError(`${this.what}.cancelTimer: token must be a number`);
    if (this.#timer !== "armed" || token !== this.#timerToken) return;
    // armed -> none: the user cancelled it.
    this.#timer = "none";
    this.loop.timers.cancel(this.#timerEntry!);
  }

  #timerFired(): void {
    if (this.#timer !== "armed") return;
    // armed -> none: it fires once; onTimer may set the next one.
    this.#timer = "none";
    this.invoke(this.#owner.onTimer, this.#owner);
  }

  // The idle timeout counts exactly while the stream is open or closing
  // with a timeout set.
  #syncIdle(): void {
    const want = this.#idleMs > 0 && (this.#life === "open" || this.#life === "closing");
    if (want) {
      this.#idleEntry ??= new TimerEntry(() => this.#idleDue());
      // off|armed -> armed: due a timeout after the last activity.
      this.#idle = "armed";
      this.loop.timers.add(this.#idleEntry, this.#lastActive + this.#idleMs);
    } else if (this.#idle === "armed") {
      // armed -> off: disabled, or the stream closed.
      this.#idle = "off";
      this.loop.timers.cancel(this.#idleEntry!);
    }
  }

  #idleDue(): void {
    if (this.#idle !== "armed") return;
    const now = performance.now();
    const due = this.#lastActive + this.#idleMs;
    if (due > now + 1) {
      // Activity since the entry was set: armed again for the new time
      // (lazy re-arming: no heap work per byte).
      this.loop.timers.add(this.#idleEntry!, due);
      return;
    }
    // Fired: counts anew from now (re-arms until disabled or closed).
    this.#lastActive = now;
    this.loop.timers.add(this.#idleEntry!, now + this.#idleMs);
    this.invoke(this.#owner.onIdleTimeout, this.#owner);
  }

  // A send or receive happened: the idle timeout counts from now.
  #active(): void {
    if (this.#idleMs > 0) this.#lastActive = performance.now();
  }

  /** Delivers again, starting with anything kept while paused. */
  resumeReading(): void {
    this.live();
    if (this.#read !== "paused") return;
    // paused -> flowing: the user asked; what was held goes first, after
    // the caller's own code (a resume inside onData must not re-enter it).
    this.#read = "flowing";
    if (this.#held.length) queueMicrotask(() => this.#drainHeld());
    else this.#syncReading();
  }

  /**
   * Graceful close: flush the queue, FIN, release. Resolves when closed.
   * With nothing queued it completes within the call (onClose runs before
   * it returns, as with abort()).
   */
  close(): Promise<void> {
    if (this.disposed || this.#life === "closed") return Promise.resolve();
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = new Promise((resolve) => (this.#closeResolve = resolve));
    const reason: CloseReason = this.#read === "ended" ? "peer" : "local";
    if (this.#life === "detached") {
      this.#finish(reason, null, true);
    } else if (this.#life === "connecting") {
      this.cancelConnect?.();
      this.#finish(reason);
    } else {
      // open -> closing: the shim flushes the queue, sends FIN and reports
      // CLOSED; until then the stream still delivers what arrives.
      this.#life = "closing";
      this.#closeReason = reason;
      const r = this.closeNative(CloseMode.EAGER);
      if (r < 0) this.#release(reason);
      else if (r === 1) {
        // closing -> closed at once: nothing was queued, so the shim sent
        // FIN and released the id within the call (no CLOSED record; the
        // FIN leaves without waiting for a pump turn), as abort() does.
        this.loop.unregister(this.id);
        this.id = 0;
        this.#finish(reason);
      } else this.holdWhileClosing();
    }
    return this.#closePromise.then(() => this.loop.settled());
  }

  /** Abortive close: drops the queue and resets the connection (RST). */
  abort(): void {
    if (this.disposed || this.#life === "closed" || this.#life === "detached") return;
    if (this.#life === "connecting") {
      this.cancelConnect?.();
      this.#finish("aborted");
      return;
    }
    this.closeNative(CloseMode.ABORT);
    this.#queued = 0;
    this.#finish("aborted");
  }

  /** Releases the stream at once without invoking any callback. */
  dispose(): void {
    if (this.disposed) return;
    if (this.#life === "connecting") this.cancelConnect?.();
    else this.closeNative(CloseMode.NOW);
    this.#finish(this.#closeReason ?? "local", null, true);
    this.markDisposed();
  }

  /** The received bytes as a Web Stream (with backpressure). Taking it starts reading. */
  get readable(): ReadableStream<Uint8Array> {
    this.live();
    // A cancelled readable still sees the end, so the connection closes by
    // itself at the peer's FIN when nothing else listens for it.
    return this.#consumer.readable(() =>
      this.#closeError ?? (this.#read === "ended" || this.#life === "closed" ? "ended" : "open")
    );
  }

  /** Bytes to send as a Web Stream; closing it ends the write side (or, for a pipe, closes it). */
  get writable(): WritableStream<Uint8Array> {
    this.live();
    this.#writable ??= writableOver({
      write: (chunk) => this.write(chunk),
      close: () => this.#kind.halfClose ? this.shutdownWrite() : this.close(),
      abort: () => this.abort(),
    });
    return this.#writable;
  }

  // --- for the connect and adopt code ----------------------------------

  /** The handle is connected (or adopted): start the stream proper. */
  opened(id: number): void {
    if (this.id !== id) this.attach(id);
    // detached|connecting -> open.
    this.#life = "open";
    // The shim's default budget is ours: no call for it (one FFI call fewer
    // per short-lived connection).
    if (this.#marks.readBufferSize !== DEFAULT_READ_BUFFER_SIZE) {
      this.loop.native.aio_read_budget(this.loop.ptr, id, this.#marks.readBufferSize);
    }
    // An idle timeout set before connecting starts counting now.
    this.#lastActive = performance.now();
    this.#syncIdle();
    const early = this.#earlySends;
    this.#earlySends = [];
    for (const c of early) {
      this.#queued -= c.length;
      if (!this.#push(c)) break;
    }
    // A closeWrite() made while connecting goes out behind those bytes.
    if (this.#write === "shutting" && this.#shutWaiter) this.#startShutdown();
    this.#syncReading();
    // The OS may have taken those bytes at once, with no WRITTEN to follow:
    // wake writers now (after the caller's own continuation, e.g. onConnect).
    if (early.length) queueMicrotask(() => this.#drained());
  }

  /** detached -> connecting: a connect attempt is under way. */
  connecting(): void {
    this.#life = "connecting";
  }

  /** connecting -> closed: a failed or cancelled connect ends the stream with `reason`. */
  connectFailed(reason: CloseReason): void {
    this.#earlySends = [];
    this.#queued = 0;
    // A loop that closed meanwhile closes its objects without callbacks.
    this.#finish(reason, null, this.loop.closed);
  }

  /** Half-close: flush, then FIN; reading goes on. */
  shutdownWrite(): Promise<void> {
    this.live();
    if (this.#life === "detached") return Promise.reject(new TypeError(`${this.what}.closeWrite: not connected`));
    if (this.#shutPromise) return this.#shutPromise;
    if (this.#life === "closing" || this.#life === "closed") return Promise.resolve();
    // open -> shutting: send refuses new bytes from now on; FIN follows
    // the queue (once connected, when still connecting).
    this.#write = "shutting";
    this.#shutPromise = new Promise<void>((resolve, reject) => (this.#shutWaiter = { resolve, reject }));
    if (this.#life === "open") this.#startShutdown();
    return this.#shutPromise;
  }

  /** Handles a record of the loop. */
  record(kind: number, status: number, osError: number, a: number, b: number): void {
    switch (kind) {
      case RecordKind.DATA:
        return this.#data(a, b);
      case RecordKind.WRITTEN:
        return this.#written(b);
      case RecordKind.END:
        return this.#end();
      case RecordKind.SHUTDOWN:
        return this.#shutdownDone(status, osError);
      case RecordKind.CONNECTED:
        return this.connected?.(status, osError);
      case RecordKind.CLOSED:
        // The id is dead on the native side already.
        this.loop.unregister(this.id);
        this.id = 0;
        return this.#finish(this.#closeReason ?? "local");
      case RecordKind.ERROR:
        return this.#fail(status, osError);
    }
  }

  /**
   * A callback threw: close with reason "error", then report it. Closed
   * first, so that whatever onError does (close, abort, dispose) can
   * neither change the reason nor silence onClose (issue 13's fault
   * matrix: abort() inside onError gave "aborted", dispose() no onClose).
   */
  protected override callbackFailed(error: unknown): void {
    // onError's own failure (re-entrant), or a stream closed already:
    // reported, nothing more to close.
    if (this.#inOnError || this.#life === "closed") {
      this.#onErrorReport(error);
      return;
    }
    this.closeNative(CloseMode.NOW);
    this.#finish("error", null, false, error);
  }

  // --- internals --------------------------------------------------------

  // Reports a callback's error; true when it was onError itself that threw.
  #onErrorReport(error: unknown): boolean {
    const err = error instanceof Error ? error : new Error(String(error));
    const onError = this.#owner.onError;
    if (this.#inOnError || !onError) {
      this.loop.reportError(err);
      return this.#inOnError;
    }
    this.#inOnError = true;
    try {
      onError(this.#owner, err);
    } catch (again) {
      this.loop.reportError(again);
    } finally {
      this.#inOnError = false;
    }
    return false;
  }

  #push(c: Uint8Array): boolean {
    const n = this.loop.native, ptr = this.loop.ptr;
    for (let off = 0; off < c.length; off += MAX_NATIVE_SEND) {
      const part = off === 0 && c.length <= MAX_NATIVE_SEND ? c : c.subarray(off, off + MAX_NATIVE_SEND);
      const r = n.aio_send(ptr, this.id, part, part.length);
      if (r < 0) {
        const os = this.loop.osError();
        // Report asynchronously: send() itself never runs callbacks.
        queueMicrotask(() => this.#fail(r, os));
        return false;
      }
      this.#bytesWritten += r;
      this.#queued += part.length - r;
    }
    this.#active();
    return true;
  }

  // Native reading mirrors the machines: on exactly while open, somebody
  // consumes with room, data flows and nothing is held back.
  #syncReading(): void {
    const want = this.#life === "open" && this.#consumer.wants && this.#read === "flowing" && this.#held.length === 0 &&
      this.id !== 0;
    if (want === this.#nativeReading) return;
    this.#nativeReading = want;
    this.setNativeReading(want);
  }

  #data(offset: number, length: number): void {
    if (this.#life !== "open" && this.#life !== "closing") return;
    this.#bytesRead += length;
    this.#active();
    const view = this.loop.arena.subarray(offset, offset + length);
    // Paused or yielded after this batch was read (or older bytes still
    // wait): keep a copy behind them, deliver on resume.
    if (this.#read === "paused" || this.#read === "yielded" || this.#held.length) {
      this.#held.push(view.slice());
      this.#syncReading();
      return;
    }
    this.#deliver(view);
  }

  #deliver(view: Uint8Array): void {
    const c = this.#consumer;
    if (c.state === "callback") {
      if (this.#framing === "frames") this.#deliverFrames(view);
      else this.invoke(c.onData, this.#owner, view);
    } else if (c.streamInUse) {
      // A full readable stops reading until the reader pulls.
      c.enqueue(view.slice());
    }
  }

  // onData in frames of exactly #frameSize bytes: whole frames straight
  // from `view` (no copy), the rest into the partial frame. When a
  // callback pauses, yields, re-frames or closes, the bytes not delivered
  // yet go back to the front of the held queue, in order.
  #deliverFrames(view: Uint8Array): void {
    const gen = this.#frameGen;
    const n = this.#frameSize;
    let off = 0;
    while (off < view.length) {
      if (this.#frameFill > 0 || view.length - off < n) {
        const frame = this.#frame!;
        const take = Math.min(n - this.#frameFill, view.length - off);
        frame.set(view.subarray(off, off + take), this.#frameFill);
        this.#frameFill += take;
        off += take;
        if (this.#frameFill < n) return;
        // The frame is complete: it is delivered with the fill at 0, so a
        // bufferUntil inside onData finds no partial frame.
        this.#frameFill = 0;
        this.invoke(this.#consumer.onData, this.#owner, frame);
      } else {
        this.invoke(this.#consumer.onData, this.#owner, view.subarray(off, off + n));
        off += n;
      }
      if (off < view.length && this.#deliveryStopped(gen)) {
        if (this.#life === "closed") return;
        this.#held.unshift(view.slice(off));
        this.#syncReading();
        if (this.#read === "flowing") queueMicrotask(() => this.#drainHeld());
        return;
      }
    }
  }

  // Whether a callback changed what the rest of a delivery may do.
  #deliveryStopped(gen: number): boolean {
    return this.#read !== "flowing" || this.#life === "closed" || this.#consumer.state !== "callback" ||
      gen !== this.#frameGen;
  }

  #drainHeld(): void {
    while (this.#held.length && this.#read === "flowing" && this.#life !== "closed") {
      const item = this.#held.shift()!;
      if (item === END) this.#ended();
      else this.#deliver(item);
    }
    this.#syncReading();
  }

  #written(n: number): void {
    this.#queued -= n;
    this.#bytesWritten += n;
    this.#active();
    this.#drained();
  }

  // The queue went down: wake write() callers below the high mark, and
  // fire onWritable at the low mark after a "pressure".
  #drained(): void {
    if (this.#queued < this.#marks.highWaterMark) this.#writeWaiters.wake();
    if (this.#needDrain && this.#queued <= this.#marks.lowWaterMark) {
      this.#needDrain = false;
      if (this.#life === "open") this.invoke(this.#owner.onWritable, this.#owner);
    }
  }

  // The END record: delivered now, or behind the bytes held while paused.
  #end(): void {
    if (this.#life === "closed") return;
    if (this.#held.length || this.#read === "paused" || this.#read === "yielded") {
      this.#held.push(END);
      return;
    }
    this.#ended();
  }

  #ended(): void {
    // The peer sent no more: a partial frame goes out short rather than
    // being lost.
    if (this.#frameFill > 0 && this.#consumer.state === "callback") {
      const rest = this.#frame!.slice(0, this.#frameFill);
      this.#frameFill = 0;
      this.invoke(this.#consumer.onData, this.#owner, rest);
      if (this.#life === "closed") return;
    }
    // flowing -> ended: the peer's FIN reached the reader.
    this.#read = "ended";
    this.#syncReading();
    const streamInUse = this.#consumer.streamInUse;
    this.#consumer.end();
    if (this.#life !== "open") return;
    if (!this.#owner.onEnd && !streamInUse) {
      // Nobody listens for the end: flush and close (allowHalfOpen=false).
      this.close();
      return;
    }
    if (this.#write !== "shut") this.#peerEndedFirst = true;
    this.invoke(this.#owner.onEnd, this.#owner);
    // Both directions are done: ours was shut, or this end never writes
    // (a pipe's read end).
    if ((this.#write === "shut" || !this.writes) && this.#life === "open") {
      this.#release(this.#peerEndedFirst ? "peer" : "local");
    }
  }

  #startShutdown(): void {
    const r = this.loop.native.aio_shutdown(this.loop.ptr, this.id);
    if (r < 0) this.#shutdownDone(r, this.loop.osError());
    else this.loop.kick();
  }

  #shutdownDone(status: number, osError: number): void {
    const w = this.#shutWaiter;
    this.#shutWaiter = null;
    if (status < 0) {
      // Stays "shutting": the write side is unusable, and the failure is
      // the closeWrite() caller's to see.
      w?.reject(aioError(status, osError, `${this.what}.closeWrite`));
      return;
    }
    // shutting -> shut: FIN is out.
    this.#write = "shut";
    w?.resolve();
    if (this.#read === "ended" && this.#life === "open") this.#release(this.#peerEndedFirst ? "peer" : "local");
  }

  #fail(status: number, osError: number): void {
    if (this.#life === "closed") return;
    const code = Math.abs(status);
    const error = aioError(status, osError, this.what);
    this.closeNative(CloseMode.NOW);
    this.#finish(this.#reasonFor(code), error);
  }

  // A peer that went away is not a failure of the connection: a reset, an
  // abort, or EPIPE (a send after the peer closed, which Linux reports
  // instead of the reset once the reset was seen) end it with "reset" (a
  // pipe: "peer"), reported through onClose only; "error" is what reaches
  // onError (or the global handler).
  #reasonFor(code: number): CloseReason {
    if (code === Code.EPIPE) return this.#kind.epipe;
    return code === Code.ECONNRESET || code === Code.ECONNABORTED ? "reset" : "error";
  }

  // Both directions are done (or the handle failed): release it now.
  #release(reason: CloseReason): void {
    this.closeNative(CloseMode.NOW);
    this.#finish(reason);
  }

  #closedError(what: string): AioError {
    return aioError(Code.EPIPE, 0, `${this.what}.${what}: the stream is ${this.#life}`);
  }

  // any -> closed, once: settle every waiter, end the readable, and (unless
  // silent: dispose, or a loop that closed) tell onClose why.
  // `thrown`: a callback's error, reported like `error` but not given to
  // waiters and the readable (they get the closed-stream error).
  #finish(reason: CloseReason, error: AioError | null = null, silent = false, thrown: unknown = null): void {
    if (this.#life === "closed") return;
    this.#life = "closed";
    this.#closeReason = reason;
    this.#closeError = error;
    // Timers die with the stream: at once on abort, when the close
    // completes after close() (a timer survives a graceful close until then).
    this.#syncIdle();
    if (this.#timer === "armed") {
      // armed -> none: the stream closed.
      this.#timer = "none";
      this.loop.timers.cancel(this.#timerEntry!);
    }
    this.#frameFill = 0;
    this.detach();
    this.#nativeReading = false;
    this.#held = [];
    // Whatever is still queued will never be sent: the close reason says
    // why (a graceful close only gets here once the queue is flushed).
    this.#queued = 0;
    this.#writeWaiters.fail(() => error ?? this.#closedError("write"));
    if (this.#shutWaiter) {
      // A graceful close flushed and sent FIN: the half-close happened.
      if (!error && (reason === "local" || reason === "peer")) this.#shutWaiter.resolve();
      else this.#shutWaiter.reject(error ?? this.#closedError("closeWrite"));
      this.#shutWaiter = null;
    }
    this.#consumer.end(error);
    if (this.#closeResolve) {
      this.#closeResolve();
      this.#closeResolve = null;
    } else {
      this.#closePromise = Promise.resolve();
    }
    const finished = this.onFinished;
    this.onFinished = null;
    finished?.();
    if (silent) return;
    if (reason === "error" && (error || thrown)) this.#onErrorReport(error ?? thrown);
    try {
      this.#owner.onClose?.(this.#owner, reason);
    } catch (e) {
      this.#onErrorReport(e);
    }
  }
}

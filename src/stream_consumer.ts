/**
 * The user's side of a byte stream, shared by StreamCore (TCP, pipes) and
 * TlsConnection: who takes the received bytes (`onData` or a `readable`,
 * and the states between), and the `write()` callers waiting for room.
 * The owner decides when bytes flow; this file only says who wants them.
 *
 * @module
 */

/**
 * Who takes received bytes: nobody yet (no reading), `onData`, a
 * `readable` with room, a `readable` whose queue is full (reading pauses
 * until it pulls), or a cancelled `readable` (bytes are dropped, the end
 * is still seen).
 */
export type Consumer = "none" | "callback" | "stream" | "stream-full" | "cancelled";

// What a `readable` buffers before reading pauses.
const READABLE_HIGH_WATER = 256 * 1024;

/** How a `readable` taken now starts: open, already ended, or failed. */
export type ReadableStart = "open" | "ended" | Error;

/**
 * The consumer of a stream's received bytes. `changed` runs whenever what
 * the consumer wants may have changed (a consumer came, the reader made
 * room or went): the owner then turns its reading on or off.
 */
export class ReadConsumer<O> {
  readonly #what: string;
  readonly #changed: () => void;
  #state: Consumer = "none";
  #onData: ((owner: O, data: Uint8Array) => void) | null = null;
  #ctl: ReadableStreamDefaultController<Uint8Array> | null = null;
  #readable: ReadableStream<Uint8Array> | null = null;

  /** `what` names the public class in messages. */
  constructor(what: string, changed: () => void) {
    this.#what = what;
    this.#changed = changed;
  }

  /** Who takes the bytes now. */
  get state(): Consumer {
    return this.#state;
  }

  /** Whether somebody takes bytes now and has room for them. */
  get wants(): boolean {
    const c = this.#state;
    return c === "callback" || c === "stream" || c === "cancelled";
  }

  /** Whether the bytes go to a `readable` that is still read. */
  get streamInUse(): boolean {
    return this.#state === "stream" || this.#state === "stream-full";
  }

  /** The `onData` callback. */
  get onData(): ((owner: O, data: Uint8Array) => void) | null {
    return this.#onData;
  }

  /** Sets `onData`; the first one makes the callback the consumer. */
  setOnData(fn: ((owner: O, data: Uint8Array) => void) | null): void {
    if (fn !== null && typeof fn !== "function") throw new TypeError(`${this.#what}.onData must be a function or null`);
    if (fn && this.#state !== "none" && this.#state !== "callback") {
      throw new TypeError(`${this.#what}.onData: data already goes to readable`);
    }
    this.#onData = fn;
    if (fn && this.#state === "none") {
      // none -> callback.
      this.#state = "callback";
      this.#changed();
    }
  }

  /**
   * The bytes as a Web Stream (with backpressure); the first call makes it
   * the consumer, and `start` says whether it begins open, ended or failed.
   */
  readable(start: () => ReadableStart): ReadableStream<Uint8Array> {
    if (this.#readable) return this.#readable;
    if (this.#state === "callback") throw new TypeError(`${this.#what}.readable: data already goes to onData`);
    // none -> stream.
    this.#state = "stream";
    this.#readable = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        // Taken after the end or the close: it ends (or errors) at once.
        const how = start();
        if (how instanceof Error) ctl.error(how);
        else if (how === "ended") ctl.close();
        else this.#ctl = ctl;
      },
      pull: () => {
        // stream-full -> stream: the reader made room.
        if (this.#state === "stream-full") this.#state = "stream";
        this.#changed();
      },
      cancel: () => {
        // -> cancelled: the reader is gone. What arrives is dropped, and the
        // end is still seen.
        this.#state = "cancelled";
        this.#ctl = null;
        this.#changed();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: READABLE_HIGH_WATER }));
    this.#changed();
    return this.#readable;
  }

  /**
   * Queues `chunk` (the reader's to keep) in the `readable`, if it is
   * still read; a full queue stops the flow until the reader pulls.
   */
  enqueue(chunk: Uint8Array): void {
    if (!this.#ctl || !this.streamInUse) return;
    this.#ctl.enqueue(chunk);
    if (this.#state === "stream" && (this.#ctl.desiredSize ?? 0) <= 0) {
      // stream -> stream-full.
      this.#state = "stream-full";
      this.#changed();
    }
  }

  /** Ends the `readable` (errors it with `error`), once; the end of the bytes. */
  end(error?: Error | null): void {
    const ctl = this.#ctl;
    if (!ctl) return;
    this.#ctl = null;
    try {
      if (error) ctl.error(error);
      else ctl.close();
    } catch {
      // Closed already (a cancel).
    }
  }
}

/** The `write()` callers waiting for the send queue to fall below its high mark. */
export class WriteWaiters {
  #list: { resolve(): void; reject(error: unknown): void }[] = [];

  /** A promise settled by the next `wake` or `fail`. */
  wait(): Promise<void> {
    return new Promise((resolve, reject) => this.#list.push({ resolve, reject }));
  }

  /** Resolves every waiter (there is room). */
  wake(): void {
    if (this.#list.length === 0) return;
    const list = this.#list;
    this.#list = [];
    for (const w of list) w.resolve();
  }

  /** Rejects every waiter with `error()` (the stream closed); `error` runs only when somebody waits. */
  fail(error: () => unknown): void {
    if (this.#list.length === 0) return;
    const list = this.#list;
    this.#list = [];
    const e = error();
    for (const w of list) w.reject(e);
  }
}

/** A `writable` over a stream's `write`, `close` and `abort`. */
export function writableOver(sink: {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): void;
}): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: (chunk) => sink.write(chunk),
    close: () => sink.close(),
    abort: () => sink.abort(),
  });
}

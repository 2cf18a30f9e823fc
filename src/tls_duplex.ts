/**
 * A `node:stream` Duplex over one of our streams (TcpConnection or Pipe),
 * for `node:tls` to run over: the ciphertext side of a TlsConnection.
 * Backpressure holds both ways: a "pressure" from `send` holds the write
 * callback until `onWritable` (node:tls then buffers and stops encrypting),
 * and a `push` that reports a full buffer pauses reading until node:tls
 * reads again. End and close follow the stream's.
 *
 * @module
 */
import { Duplex } from "node:stream";
import type { CloseReason } from "./stream.ts";
import type { Pipe } from "./pipe.ts";
import type { TcpConnection } from "./tcp_connection.ts";

// How long a closed TLS connection waits for the peer's FIN (see _final).
const LINGER_MS = 5000;

/** What TLS runs over. */
export type Transport = TcpConnection | Pipe;

/**
 * The Duplex. It takes the stream's callbacks over: from the switch on,
 * every received byte goes to TLS and never to the user in clear.
 */
export class TransportDuplex extends Duplex {
  /** Why the stream closed, once it has. */
  closeReason: CloseReason | null = null;
  /** The stream's I/O error, if it failed. */
  failure: Error | null = null;
  /** Called when the stream delivered the peer's end (FIN) to TLS. */
  onTransportEnd: (() => void) | null = null;
  readonly #stream: Transport;
  // The write callback held back by a "pressure", until onWritable.
  #held: ((error?: Error | null) => void) | null = null;
  #paused = false;
  #linger: number | undefined;
  #gate: (() => boolean) | null = null;

  /** Wraps `stream` and starts reading it. */
  constructor(stream: Transport) {
    // node:tls reads in record-sized pieces: a small readable buffer keeps
    // the stream paused rather than ciphertext piling up in JS.
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.#stream = stream;
    const s = stream as TcpConnection;
    s.onData = (_s, view) => {
      // The view is the loop's arena, valid only during this call: the one
      // copy on the way in.
      if (!this.push(view.slice()) || this.#gate?.()) {
        this.#paused = true;
        s.pauseReading();
      }
    };
    s.onEnd = () => {
      this.push(null);
      this.onTransportEnd?.();
    };
    s.onWritable = () => {
      const cb = this.#held;
      this.#held = null;
      cb?.();
    };
    s.onError = (_s, error) => (this.failure = error);
    s.onClose = (_s, reason) => {
      clearTimeout(this.#linger);
      this.closeReason = reason;
      const cb = this.#held;
      this.#held = null;
      cb?.(this.failure ?? new Error(`the ${stream.constructor.name} closed`));
      // A graceful end already pushed null; anything else ends reading now.
      this.push(null);
      this.destroy();
    };
    if (stream.state === "open") stream.resumeReading();
  }

  /** The stream under TLS. */
  get stream(): Transport {
    return this.#stream;
  }

  /**
   * Also pauses reading while `full` says the TLS side wants no more:
   * node:tls in Deno (2.9.6) keeps reading from a Duplex while its own
   * reader is paused, and buffers what it decrypts without bound, so the
   * transport pauses here instead. Call `release()` when it wants more.
   */
  gateWith(full: () => boolean): void {
    this.#gate = full;
  }

  /** The TLS side has room again: reading resumes if the gate paused it. */
  release(): void {
    this._read();
  }

  override _read(): void {
    // Stream machinery asks for more whenever its buffer is low: the gate
    // has the last word.
    if (!this.#paused || this.#gate?.()) return;
    this.#paused = false;
    if (this.#stream.isOpen) this.#stream.resumeReading();
  }

  override _write(chunk: Uint8Array, _encoding: string, callback: (error?: Error | null) => void): void {
    this.#sent(this.#stream.send(chunk), callback);
  }

  override _writev(chunks: { chunk: Uint8Array }[], callback: (error?: Error | null) => void): void {
    this.#sent(this.#stream.send(chunks.map((c) => c.chunk)), callback);
  }

  #sent(result: string, callback: (error?: Error | null) => void): void {
    if (result === "ok") callback();
    else if (result === "pressure") this.#held = callback;
    else callback(this.failure ?? new Error(`the ${this.#stream.constructor.name} is closed`));
  }

  // TLS ended its side (close_notify is queued before this). TCP: FIN
  // after the queue, then keep reading until the peer's FIN, bounded by
  // LINGER_MS: closing a socket with unread bytes in it (TLS 1.3 session
  // tickets arrive unasked, at any time) sends a reset instead of FIN, and
  // the peer loses what it has not read yet. A pipe cannot half-close: it
  // closes after the queue.
  override _final(callback: (error?: Error | null) => void): void {
    const s = this.#stream;
    if (!("closeWrite" in s)) {
      s.close().then(() => callback(), callback);
      return;
    }
    s.closeWrite().then(() => {
      callback();
      if (s.state !== "open") return;
      this.#linger = setTimeout(() => s.close(), LINGER_MS) as unknown as number;
      Deno.unrefTimer(this.#linger);
    }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A TLS failure: the stream goes at once. node:tls also destroys its
    // side without an error once both ends are done, possibly before our
    // last records (a reply, close_notify) left: those get a graceful
    // close, which flushes; aborting would reset the connection under them.
    if (this.#stream.state === "open") {
      if (error) this.#stream.abort();
      else this.#stream.close();
    }
    callback(error);
  }
}

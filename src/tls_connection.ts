/**
 * TlsConnection: TLS over one of our streams, with the stream surface of
 * TcpConnection. `node:tls` does the protocol over a Duplex on the stream
 * (src/tls_duplex.ts); this file turns its events back into our callbacks,
 * send results and close reasons (docs/DESIGN.md, "TLS").
 *
 * @module
 */
import type { TLSSocket } from "node:tls";
import { Buffer } from "node:buffer";
import { bindCloseReason, coreOf } from "./cores.ts";
import { aioError, Code } from "./errors.ts";
import type { NetAddress } from "./address.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { type CloseReason, type SendResult, type SocketState, StreamCore } from "./stream.ts";
import { ReadConsumer, writableOver, WriteWaiters } from "./stream_consumer.ts";
import type { Pipe } from "./pipe.ts";
import type { TcpConnection } from "./tcp_connection.ts";
import type { Transport, TransportDuplex } from "./tls_duplex.ts";
import { checkPayload, DEFAULT_HIGH_WATER_MARK } from "./validate.ts";

/** A TLS connection's life: open once the handshake is done. */
type TlsLife = "open" | "closing" | "closed";

// How long TLS may stay silent after the transport's end before the end is ours to deliver (#watchEnd).
const END_SETTLE_MS = 100;

let make: (socket: TLSSocket, duplex: TransportDuplex) => TlsConnection;

/** A TlsConnection over a finished handshake (for src/tls_handshake.ts). */
export function tlsConnectionOf(socket: TLSSocket, duplex: TransportDuplex): TlsConnection {
  return make(socket, duplex);
}

/**
 * A TLS connection over a TcpConnection or a Pipe, with TcpConnection's
 * stream surface: callbacks, `send` with backpressure, pause/resume, Web
 * Streams, graceful close (close_notify, then FIN) and abort.
 *
 * @example A TLS round trip (the certificate and key are PEM text)
 * ```ts ignore
 * import { connectTls, listenTls } from "@eve/aio";
 *
 * const [cert, key, ca] = ["server.pem", "server.key", "ca.pem"].map((f) => Deno.readTextFileSync(f));
 * const listener = await listenTls("127.0.0.1", 0, { cert, key });
 * listener.onConnection = (_l, conn) => (conn.onData = (c, data) => c.send(data));
 * const conn = await connectTls("localhost", listener.localPort, { caCerts: [ca] });
 * const echoed = new Promise<string>((resolve) => (conn.onData = (_c, d) => resolve(new TextDecoder().decode(d))));
 * conn.send(new TextEncoder().encode("ping"));
 * console.log(await echoed, conn.tlsVersion); // "ping" "TLSv1.3"
 * await conn.close();
 * listener.close();
 * ```
 */
export class TlsConnection {
  static {
    make = (socket, duplex) => new TlsConnection(socket, duplex);
  }

  /** The peer finished sending (close_notify or FIN). */
  onEnd: ((conn: TlsConnection) => void) | null = null;
  /** The send queue fell to the low water mark after a "pressure". */
  onWritable: ((conn: TlsConnection) => void) | null = null;
  /** The connection closed; called exactly once, with why. */
  onClose: ((conn: TlsConnection, reason: CloseReason) => void) | null = null;
  /** A TLS or I/O error, or an error thrown by one of this connection's callbacks. */
  onError: ((conn: TlsConnection, error: Error) => void) | null = null;

  readonly #tls: TLSSocket;
  readonly #duplex: TransportDuplex;
  readonly #transport: Transport;
  #life: TlsLife = "open";
  #reason: CloseReason | null = null;
  #peerEnded = false;
  // Who takes the decrypted bytes (onData, a readable): TLS flows behind it.
  readonly #consumer = new ReadConsumer<TlsConnection>("TlsConnection", () => this.#syncFlow());
  #paused = false;
  #endWatch: number | undefined;
  // Whether decrypted bytes are wanted now (the Duplex pauses the transport otherwise).
  #flowing = false;
  #needDrain = false;
  #bytesRead = 0;
  #bytesWritten = 0;
  readonly #writeWaiters = new WriteWaiters();
  #closePromise: Promise<void> | null = null;
  #closeResolve: (() => void) | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #error: Error | null = null;
  #disposed = false;
  #peerCert: Uint8Array | null;
  readonly #version: string;
  readonly #alpn: string | null;
  readonly #hwm = DEFAULT_HIGH_WATER_MARK;
  readonly #lwm = DEFAULT_HIGH_WATER_MARK / 2;

  private constructor(socket: TLSSocket, duplex: TransportDuplex) {
    this.#tls = socket;
    this.#duplex = duplex;
    this.#transport = duplex.stream;
    this.#version = socket.getProtocol() ?? "unknown";
    this.#alpn = typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null;
    const raw = socket.getPeerCertificate?.()?.raw as Uint8Array | undefined;
    this.#peerCert = raw?.length ? new Uint8Array(raw) : null;
    bindCloseReason(this, () => this.#reason);
    // Reading waits for a consumer: until one comes, node:tls holds what
    // arrives and pauses the transport through the Duplex.
    socket.pause();
    duplex.gateWith(() => !this.#flowing);
    socket.on("data", (data: Buffer) => this.#data(data));
    socket.on("end", () => this.#ended());
    duplex.onTransportEnd = () => this.#watchEnd();
    socket.on("drain", () => this.#drained());
    socket.on("error", (error: Error) => (this.#error ??= error));
    socket.on("close", () => this.#finish());
    // The transport went (its peer reset it, or our close finished): TLS
    // cannot go on without it.
    duplex.on("close", () => {
      if (!socket.destroyed) socket.destroy();
    });
  }

  /** Decrypted bytes; the view is valid only during the call. Setting it starts reading. */
  get onData(): ((conn: TlsConnection, data: Uint8Array) => void) | null {
    return this.#consumer.onData;
  }
  set onData(fn: ((conn: TlsConnection, data: Uint8Array) => void) | null) {
    this.#consumer.setOnData(fn);
  }

  /** The ALPN protocol agreed on, or null. */
  get alpnProtocol(): string | null {
    return this.#alpn;
  }

  /** The TLS version agreed on: "TLSv1.3", "TLSv1.2". */
  get tlsVersion(): string {
    return this.#version;
  }

  /** The peer's certificate (DER), or null when it sent none. */
  get peerCertificate(): Uint8Array | null {
    return this.#peerCert;
  }

  /** The stream TLS runs over; its callbacks belong to the TLS layer. */
  get transport(): TcpConnection | Pipe {
    return this.#transport;
  }

  /** Whether the connection is open (or closing). */
  get isOpen(): boolean {
    return this.#life !== "closed";
  }

  /** Where the connection is in its life ("open" once the handshake is done). */
  get state(): SocketState {
    return this.#life;
  }

  /** Bytes accepted by `send` not yet taken by the OS: plaintext waiting for TLS plus ciphertext queued. */
  get sendQueueLen(): number {
    if (this.#life === "closed") return 0;
    return this.#tls.writableLength + this.#transport.sendQueueLen;
  }

  /** Whether `send` would accept bytes without reporting pressure. */
  get isWritable(): boolean {
    return this.#life === "open" && !this.#tls.writableEnded && this.#tls.writableLength < this.#hwm;
  }

  /** Decrypted bytes delivered to the reader so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Plaintext bytes TLS has taken from the send queue so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** The peer's address (null over a pipe). */
  get remoteAddress(): NetAddress | null {
    return "remoteAddress" in this.#transport ? this.#transport.remoteAddress : null;
  }

  /** The local address (null over a pipe). */
  get localAddress(): NetAddress | null {
    return "localAddress" in this.#transport ? this.#transport.localAddress : null;
  }

  /**
   * Queues bytes for encryption and sending; they are copied, so the caller
   * may reuse its buffer. "pressure": the queue reached the high water mark
   * (1 MiB); `onWritable` fires once it drains to the low one. "closed":
   * nothing was queued.
   */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    this.#live();
    const chunks = checkPayload(data);
    if (this.#life !== "open" || this.#tls.writableEnded) return "closed";
    for (const c of chunks) {
      if (c.length === 0) continue;
      const n = c.length;
      // node:tls may keep the chunk until it is encrypted: the copy lets the
      // caller reuse its buffer at once.
      this.#tls.write(Buffer.from(c), (error) => {
        if (!error) this.#bytesWritten += n;
      });
    }
    if (this.#tls.writableLength >= this.#hwm) {
      this.#needDrain = true;
      return "pressure";
    }
    return "ok";
  }

  /** Sends, then resolves once the queue is below the high water mark. */
  write(data: Uint8Array): Promise<void> {
    const r = this.send(data);
    if (r === "closed") return Promise.reject(this.#closedError("write"));
    if (this.#tls.writableLength < this.#hwm) return Promise.resolve();
    return this.#writeWaiters.wait();
  }

  /** Stops delivering data; TLS and the transport pause behind it, nothing is lost. */
  pauseReading(): void {
    this.#live();
    this.#paused = true;
    this.#syncFlow();
  }

  /** Delivers again, starting with anything kept while paused. */
  resumeReading(): void {
    this.#live();
    this.#paused = false;
    this.#syncFlow();
  }

  /**
   * Graceful close: flush the queue, send close_notify, then FIN, release.
   * Resolves when closed (the peer's close_notify is not waited for).
   */
  close(): Promise<void> {
    if (this.#disposed || this.#life === "closed") return Promise.resolve();
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = new Promise((resolve) => (this.#closeResolve = resolve));
    // open -> closing. Reading goes on, into the void: bytes left unread
    // in the socket at close would turn our FIN into a reset, and the peer
    // would lose what it has not read yet (TLS 1.3 session tickets arrive
    // unasked).
    this.#life = "closing";
    this.#syncFlow();
    this.#reason ??= this.#peerEnded ? "peer" : "local";
    // close_notify goes out behind the queue; then the transport flushes,
    // sends FIN and closes (node:tls does not end the stream under it).
    this.#tls.end(() => this.#duplex.end());
    return this.#closePromise;
  }

  /** Abortive close: drops the queue and resets the transport (RST). */
  abort(): void {
    if (this.#disposed || this.#life === "closed") return;
    this.#reason = "aborted";
    this.#transport.abort();
    this.#tls.destroy();
    this.#finish();
  }

  /** Releases the connection and its transport at once without invoking any callback. */
  dispose(): void {
    if (this.#disposed) return;
    const open = this.#life !== "closed";
    this.#disposed = true;
    this.#transport.dispose();
    this.#tls.destroy();
    if (open) this.#finish(true);
  }

  /** The decrypted bytes as a Web Stream (with backpressure). Taking it starts reading. */
  get readable(): ReadableStream<Uint8Array> {
    this.#live();
    return this.#consumer.readable(() => this.#life === "closed" || this.#tls.readableEnded ? "ended" : "open");
  }

  /** Bytes to send as a Web Stream; closing it closes the connection (close_notify, FIN). */
  get writable(): WritableStream<Uint8Array> {
    this.#live();
    this.#writable ??= writableOver(this);
    return this.#writable;
  }

  /** Tracks this connection for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this.#live();
    return coordinator.track(this);
  }

  /** Keeps the process alive while the connection is open (the default). */
  ref(): void {
    this.#live();
    this.#transport.ref();
  }

  /** Lets the process exit while the connection is open. */
  unref(): void {
    this.#live();
    this.#transport.unref();
  }

  /** Closes gracefully; for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals --------------------------------------------------------

  #live(): void {
    if (this.#disposed) throw new TypeError("TlsConnection: the object has been disposed");
  }

  // TLS flows exactly while somebody consumes with room and no pause.
  #syncFlow(): void {
    if (this.#life === "closed") return;
    const want = this.#life === "closing" || (!this.#paused && this.#consumer.wants);
    this.#flowing = want;
    if (want) {
      this.#tls.resume();
      this.#duplex.release();
    } else {
      this.#tls.pause();
    }
  }

  #data(data: Buffer): void {
    const c = this.#consumer;
    if (this.#life === "closed" || (this.#life === "closing" && c.state === "none")) return;
    this.#bytesRead += data.length;
    if (c.state === "callback") {
      this.#invoke(c.onData, this, data);
    } else {
      // node:tls hands each chunk over once: it is the reader's to keep. A
      // full readable stops the flow until the reader pulls.
      c.enqueue(data);
    }
  }

  // Deno 2.9.6's node:tls sometimes never emits "end" when the stream's
  // end reaches it while records are still queued inside it (its Rust
  // side checks "closed" before its buffer), though every byte was
  // delivered. Once the transport has ended, TLS has nothing more to
  // give when a turn of END_SETTLE_MS passes while we consume and no
  // byte comes: the end is then ours to deliver.
  #watchEnd(): void {
    if (this.#endWatch !== undefined) return;
    let seen = -1;
    this.#endWatch = setInterval(() => {
      if (this.#life === "closed" || this.#peerEnded) {
        clearInterval(this.#endWatch);
        return;
      }
      const idle = this.#flowing && this.#bytesRead === seen && this.#tls.readableLength === 0;
      seen = this.#bytesRead;
      if (!idle) return;
      clearInterval(this.#endWatch);
      this.#ended();
    }, END_SETTLE_MS) as unknown as number;
    Deno.unrefTimer(this.#endWatch);
  }

  #ended(): void {
    if (this.#life === "closed" || this.#peerEnded) return;
    this.#peerEnded = true;
    const streamInUse = this.#consumer.streamInUse;
    this.#consumer.end();
    if (this.#life !== "open") return;
    if (!this.onEnd && !streamInUse) {
      // Nobody listens for the end: close (allowHalfOpen=false).
      this.close();
      return;
    }
    this.#invoke(this.onEnd, this);
  }

  #drained(): void {
    if (this.#tls.writableLength < this.#hwm) this.#writeWaiters.wake();
    if (this.#needDrain && this.#tls.writableLength <= this.#lwm) {
      this.#needDrain = false;
      if (this.#life === "open") this.#invoke(this.onWritable, this);
    }
  }

  // A user callback; a throw closes the connection with reason "error".
  #invoke<A extends unknown[]>(fn: ((...args: A) => void) | null, ...args: A): void {
    if (!fn) return;
    try {
      fn(...args);
    } catch (error) {
      if (this.#life === "closed") {
        this.#report(error);
        return;
      }
      this.#reason = "error";
      this.#error = error instanceof Error ? error : new Error(String(error));
      const core = coreOf(this.#transport);
      if (core instanceof StreamCore) core.failWith("error", null);
      this.#tls.destroy();
      this.#finish();
    }
  }

  #report(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const onError = this.onError;
    if (onError) {
      try {
        onError(this, err);
        return;
      } catch (again) {
        coreOf(this.#transport)?.loop.reportError(again);
        return;
      }
    }
    coreOf(this.#transport)?.loop.reportError(err);
  }

  #closedError(what: string): Error {
    return this.#error && this.#life === "closed"
      ? this.#error
      : aioError(Code.EPIPE, 0, `TlsConnection.${what}: the connection is ${this.#life}`);
  }

  // any -> closed, once: settle waiters, end the readable, tell onClose why.
  #finish(silent = false): void {
    if (this.#life === "closed") return;
    this.#life = "closed";
    clearInterval(this.#endWatch);
    const transportReason = this.#duplex.closeReason;
    // Ours when we decided (close, abort, a callback's error); else what
    // ended the transport under us, or TLS's own failure.
    // A transport that failed under us (a reset, an error, a timeout) wins
    // over a graceful close we had begun, as with TcpConnection; an abort
    // or a callback's error is ours to name; then the graceful close we
    // began; then TLS's own error; then who ended first.
    const failed = transportReason && transportReason !== "local" && transportReason !== "peer"
      ? transportReason
      : null;
    const ours = this.#reason === "local" || this.#reason === "peer" ? null : this.#reason;
    const reason: CloseReason = ours ?? failed ?? this.#reason ??
      (this.#error ? "error" : this.#peerEnded || transportReason === "peer" ? "peer" : "local");
    this.#reason = reason;
    this.#writeWaiters.fail(() => this.#closedError("write"));
    this.#consumer.end(reason === "error" ? this.#error : null);
    // The transport goes with us: gracefully after a graceful end (its
    // queue may still hold our close_notify), at once otherwise.
    const resolve = this.#closeResolve;
    this.#closeResolve = null;
    let released: Promise<void> = Promise.resolve();
    if (!this.#disposed && this.#transport.isOpen) {
      if (reason === "local" || reason === "peer") released = this.#transport.close();
      else this.#transport.abort();
    }
    if (resolve) released.then(resolve);
    else this.#closePromise = released;
    if (silent) return;
    if (reason === "error" && this.#error) this.#report(this.#error);
    try {
      this.onClose?.(this, reason);
    } catch (e) {
      this.#report(e);
    }
  }
}

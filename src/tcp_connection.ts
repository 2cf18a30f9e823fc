/**
 * TcpConnection: a TCP stream on the loop (seed: eve.aio.windows.tcp).
 * The stream itself is a `StreamCore`; this file adds what only TCP has:
 * connecting to a host (resolution, each address in turn), adopting a
 * socket, addresses and TCP_NODELAY.
 *
 * @module
 */
import { decodeAddr, encodeAddr, formatIp, hostPort, type NetAddress, parseIp } from "./address.ts";
import { AddressSide, CloseMode, Flags } from "../ffi/records.ts";
import { aioError, Code } from "./errors.ts";
import { ConnectAttempt } from "./connect.ts";
import { bindCore } from "./cores.ts";
import { type EventLoop, loopCore } from "./loop.ts";
import { checkHandle, type OsHandle, u64 } from "./os_handle.ts";
import { checkNet } from "./permissions.ts";
import type { LoopCore } from "./pump.ts";
import { resolveHost } from "./resolve.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { type CloseReason, type SendResult, type SocketState, StreamCore, type StreamKind } from "./stream.ts";
import { checkInt, checkOptions, checkPort, checkSignal, checkString } from "./validate.ts";

/**
 * Buffering of a connection.
 *
 * @example Smaller water marks for a connection
 * ```ts
 * import { TcpConnection, type TcpConnectionConfig, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * const config: TcpConnectionConfig = { highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024 };
 * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, { config });
 * conn.abort();
 * listener.close();
 * ```
 */
export interface TcpConnectionConfig {
  /** Bytes queued before send() reports "pressure" (default 1 MiB). */
  highWaterMark?: number;
  /** Queue level at or below which onWritable fires again (default half the high mark). */
  lowWaterMark?: number;
  /** Most bytes read per wake-up (default 64 KiB). */
  readBufferSize?: number;
}

/**
 * Options of `connect`.
 *
 * @example Connecting with a timeout and a cancel signal
 * ```ts
 * import { type ConnectOptions, TcpConnection, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * const options: ConnectOptions = { timeoutMs: 2000, noDelay: true, signal: AbortSignal.timeout(5000) };
 * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, options);
 * console.log(conn.state); // "open"
 * conn.abort();
 * listener.close();
 * ```
 */
export interface ConnectOptions {
  /** Cancels the whole attempt, resolution included. */
  signal?: AbortSignal;
  /** Rejects with Deno.errors.TimedOut after this many milliseconds. */
  timeoutMs?: number;
  /** 4 or 6 to use only that family; 0 (default) for both. */
  family?: 0 | 4 | 6;
  /** TCP_NODELAY (disable Nagle). */
  noDelay?: boolean;
  /** Buffering of the connection (with the static `connect`). */
  config?: TcpConnectionConfig;
  /** The loop (with the static `connect`); default `EventLoop.default`. */
  loop?: EventLoop;
}

const TCP: StreamKind = { what: "TcpConnection", halfClose: true, epipe: "reset" };

let make: (config: TcpConnectionConfig | undefined, loop: LoopCore) => TcpConnection;

/** A detached connection on `loop`, for the listener that adopts accepted sockets into it. */
export function tcpConnectionOn(loop: LoopCore): TcpConnection {
  return make(undefined, loop);
}

/**
 * An async TCP connection with backpressure, pause/resume and half-close.
 *
 * @example An echo round trip
 * ```ts
 * import { TcpConnection, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * listener.onConnection = (_l, conn) => (conn.onData = (c, data) => c.send(data));
 * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
 * const echoed = new Promise<string>((resolve) => (conn.onData = (_c, d) => resolve(new TextDecoder().decode(d))));
 * conn.send(new TextEncoder().encode("ping"));
 * console.log(await echoed); // "ping"
 * conn.abort();
 * listener.close();
 * ```
 */
export class TcpConnection {
  static {
    make = (config, loop) => new TcpConnection(config, loop);
  }

  /** Creates a detached connection; call `connect` or `adopt`. */
  static create(config?: TcpConnectionConfig, loop?: EventLoop): TcpConnection {
    return new TcpConnection(config, loopCore(loop));
  }

  /** Connects to host:port and resolves with the open connection. */
  static connect(host: string, port: number, options?: ConnectOptions): Promise<TcpConnection> {
    const o = checkOptions<ConnectOptions>(options);
    const conn = new TcpConnection(o.config, loopCore(o.loop));
    return conn.connect(host, port, options).then(() => conn);
  }

  /** Called once connected, before `connect` resolves. */
  onConnect: ((conn: TcpConnection) => void) | null = null;
  /** The peer finished sending (FIN). */
  onEnd: ((conn: TcpConnection) => void) | null = null;
  /** The send queue fell to the low water mark after a "pressure". */
  onWritable: ((conn: TcpConnection) => void) | null = null;
  /** The connection closed; called exactly once, with why. */
  onClose: ((conn: TcpConnection, reason: CloseReason) => void) | null = null;
  /** An I/O error, or an error thrown by one of this connection's callbacks. */
  onError: ((conn: TcpConnection, error: Error) => void) | null = null;

  #s: StreamCore<TcpConnection>;
  #remote: NetAddress | null = null;
  #local: NetAddress | null = null;

  private constructor(config: TcpConnectionConfig | undefined, loop: LoopCore) {
    this.#s = new StreamCore<TcpConnection>(this, TCP, config, loop);
    bindCore(this, this.#s);
  }

  /** Received bytes; the view is valid only during the call. Setting it starts reading. */
  get onData(): ((conn: TcpConnection, data: Uint8Array) => void) | null {
    return this.#s.onData;
  }
  set onData(fn: ((conn: TcpConnection, data: Uint8Array) => void) | null) {
    this.#s.setOnData(fn);
  }

  /** Whether the connection owns an open socket. */
  get isOpen(): boolean {
    return this.#s.isOpen;
  }

  /** Where the connection is in its life. */
  get state(): SocketState {
    return this.#s.state;
  }

  /** Bytes accepted by `send` that the OS has not taken yet. */
  get sendQueueLen(): number {
    return this.#s.sendQueueLen;
  }

  /** Whether `send` would accept bytes without reporting pressure. */
  get isWritable(): boolean {
    return this.#s.isWritable;
  }

  /** Bytes delivered to the reader so far. */
  get bytesRead(): number {
    return this.#s.bytesRead;
  }

  /** Bytes the OS has taken so far. */
  get bytesWritten(): number {
    return this.#s.bytesWritten;
  }

  /** The peer's address once connected. */
  get remoteAddress(): NetAddress | null {
    return this.#remote;
  }

  /** The local address once connected. */
  get localAddress(): NetAddress | null {
    return this.#local;
  }

  /**
   * Resolves `host` off the JS thread and tries each address in turn until
   * one connects; rejects with the last address's error. `signal` and
   * `timeoutMs` cover the whole attempt.
   */
  connect(host: string, port: number, options?: ConnectOptions): Promise<void> {
    const s = this.#s;
    s.live();
    checkString(host, "host");
    checkPort(port, "port", false);
    const o = checkOptions<ConnectOptions>(options);
    const signal = checkSignal(o.signal);
    const timeoutMs = checkInt(o.timeoutMs, "options.timeoutMs", 0, 0x7fffffff);
    const family = o.family ?? 0;
    if (family !== 0 && family !== 4 && family !== 6) throw new RangeError(`options.family must be 0, 4 or 6`);
    if (s.state !== "detached") throw new TypeError(`TcpConnection.connect: the connection is ${s.state}`);
    if (host === "") throw new TypeError("host must not be empty");
    try {
      checkNet(host.startsWith("[") ? host.slice(1, -1) : host, port);
    } catch (error) {
      return Promise.reject(error);
    }
    s.connecting();
    return this.#connect(host, port, family, o.noDelay === true, signal, timeoutMs);
  }

  async #connect(
    host: string,
    port: number,
    family: 0 | 4 | 6,
    noDelay: boolean,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ): Promise<void> {
    const s = this.#s;
    const where = `connect ${hostPort(host, port)}`;
    let attempt: ConnectAttempt | null = null;
    try {
      attempt = new ConnectAttempt(where, signal, timeoutMs);
      const a = attempt;
      s.cancelConnect = () => {
        a.abort(new DOMException("The connection was closed while connecting", "AbortError"));
        this.#dropSocket();
      };
      // A numeric host needs no resolver: no wait at all.
      const ip = parseIp(host);
      const addrs = ip && (family === 0 || ip.family === family) ? [ip] : await a.race(resolveHost(host, family));
      let lastError: unknown = null;
      for (const addr of addrs) {
        const loop = s.loop;
        const id = loop.native.aio_tcp_connect(loop.ptr, encodeAddr(addr, port), noDelay ? Flags.NODELAY : 0);
        if (id < 0) {
          lastError = aioError(id, loop.osError(), where);
          continue;
        }
        s.attach(id);
        let status: number, osError: number;
        try {
          [status, osError] = await a.wait<[number, number]>((resolve) => {
            s.connected = (status, osError) => resolve([status, osError]);
          });
        } catch (error) {
          this.#dropSocket();
          throw error;
        } finally {
          s.connected = null;
        }
        if (status < 0) {
          this.#dropSocket();
          lastError = aioError(status, osError, where);
          continue;
        }
        // The peer is the address connected to: no getpeername.
        this.#remote = { hostname: formatIp(addr.family, addr.bytes), port, family: addr.family };
        this.#local = this.#address(AddressSide.LOCAL);
        s.cancelConnect = null;
        s.opened(id);
        s.invoke(this.onConnect, this);
        return;
      }
      throw lastError ?? aioError(Code.ENOTFOUND, 0, `connect ${host}: no address`);
    } catch (error) {
      s.cancelConnect = null;
      if (s.state === "connecting") s.connectFailed(attempt?.reason ?? "aborted");
      throw error;
    } finally {
      attempt?.done();
    }
  }

  // The socket of an attempt that failed or was cancelled.
  #dropSocket(): void {
    const s = this.#s;
    if (s.id === 0) return;
    s.closeNative(CloseMode.NOW);
    s.detach();
  }

  #address(side: number): NetAddress | null {
    const s = this.#s;
    const buf = new Uint8Array(24);
    if (s.loop.native.aio_address(s.loop.ptr, s.id, side, buf) !== 0) return null;
    const a = decodeAddr(buf);
    return { hostname: a.hostname, port: a.port, family: a.family };
  }

  /**
   * Adopts an accepted or inherited socket; the connection is open at once
   * and owns the socket. When it throws, the socket is untouched and still
   * the caller's (AlreadyExists: adopted already).
   */
  adopt(handle: OsHandle): void {
    const s = this.#s;
    s.live();
    const h = checkHandle(handle);
    if (s.state !== "detached") throw new TypeError(`TcpConnection.adopt: the connection is ${s.state}`);
    const loop = s.loop;
    const id = loop.native.aio_tcp_adopt(loop.ptr, u64(h), 0);
    if (id < 0) throw aioError(id, loop.osError(), "TcpConnection.adopt");
    s.attach(id);
    this.#local = this.#address(AddressSide.LOCAL);
    this.#remote = this.#address(AddressSide.REMOTE);
    s.opened(id);
  }

  /** Turns Nagle's algorithm off (true) or on (false). */
  setNoDelay(noDelay = true): void {
    const s = this.#s;
    s.live();
    if (!s.id) throw new TypeError("TcpConnection.setNoDelay: not connected");
    const r = s.loop.native.aio_tcp_nodelay(s.loop.ptr, s.id, noDelay ? 1 : 0);
    if (r < 0) throw aioError(r, s.loop.osError(), "TcpConnection.setNoDelay");
  }

  /**
   * Queues bytes for sending; they are copied (or written at once), so the
   * caller may reuse its buffer. "pressure" means the queue reached the high
   * water mark; `onWritable` fires once it drains to the low one. "closed":
   * nothing was queued (closing, closed, or after closeWrite).
   */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    return this.#s.send(data);
  }

  /** Sends, then resolves once the queue is below the high water mark. */
  write(data: Uint8Array): Promise<void> {
    return this.#s.write(data);
  }

  /** Stops delivering data; what arrives meanwhile is kept, none is lost. */
  pauseReading(): void {
    this.#s.pauseReading();
  }

  /** Delivers again, starting with anything kept while paused. */
  resumeReading(): void {
    this.#s.resumeReading();
  }

  /** Flushes the queue, then half-closes (FIN); reading goes on. */
  closeWrite(): Promise<void> {
    return this.#s.shutdownWrite();
  }

  /** Graceful close: flush the queue, FIN, release. Resolves when closed. */
  close(): Promise<void> {
    return this.#s.close();
  }

  /** Abortive close: drops the queue and resets the connection (RST). */
  abort(): void {
    this.#s.abort();
  }

  /** Releases the connection at once without invoking any callback. */
  dispose(): void {
    this.#s.dispose();
  }

  /** The received bytes as a Web Stream (with backpressure). Taking it starts reading. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#s.readable;
  }

  /** Bytes to send as a Web Stream; closing it half-closes (as `closeWrite`). */
  get writable(): WritableStream<Uint8Array> {
    return this.#s.writable;
  }

  /** Tracks this connection for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this.#s.live();
    return coordinator.track(this);
  }

  /** Keeps the process alive while the connection is open (the default). */
  ref(): void {
    this.#s.ref();
  }

  /**
   * Lets the process exit while the connection is open; its events still
   * arrive while something else keeps it alive. A graceful `close()` keeps
   * the process alive until it is done.
   */
  unref(): void {
    this.#s.unref();
  }

  /** Closes gracefully; for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

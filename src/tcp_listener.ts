/**
 * TcpListener: accepts TCP connections on the loop (seed:
 * eve.aio.windows.tcp TcpListener). Windows keeps several AcceptEx
 * outstanding (`simultaneousAccepts`); Linux accepts in batches. The
 * accepting itself is a `ListenerCore`; this file adds binding to a host
 * and the raw-socket callback `onAccept`.
 *
 * @module
 */
import { decodeAddr, encodeAddr, hostPort, type NetAddress, parseIp } from "./address.ts";
import { AddressSide, Flags, OsHandleKind } from "../ffi/records.ts";
import { aioError, Code } from "./errors.ts";
import { bindCore } from "./cores.ts";
import { type EventLoop, loopCore } from "./loop.ts";
import { ListenerCore } from "./listener.ts";
import type { OsHandle } from "./os_handle.ts";
import { checkNet } from "./permissions.ts";
import type { LoopCore } from "./pump.ts";
import { resolveHost } from "./resolve.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { type TcpConnection, tcpConnectionOn } from "./tcp_connection.ts";
import { checkInt, checkOptions, checkPort, checkSignal, checkString } from "./validate.ts";

/**
 * Listener socket settings.
 *
 * @example A listener with a longer backlog
 * ```ts
 * import { TcpListener, type TcpListenerConfig } from "@eve/aio";
 *
 * const config: TcpListenerConfig = { backlog: 1024 };
 * const listener = await TcpListener.listen("127.0.0.1", 0, { config });
 * listener.close();
 * ```
 */
export interface TcpListenerConfig {
  /** Pending-connection backlog passed to listen (default 511). */
  backlog?: number;
  /** AcceptEx requests kept outstanding on Windows (default 32). */
  simultaneousAccepts?: number;
}

/**
 * Options of `listen`.
 *
 * @example Listening with a cancel signal
 * ```ts
 * import { type ListenOptions, TcpListener } from "@eve/aio";
 *
 * const options: ListenOptions = { signal: AbortSignal.timeout(5000) };
 * const listener = await TcpListener.listen("127.0.0.1", 0, options);
 * console.log(listener.localPort > 0); // true
 * listener.close();
 * ```
 */
export interface ListenOptions {
  /** Cancels the listen call. */
  signal?: AbortSignal;
  /** For an IPv6 host: accept IPv6 only (default false: dual stack). */
  ipv6Only?: boolean;
  /** Listener settings (with the static `listen`). */
  config?: TcpListenerConfig;
  /** The loop (with the static `listen`); default `EventLoop.default`. */
  loop?: EventLoop;
}

const DEFAULT_BACKLOG = 511;
const DEFAULT_ACCEPTS = 32;

/**
 * An async TCP listener.
 *
 * @example An echo server
 * ```ts
 * import { TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * listener.onConnection = (_l, conn) => {
 *   conn.onData = (c, data) => {
 *     if (c.send(data) === "pressure") c.pauseReading(); // the peer does not keep up
 *   };
 *   conn.onWritable = (c) => c.resumeReading();
 * };
 * console.log(`listening on port ${listener.localPort}`);
 * listener.close();
 * ```
 */
export class TcpListener {
  /** Creates a listener that is not listening yet. */
  static create(config?: TcpListenerConfig, loop?: EventLoop): TcpListener {
    return new TcpListener(config, loopCore(loop));
  }

  /** Creates a listener and listens on host:port. */
  static listen(host: string, port: number, options?: ListenOptions): Promise<TcpListener> {
    const o = checkOptions<ListenOptions>(options);
    const listener = new TcpListener(o.config, loopCore(o.loop));
    return listener.listen(host, port, options).then(() => listener);
  }

  #l: ListenerCore<TcpConnection, TcpListener>;
  #onAccept: ((listener: TcpListener, handle: OsHandle) => void) | null = null;
  #backlog: number;
  #accepts: number;
  #local: NetAddress | null = null;

  private constructor(config: TcpListenerConfig | undefined, loop: LoopCore) {
    const c = checkOptions<TcpListenerConfig>(config, "config");
    this.#backlog = checkInt(c.backlog, "config.backlog", 1, 0x7fffffff) ?? DEFAULT_BACKLOG;
    this.#accepts = checkInt(c.simultaneousAccepts, "config.simultaneousAccepts", 1, 256) ?? DEFAULT_ACCEPTS;
    this.#l = new ListenerCore<TcpConnection, TcpListener>(
      this,
      {
        what: "TcpListener",
        acceptedKind: OsHandleKind.SOCKET,
        wrap: (handle) => {
          const conn = tcpConnectionOn(loop);
          conn.adopt(handle);
          return conn;
        },
        takeRaw: (handle) => {
          if (!this.#onAccept) return false;
          this.#l.invoke(this.#onAccept, this, handle);
          return true;
        },
        hasRaw: () => this.#onAccept !== null,
      },
      loop,
      this.#backlog,
    );
    bindCore(this, this.#l);
  }

  /** Receives every accepted connection, ready to use (also those that were waiting for accept()). */
  get onConnection(): ((listener: TcpListener, conn: TcpConnection) => void) | null {
    return this.#l.onConnection;
  }
  set onConnection(fn: ((listener: TcpListener, conn: TcpConnection) => void) | null) {
    this.#l.setOnConnection(fn);
  }

  /** Receives every accepted raw socket (then onConnection is not called); the callee adopts or closes it. */
  get onAccept(): ((listener: TcpListener, handle: OsHandle) => void) | null {
    return this.#onAccept;
  }
  set onAccept(fn: ((listener: TcpListener, handle: OsHandle) => void) | null) {
    if (fn !== null && typeof fn !== "function") throw new TypeError("TcpListener.onAccept must be a function or null");
    this.#onAccept = fn;
    this.#l.callbacksChanged();
  }

  /** Whether the listener owns an open socket. */
  get isOpen(): boolean {
    return this.#l.isOpen;
  }

  /** The effective port once listening (port 0 picks one). */
  get localPort(): number {
    return this.#local?.port ?? 0;
  }

  /** The bound address once listening. */
  get localAddress(): NetAddress | null {
    return this.#local;
  }

  /** Binds and listens on host:port ("0.0.0.0", "::", "localhost", ...). */
  listen(host: string, port: number, options?: ListenOptions): Promise<void> {
    this.#l.live();
    checkString(host, "host");
    checkPort(port, "port");
    const o = checkOptions<ListenOptions>(options);
    const signal = checkSignal(o.signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    const h = bare === "" ? "0.0.0.0" : bare;
    try {
      checkNet(h, port);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#l.startListen();
    return this.#listen(h, port, o.ipv6Only === true, signal);
  }

  async #listen(host: string, port: number, ipv6Only: boolean, signal?: AbortSignal): Promise<void> {
    const l = this.#l;
    try {
      const ip = parseIp(host);
      const addr = ip ?? (await resolveHost(host, 0))[0];
      if (signal?.aborted) throw signal.reason;
      if (l.closed) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      const loop = l.loop;
      const flags = ipv6Only ? Flags.V6ONLY : 0;
      const id = loop.native.aio_tcp_listen(loop.ptr, encodeAddr(addr, port), this.#backlog, flags, this.#accepts);
      if (id < 0) throw aioError(id, loop.osError(), `listen ${hostPort(host, port)}`);
      if (!l.listening(id)) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      const buf = new Uint8Array(24);
      if (loop.native.aio_address(loop.ptr, id, AddressSide.LOCAL, buf) === 0) {
        const a = decodeAddr(buf);
        this.#local = { hostname: a.hostname, port: a.port, family: a.family };
      }
    } catch (error) {
      l.listenFailed();
      throw error;
    }
  }

  /** The next connection; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<TcpConnection> {
    return this.#l.accept(options);
  }

  /** Yields connections until the listener closes. */
  [Symbol.asyncIterator](): AsyncIterator<TcpConnection> {
    return this.#l.connections();
  }

  /** Stops listening; queued, never accepted connections are closed. */
  close(): void {
    this.#l.close();
  }

  /** Releases the listener without callbacks. */
  dispose(): void {
    this.#l.dispose();
  }

  /** Tracks this listener for graceful shutdown (stopped at once when it begins). */
  track(coordinator: ShutdownCoordinator): boolean {
    this.#l.live();
    return coordinator.track(this);
  }

  /** Keeps the process alive while the listener is open (the default). */
  ref(): void {
    this.#l.ref();
  }

  /** Lets the process exit while the listener is open. */
  unref(): void {
    this.#l.unref();
  }

  /** Closes the listener; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.#l.loop.settled();
  }
}

/**
 * TcpListener: accepts TCP connections on the loop (seed:
 * eve.aio.windows.tcp TcpListener). Windows keeps several AcceptEx
 * outstanding (`simultaneousAccepts`); Linux accepts in batches.
 *
 * @module
 */
import { decodeAddr, encodeAddr, hostPort, type NetAddress, parseIp } from "./address.ts";
import { Flags } from "../ffi/records.ts";
import { aioError, Code } from "./errors.ts";
import type { EventLoop } from "./loop.ts";
import { Listener } from "./listener.ts";
import { checkNet } from "./permissions.ts";
import { resolveHost } from "./resolve.ts";
import { checkLoop, type OsHandle, TcpConnection } from "./tcp_connection.ts";
import { checkInt, checkOptions, checkPort, checkSignal, checkString } from "./validate.ts";

/** Listener socket settings. */
export interface TcpListenerConfig {
  /** Pending-connection backlog passed to listen (default 511). */
  backlog?: number;
  /** AcceptEx requests kept outstanding on Windows (default 32). */
  simultaneousAccepts?: number;
}

/** Options of `listen`. */
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

/** An async TCP listener. */
export class TcpListener extends Listener<TcpConnection, TcpListener> {
  /** Creates a listener that is not listening yet. */
  static create(config?: TcpListenerConfig, loop?: EventLoop): TcpListener {
    return new TcpListener(config, loop);
  }

  /** Creates a listener and listens on host:port. */
  static listen(host: string, port: number, options?: ListenOptions): Promise<TcpListener> {
    const o = checkOptions<ListenOptions>(options);
    const listener = new TcpListener(o.config, o.loop);
    return listener.listen(host, port, options).then(() => listener);
  }

  #onAccept: ((listener: TcpListener, handle: OsHandle) => void) | null = null;

  #backlog: number;
  #accepts: number;
  #local: NetAddress | null = null;

  private constructor(config: TcpListenerConfig | undefined, loop: EventLoop | undefined) {
    const c = checkOptions<TcpListenerConfig>(config, "config");
    const backlog = checkInt(c.backlog, "config.backlog", 1, 0x7fffffff) ?? DEFAULT_BACKLOG;
    const accepts = checkInt(c.simultaneousAccepts, "config.simultaneousAccepts", 1, 256) ?? DEFAULT_ACCEPTS;
    super(checkLoop(loop), backlog);
    this.#backlog = backlog;
    this.#accepts = accepts;
  }

  /** The name used in error messages. */
  protected get _what(): string {
    return "TcpListener";
  }

  /** This listener, as callbacks receive it. */
  protected get _self(): TcpListener {
    return this;
  }

  /** Accepted sockets are closed with closesocket/close. */
  protected get _handleKind(): number {
    return 0;
  }

  /** Receives every accepted raw socket (then onConnection is not called); the callee adopts or closes it. */
  get onAccept(): ((listener: TcpListener, handle: OsHandle) => void) | null {
    return this.#onAccept;
  }
  set onAccept(fn: ((listener: TcpListener, handle: OsHandle) => void) | null) {
    if (fn !== null && typeof fn !== "function") throw new TypeError("TcpListener.onAccept must be a function or null");
    this.#onAccept = fn;
    this._callbacksChanged();
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
    this._live();
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
    this._startListen();
    return this.#listen(h, port, o.ipv6Only === true, signal);
  }

  async #listen(host: string, port: number, ipv6Only: boolean, signal?: AbortSignal): Promise<void> {
    try {
      const ip = parseIp(host);
      const addr = ip ?? (await resolveHost(host, 0))[0];
      if (signal?.aborted) throw signal.reason;
      if (this._closed) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      const loop = this._loop;
      const flags = ipv6Only ? Flags.V6ONLY : 0;
      const id = loop._native.aio_tcp_listen(loop._ptr, encodeAddr(addr, port), this.#backlog, flags, this.#accepts);
      if (id < 0) throw aioError(id, loop._osError(), `listen ${hostPort(host, port)}`);
      if (!this._listening(id)) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      const buf = new Uint8Array(24);
      if (loop._native.aio_address(loop._ptr, id, 0, buf) === 0) {
        const a = decodeAddr(buf);
        this.#local = { hostname: a.hostname, port: a.port, family: a.family };
      }
    } catch (error) {
      this._listenFailed();
      throw error;
    }
  }

  /** onAccept, when set, takes the raw socket. */
  protected override _takeRaw(handle: OsHandle): boolean {
    if (!this.#onAccept) return false;
    this._invoke(this.#onAccept, this, handle);
    return true;
  }

  /** A callback takes every connection. */
  protected override _hasCallback(): boolean {
    return this.#onAccept !== null || super._hasCallback();
  }

  /** Adopts an accepted socket. */
  protected _wrap(handle: OsHandle): TcpConnection {
    const conn = TcpConnection.create(undefined, this._loop);
    conn.adopt(handle);
    return conn;
  }
}

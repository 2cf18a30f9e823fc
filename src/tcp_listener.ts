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
import { AddressSide, CloseMode, Flags, OsHandleKind } from "../ffi/records.ts";
import { coreOf } from "./cores.ts";
import { aioError, Code } from "./errors.ts";
import { bindCore } from "./cores.ts";
import { type EventLoop, loopCore } from "./loop.ts";
import { ListenerCore } from "./listener.ts";
import { checkHandle, type OsHandle, u64 } from "./os_handle.ts";
import { checkNet } from "./permissions.ts";
import type { LoopCore } from "./pump.ts";
import { resolveHost } from "./resolve.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import type { StreamCore } from "./stream.ts";
import { acceptedConnectionOn, checkKeepAlive, type KeepAliveOptions, type TcpConnection } from "./tcp_connection.ts";
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
  /** For an IPv6 host: accept IPv6 only (default false: dual stack). Set before bind on both systems. */
  ipv6Only?: boolean;
  /**
   * SO_REUSEPORT (Linux): several listeners, in one process or many, bind
   * the same port and the kernel spreads connections over them. Elsewhere
   * listen rejects with Deno.errors.NotSupported.
   */
  reusePort?: boolean;
  /**
   * Windows SO_EXCLUSIVEADDRUSE: no other socket may bind the port, not
   * even with SO_REUSEADDR. Linux binds exclusively anyway (unless
   * `reusePort`), so there it changes nothing.
   */
  exclusiveAddress?: boolean;
  /** TCP_NODELAY on every accepted socket. */
  noDelay?: boolean;
  /** TCP keepalive on every accepted socket: true, or with its timing. */
  keepAlive?: boolean | KeepAliveOptions;
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
  #maxConnections = Infinity;
  #connections = 0;

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
          const conn = acceptedConnectionOn(loop, handle);
          // Counted while open: closing (however it happens) gives the slot back.
          this.#connections++;
          (coreOf(conn) as StreamCore<TcpConnection>).onFinished = () => this.#connections--;
          return conn;
        },
        admit: () => this.#connections < this.#maxConnections,
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

  /**
   * Adopts an inherited listening TCP socket (a socket a parent process
   * passed on: systemd's LISTEN_FDS, or on Windows one duplicated with
   * WSADuplicateSocket and made with WSASocket in this process). The
   * listener owns it from then on; when this throws, the socket is
   * untouched and still the caller's. A socket that is not a listening TCP
   * socket is refused with TypeError.
   *
   * @example Serving on a socket a parent process handed down
   * ```ts
   * import { TcpListener } from "@eve/aio";
   *
   * // The parent put the socket's value in SERVER_SOCKET (an fd on Linux).
   * const inherited = Deno.env.get("SERVER_SOCKET");
   * if (inherited !== undefined) {
   *   const listener = TcpListener.adopt(Number(inherited));
   *   listener.onConnection = (_l, conn) => (conn.onData = (c, d) => c.send(d));
   * } else {
   *   console.log("no inherited socket");
   * }
   * ```
   */
  static adopt(handle: OsHandle, options?: { loop?: EventLoop }): TcpListener {
    const h = checkHandle(handle);
    const o = checkOptions<{ loop: EventLoop }>(options);
    const listener = new TcpListener(undefined, loopCore(o.loop));
    listener.#adopt(h);
    return listener;
  }

  /**
   * The listening sockets systemd passed by socket activation (Linux): the
   * LISTEN_FDS descriptors from fd 3 on, if LISTEN_PID names this process.
   * Throws Deno.errors.NotFound when the variables are absent or meant for
   * another process, Deno.errors.InvalidData when they are malformed, and
   * Deno.errors.NotSupported on Windows. The variables are removed once
   * the sockets are taken, so child processes do not take them again.
   *
   * @example A socket-activated echo server, or a plain one without activation
   * ```ts
   * import { TcpListener } from "@eve/aio";
   *
   * let listeners: TcpListener[];
   * try {
   *   listeners = TcpListener.fromSystemd();
   * } catch (error) {
   *   // Not socket-activated (NotFound), or not Linux (NotSupported).
   *   if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotSupported)) throw error;
   *   listeners = [await TcpListener.listen("127.0.0.1", 0)];
   * }
   * for (const listener of listeners) {
   *   listener.onConnection = (_l, conn) => (conn.onData = (c, d) => c.send(d));
   *   listener.close(); // (a real server keeps serving)
   * }
   * ```
   */
  static fromSystemd(options?: { loop?: EventLoop }): TcpListener[] {
    const o = checkOptions<{ loop: EventLoop }>(options);
    if (Deno.build.os === "windows") {
      throw new Deno.errors.NotSupported("TcpListener.fromSystemd: socket activation is a Linux (systemd) protocol");
    }
    const pid = Deno.env.get("LISTEN_PID");
    const fds = Deno.env.get("LISTEN_FDS");
    if (pid === undefined || fds === undefined) {
      throw new Deno.errors.NotFound(
        "TcpListener.fromSystemd: LISTEN_PID and LISTEN_FDS are not set (not started by socket activation)",
      );
    }
    if (!/^[1-9][0-9]*$/.test(pid)) throw new Deno.errors.InvalidData(`TcpListener.fromSystemd: LISTEN_PID="${pid}"`);
    if (Number(pid) !== Deno.pid) {
      throw new Deno.errors.NotFound(
        `TcpListener.fromSystemd: the sockets are meant for process ${pid}, this is ${Deno.pid}`,
      );
    }
    if (!/^[0-9]+$/.test(fds) || Number(fds) > 4096) {
      throw new Deno.errors.InvalidData(`TcpListener.fromSystemd: LISTEN_FDS="${fds}"`);
    }
    const loop = loopCore(o.loop);
    const out: TcpListener[] = [];
    try {
      for (let fd = 3; fd < 3 + Number(fds); fd++) {
        const listener = new TcpListener(undefined, loop);
        listener.#adopt(fd);
        out.push(listener);
      }
    } catch (error) {
      for (const l of out) l.close();
      throw error;
    }
    // sd_listen_fds(unset_environment = 1): the sockets are taken.
    Deno.env.delete("LISTEN_PID");
    Deno.env.delete("LISTEN_FDS");
    Deno.env.delete("LISTEN_FDNAMES");
    return out;
  }

  #adopt(handle: OsHandle): void {
    const l = this.#l;
    const loop = l.loop;
    const id = loop.native.aio_tcp_adopt_listener(loop.ptr, u64(handle), this.#accepts);
    if (id < 0) {
      if (id === -Code.EINVAL) throw new TypeError(`TcpListener.adopt: ${handle} is not a listening TCP socket`);
      throw aioError(id, loop.osError(), "TcpListener.adopt");
    }
    l.startListen();
    l.listening(id);
    this.#local = this.#address(id);
  }

  #address(id: number): NetAddress | null {
    const loop = this.#l.loop;
    const buf = new Uint8Array(24);
    if (loop.native.aio_address(loop.ptr, id, AddressSide.LOCAL, buf) !== 0) return null;
    const a = decodeAddr(buf);
    return { hostname: a.hostname, port: a.port, family: a.family };
  }

  /**
   * Most connections open at once (default Infinity). Beyond it, accepted
   * sockets are closed at once. Counts the connections this listener made
   * (also those waiting for `accept()`); sockets given to `onAccept` are
   * the callee's and are not counted.
   *
   * @example At most two clients
   * ```ts
   * import { TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * listener.maxConnections = 2;
   * console.log(listener.connectionCount); // 0
   * listener.close();
   * ```
   */
  get maxConnections(): number {
    return this.#maxConnections;
  }
  set maxConnections(n: number) {
    if (n !== Infinity) {
      if (n === undefined) throw new TypeError("TcpListener.maxConnections must be an integer or Infinity");
      checkInt(n, "TcpListener.maxConnections", 0, Number.MAX_SAFE_INTEGER);
    }
    this.#maxConnections = n;
  }

  /**
   * The connections this listener made that are still open.
   *
   * @example Counting clients
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * const server = await listener.accept();
   * console.log(listener.connectionCount); // 1
   * server.abort();
   * conn.abort();
   * listener.close();
   * ```
   */
  get connectionCount(): number {
    return this.#connections;
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
    let flags = o.ipv6Only === true ? Flags.V6ONLY : 0;
    if (o.reusePort === true) flags |= Flags.REUSEPORT;
    if (o.exclusiveAddress === true) flags |= Flags.EXCLUSIVE;
    if (o.reusePort === true && o.exclusiveAddress === true) {
      throw new TypeError("options.reusePort and options.exclusiveAddress exclude each other");
    }
    const keepAlive = checkKeepAlive(o.keepAlive, "options.keepAlive");
    this.#l.startListen();
    return this.#listen(h, port, flags, o.noDelay === true, keepAlive, signal);
  }

  async #listen(
    host: string,
    port: number,
    flags: number,
    noDelay: boolean,
    keepAlive: (KeepAliveOptions & { on: boolean }) | null,
    signal?: AbortSignal,
  ): Promise<void> {
    const l = this.#l;
    try {
      const ip = parseIp(host);
      const addr = ip ?? (await resolveHost(host, 0))[0];
      if (signal?.aborted) throw signal.reason;
      if (l.closed) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      const loop = l.loop;
      const id = loop.native.aio_tcp_listen(loop.ptr, encodeAddr(addr, port), this.#backlog, flags, this.#accepts);
      if (id < 0) throw aioError(id, loop.osError(), `listen ${hostPort(host, port)}`);
      // The listener's options for what it accepts (the shim applies them
      // to each accepted socket).
      let r = noDelay ? loop.native.aio_tcp_nodelay(loop.ptr, id, 1) : 0;
      if (r >= 0 && keepAlive) {
        r = loop.native.aio_tcp_keepalive(
          loop.ptr,
          id,
          1,
          keepAlive.idleMs ?? 0,
          keepAlive.intervalMs ?? 0,
          keepAlive.count ?? 0,
        );
      }
      if (r < 0) {
        const os = loop.osError();
        loop.native.aio_close(loop.ptr, id, CloseMode.NOW);
        throw aioError(r, os, `listen ${hostPort(host, port)}`);
      }
      if (!l.listening(id)) throw aioError(Code.EBADID, 0, "TcpListener.listen: the listener was closed");
      this.#local = this.#address(id);
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

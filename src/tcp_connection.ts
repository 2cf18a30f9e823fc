/**
 * TcpConnection: a TCP stream on the loop (seed: eve.aio.windows.tcp).
 * The stream itself is a `StreamCore`; this file adds what only TCP has:
 * connecting to a host (resolution, Happy Eyeballs in src/happy_eyeballs.ts),
 * adopting a socket, addresses and socket options.
 *
 * @module
 */
import { decodeAddr, formatIp, hostPort, type IpAddr, type NetAddress, parseIp } from "./address.ts";
import { AddressSide, BufferKind, CloseMode, Flags } from "../ffi/records.ts";
import { aioError, Code } from "./errors.ts";
import { ConnectAttempt } from "./connect.ts";
import { type Candidate, DEFAULT_ATTEMPT_DELAY_MS, interleave, race } from "./happy_eyeballs.ts";
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
 * TCP keepalive timing: when the first probe goes out after the connection
 * fell silent, how far apart the probes are, and how many unanswered
 * probes end the connection. An option left out keeps the OS's value.
 * Times are rounded up to whole seconds where the OS counts seconds
 * (Linux; Windows 10 1709 and later). Windows before that has no probe
 * count, and takes both times together.
 *
 * @example Keepalive probes after 30 s of silence
 * ```ts
 * import { type KeepAliveOptions, TcpConnection, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * const keepAlive: KeepAliveOptions = { idleMs: 30_000, intervalMs: 5_000, count: 4 };
 * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort, { keepAlive });
 * conn.abort();
 * listener.close();
 * ```
 */
export interface KeepAliveOptions {
  /** Silence before the first probe, in milliseconds. */
  idleMs?: number;
  /** Time between probes, in milliseconds. */
  intervalMs?: number;
  /** Unanswered probes before the connection counts as dead. */
  count?: number;
}

/**
 * One answer of a `lookup` function: an IP address and its family.
 *
 * @example A lookup that answers with fixed addresses
 * ```ts
 * import { type LookupAddress, TcpConnection, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * const lookup = (_host: string): Promise<LookupAddress[]> => Promise.resolve([{ address: "127.0.0.1", family: 4 }]);
 * const conn = await TcpConnection.connect("localhost", listener.localPort, { lookup });
 * console.log(conn.remoteAddress?.hostname); // "127.0.0.1"
 * conn.abort();
 * listener.close();
 * ```
 */
export interface LookupAddress {
  /** An IPv4 or IPv6 address in text form. */
  address: string;
  /** Its family. */
  family: 4 | 6;
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
  /** SO_KEEPALIVE once connected: true, or with its timing. */
  keepAlive?: boolean | KeepAliveOptions;
  /** Resolves the host instead of the system resolver (not called for an IP address). */
  lookup?: (host: string) => Promise<LookupAddress[]>;
  /** The local IP address to bind before connecting (only addresses of its family are tried). */
  localAddress?: string;
  /**
   * The local port to bind before connecting (default 0: any). A connect
   * that would end connected to itself (local address and port equal to
   * the destination's, TCP's simultaneous open when nobody listens there)
   * rejects with ConnectionRefused, whether the port was asked for or the
   * system happened to choose it.
   */
  localPort?: number;
  /**
   * RFC 8305 Happy Eyeballs over the resolved addresses (default true):
   * the families interleaved, a new attempt every `attemptDelayMs` until
   * one connects; false tries one address after another.
   */
  happyEyeballs?: boolean;
  /** Happy Eyeballs' delay between attempts in milliseconds (default 250; at least 10). */
  attemptDelayMs?: number;
  /** Buffering of the connection (with the static `connect`). */
  config?: TcpConnectionConfig;
  /** The loop (with the static `connect`); default `EventLoop.default`. */
  loop?: EventLoop;
}

const TCP: StreamKind = { what: "TcpConnection", halfClose: true, epipe: "reset" };

let make: (config: TcpConnectionConfig | undefined, loop: LoopCore) => TcpConnection;
let adoptAccepted: (conn: TcpConnection, handle: OsHandle) => void;

/**
 * A connection on `loop` that owns `handle`, a socket its listener accepted
 * (registered without the checks a foreign socket gets: aio.h,
 * AIO_F_ACCEPTED); throws as `adopt` does.
 */
export function acceptedConnectionOn(loop: LoopCore, handle: OsHandle): TcpConnection {
  const conn = make(undefined, loop);
  adoptAccepted(conn, handle);
  return conn;
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
    adoptAccepted = (conn, handle) => conn.#adopt(handle, Flags.ACCEPTED);
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
  /** No send or receive for `idleTimeoutMs`; fires again after each further `idleTimeoutMs` of silence. */
  onIdleTimeout: ((conn: TcpConnection) => void) | null = null;
  /** The timer of `setTimer` fired (once; set another from here to repeat). */
  onTimer: ((conn: TcpConnection) => void) | null = null;

  #s: StreamCore<TcpConnection>;
  // undefined: not read yet. Addresses are read from the socket on first
  // use and kept (as Node's net does): two system calls, an FFI call and a
  // decode each, on the path of every short-lived connection.
  #remote: NetAddress | null | undefined = undefined;
  #local: NetAddress | null | undefined = undefined;

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

  /**
   * The peer's address once connected. An accepted or adopted connection
   * reads it from the socket on first use and keeps it (as Node's net
   * does): read it before the close if you want it after.
   */
  get remoteAddress(): NetAddress | null {
    if (this.#remote === undefined) return this.#lazy(AddressSide.REMOTE);
    return this.#remote;
  }

  /** The local address once connected; read on first use and kept, as `remoteAddress`. */
  get localAddress(): NetAddress | null {
    if (this.#local === undefined) return this.#lazy(AddressSide.LOCAL);
    return this.#local;
  }

  /**
   * Resolves `host` off the JS thread (or with `options.lookup`) and
   * connects to the first address that answers: Happy Eyeballs (RFC 8305)
   * over several addresses, or one after another with `happyEyeballs:
   * false`; rejects with the last address's error. `signal` and
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
    if (o.lookup !== undefined && typeof o.lookup !== "function") {
      throw new TypeError("options.lookup must be a function");
    }
    let local: IpAddr | null = null;
    if (o.localAddress !== undefined) {
      checkString(o.localAddress, "options.localAddress");
      local = parseIp(o.localAddress);
      if (!local) throw new TypeError(`options.localAddress must be an IP address, got "${o.localAddress}"`);
    }
    const localPort = o.localPort === undefined ? 0 : checkPort(o.localPort, "options.localPort");
    const keepAlive = checkKeepAlive(o.keepAlive, "options.keepAlive");
    const delay = checkInt(o.attemptDelayMs, "options.attemptDelayMs", 10, 0x7fffffff) ?? DEFAULT_ATTEMPT_DELAY_MS;
    const happy = o.happyEyeballs ?? true;
    if (typeof happy !== "boolean") throw new TypeError("options.happyEyeballs must be a boolean");
    if (s.state !== "detached") throw new TypeError(`TcpConnection.connect: the connection is ${s.state}`);
    if (host === "") throw new TypeError("host must not be empty");
    try {
      checkNet(host.startsWith("[") ? host.slice(1, -1) : host, port);
    } catch (error) {
      return Promise.reject(error);
    }
    s.connecting();
    return this.#connect(
      host,
      port,
      {
        family,
        flags: o.noDelay === true ? Flags.NODELAY : 0,
        keepAlive,
        lookup: o.lookup,
        local,
        localPort,
        delayMs: happy ? delay : Infinity,
      },
      signal,
      timeoutMs,
    );
  }

  async #connect(
    host: string,
    port: number,
    c: ConnectPlan,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ): Promise<void> {
    const s = this.#s;
    const where = `connect ${hostPort(host, port)}`;
    let attempt: ConnectAttempt | null = null;
    try {
      attempt = new ConnectAttempt(where, signal, timeoutMs, s.loop.timers);
      const a = attempt;
      s.cancelConnect = () => {
        a.abort(new DOMException("The connection was closed while connecting", "AbortError"));
        this.#dropSocket();
      };
      // A numeric host needs no resolver: no wait at all.
      const ip = parseIp(host.startsWith("[") ? host.slice(1, -1) : host);
      let addrs: IpAddr[];
      if (ip) addrs = c.family === 0 || ip.family === c.family ? [ip] : [];
      else if (c.lookup) addrs = await a.race(lookupAddrs(c.lookup, host, c.family));
      else addrs = await a.race(resolveHost(host, c.family));
      // A local address binds one family: only its addresses can be tried.
      if (c.local) addrs = addrs.filter((x) => x.family === c.local!.family);
      if (addrs.length === 0) throw aioError(Code.ENOTFOUND, 0, `${where}: no usable address`);
      const candidates: Candidate[] = (c.delayMs === Infinity ? addrs : interleave(addrs)).map((addr) => ({
        addr,
        local: c.local ?? (c.localPort ? wildcard(addr.family) : null),
        localPort: c.localPort,
      }));
      const won = await race(candidates, {
        loop: s.loop,
        port,
        flags: c.flags,
        delayMs: c.delayMs,
        ref: s.refed,
        where,
        onLoopClosed: () => s.dispose(),
      }, a);
      if (s.state !== "connecting") {
        // close() or an abort came between the win and this continuation:
        // the socket is not the connection's any more.
        s.loop.unregister(won.id);
        if (!s.loop.closed) s.loop.native.aio_close(s.loop.ptr, won.id, CloseMode.NOW);
        a.throwIfCancelled();
        throw new DOMException("The connection was closed while connecting", "AbortError");
      }
      s.attach(won.id);
      const addr = won.addr;
      // The peer is the address connected to: no getpeername.
      this.#remote = { hostname: formatIp(addr.family, addr.bytes), port, family: addr.family };
      s.cancelConnect = null;
      if (c.keepAlive) this.#keepAlive(c.keepAlive.on, c.keepAlive);
      s.opened(won.id);
      s.invoke(this.onConnect, this);
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

  // Reads an address while the socket is open and keeps it; before that
  // (or once closed without having been read) there is none.
  #lazy(side: number): NetAddress | null {
    // No id: not connected yet (the connect race owns its sockets until
    // the winner is attached), or closed.
    if (this.#s.id === 0) return null;
    const a = this.#address(side);
    if (side === AddressSide.LOCAL) this.#local = a;
    else this.#remote = a;
    return a;
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
    this.#adopt(handle, 0);
  }

  #adopt(handle: OsHandle, flags: number): void {
    const s = this.#s;
    s.live();
    const h = checkHandle(handle);
    if (s.state !== "detached") throw new TypeError(`TcpConnection.adopt: the connection is ${s.state}`);
    const loop = s.loop;
    const id = loop.native.aio_tcp_adopt(loop.ptr, u64(h), flags);
    if (id < 0) throw aioError(id, loop.osError(), "TcpConnection.adopt");
    s.attach(id);
    s.opened(id);
  }

  /**
   * Turns Nagle's algorithm off (true) or on (false).
   *
   * @example Small writes go out at once
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.setNoDelay(true);
   * conn.abort();
   * listener.close();
   * ```
   */
  setNoDelay(noDelay = true): void {
    const s = this.#socket("setNoDelay");
    const r = s.loop.native.aio_tcp_nodelay(s.loop.ptr, s.id, noDelay ? 1 : 0);
    if (r < 0) throw aioError(r, s.loop.osError(), "TcpConnection.setNoDelay");
  }

  /**
   * Turns TCP keepalive on or off; with `options`, also its timing (the
   * OS's values stay for what is left out).
   *
   * @example Probes after 60 s of silence, 10 s apart, 5 of them
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.setKeepAlive(true, { idleMs: 60_000, intervalMs: 10_000, count: 5 });
   * conn.abort();
   * listener.close();
   * ```
   */
  setKeepAlive(on: boolean, options?: KeepAliveOptions): void {
    if (typeof on !== "boolean") throw new TypeError("TcpConnection.setKeepAlive: on must be a boolean");
    const k = checkKeepAlive(options ?? true, "options")!;
    this.#socket("setKeepAlive");
    this.#keepAlive(on, k);
  }

  #keepAlive(on: boolean, k: KeepAliveOptions): void {
    const s = this.#s;
    const r = s.loop.native.aio_tcp_keepalive(
      s.loop.ptr,
      s.id,
      on ? 1 : 0,
      k.idleMs ?? 0,
      k.intervalMs ?? 0,
      k.count ?? 0,
    );
    if (r < 0) throw aioError(r, s.loop.osError(), "TcpConnection.setKeepAlive");
  }

  /**
   * The socket's receive buffer size (SO_RCVBUF) as the OS reports it; 0
   * without a socket. Setting it asks the OS, which may round it (Linux
   * doubles it for its bookkeeping).
   *
   * @example A larger receive buffer
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.recvBufferSize = 256 * 1024;
   * console.log(conn.recvBufferSize >= 256 * 1024); // true: the OS's value
   * conn.abort();
   * listener.close();
   * ```
   */
  get recvBufferSize(): number {
    return this.#bufferSize(BufferKind.RECV, 0, "recvBufferSize");
  }
  set recvBufferSize(size: number) {
    this.#bufferSize(BufferKind.RECV, checkBufferSize(size, "recvBufferSize"), "recvBufferSize");
  }

  /**
   * The socket's send buffer size (SO_SNDBUF) as the OS reports it; 0
   * without a socket. Setting it asks the OS, which may round it.
   *
   * @example A larger send buffer
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.sendBufferSize = 256 * 1024;
   * console.log(conn.sendBufferSize > 0); // true
   * conn.abort();
   * listener.close();
   * ```
   */
  get sendBufferSize(): number {
    return this.#bufferSize(BufferKind.SEND, 0, "sendBufferSize");
  }
  set sendBufferSize(size: number) {
    this.#bufferSize(BufferKind.SEND, checkBufferSize(size, "sendBufferSize"), "sendBufferSize");
  }

  #bufferSize(which: number, size: number, what: string): number {
    const s = this.#s;
    s.live();
    if (!s.id) {
      if (size === 0) return 0;
      throw new TypeError(`TcpConnection.${what}: not connected`);
    }
    const r = s.loop.native.aio_tcp_buffer_size(s.loop.ptr, s.id, which, size);
    if (r < 0) throw aioError(r, s.loop.osError(), `TcpConnection.${what}`);
    return r;
  }

  /**
   * getsockopt(2) with the OS's own `level` and `name` numbers: up to
   * `size` bytes (default 4) of the option's value, as the OS wrote them.
   *
   * @example Reading SO_KEEPALIVE back
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const windows = Deno.build.os === "windows";
   * const [SOL_SOCKET, SO_KEEPALIVE] = windows ? [0xffff, 8] : [1, 9];
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.setKeepAlive(true);
   * const v = conn.getSockOpt(SOL_SOCKET, SO_KEEPALIVE);
   * console.log(new DataView(v.buffer).getInt32(0, true) !== 0); // true
   * conn.abort();
   * listener.close();
   * ```
   */
  getSockOpt(level: number, name: number, size = 4): Uint8Array {
    checkInt(level, "level", -0x80000000, 0x7fffffff);
    checkInt(name, "name", -0x80000000, 0x7fffffff);
    checkInt(size, "size", 1, 1024);
    const s = this.#socket("getSockOpt");
    const out = new Uint8Array(size);
    const r = s.loop.native.aio_sockopt_get(s.loop.ptr, s.id, level, name, out, size);
    if (r < 0) throw aioError(r, s.loop.osError(), `TcpConnection.getSockOpt(${level}, ${name})`);
    return out.subarray(0, r);
  }

  /**
   * setsockopt(2) with the OS's own `level` and `name` numbers; a number
   * is passed as a C int. Options that would make the socket behave as a
   * blocking one (SO_RCVTIMEO, SO_SNDTIMEO, Windows SO_OPENTYPE) are
   * refused with a TypeError: the loop needs non-blocking sockets.
   *
   * @example Setting SO_KEEPALIVE by number
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const windows = Deno.build.os === "windows";
   * const [SOL_SOCKET, SO_KEEPALIVE] = windows ? [0xffff, 8] : [1, 9];
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.setSockOpt(SOL_SOCKET, SO_KEEPALIVE, 1);
   * conn.abort();
   * listener.close();
   * ```
   */
  setSockOpt(level: number, name: number, value: number | Uint8Array): void {
    checkInt(level, "level", -0x80000000, 0x7fffffff);
    checkInt(name, "name", -0x80000000, 0x7fffffff);
    let bytes: Uint8Array;
    if (typeof value === "number") {
      checkInt(value, "value", -0x80000000, 0xffffffff);
      // A C int in the host's byte order.
      bytes = new Uint8Array(new Int32Array([value | 0]).buffer);
    } else if (value instanceof Uint8Array) {
      if (value.length < 1 || value.length > 1024) throw new RangeError("value must be 1..1024 bytes");
      bytes = value;
    } else {
      throw new TypeError("value must be a number or a Uint8Array");
    }
    const s = this.#socket("setSockOpt");
    const r = s.loop.native.aio_sockopt_set(s.loop.ptr, s.id, level, name, bytes, bytes.length);
    if (r === -Code.EINVAL) {
      throw new TypeError(
        `TcpConnection.setSockOpt(${level}, ${name}): refused (an option that makes the socket blocking, or a bad size)`,
      );
    }
    if (r < 0) throw aioError(r, s.loop.osError(), `TcpConnection.setSockOpt(${level}, ${name})`);
  }

  /**
   * Milliseconds without a send or receive before `onIdleTimeout` fires (0:
   * off, the default). It fires again after each further period of
   * silence, until set to 0 or the connection closes. May be set before
   * connecting: it counts from the moment the connection opens. All of a
   * loop's timeouts share one timer, which never keeps the process alive.
   *
   * @example Closing a connection that stays silent
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * const idle = new Promise<void>((resolve) => (conn.onIdleTimeout = () => resolve()));
   * conn.idleTimeoutMs = 50;
   * await idle;
   * conn.abort();
   * listener.close();
   * ```
   */
  get idleTimeoutMs(): number {
    return this.#s.idleTimeoutMs;
  }
  set idleTimeoutMs(ms: number) {
    this.#s.setIdleTimeout(ms);
  }

  /**
   * Starts the connection's one timer: `onTimer` fires once after `ms`.
   * Returns a token for `cancelTimer`. Throws TypeError while a timer is
   * active (cancel it first) or once the connection is closed. A timer
   * outlives a graceful `close()` until the close completes; `abort()`
   * cancels it. It never keeps the process alive by itself.
   *
   * @example A deadline for a reply
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * const fired = new Promise<void>((resolve) => (conn.onTimer = () => resolve()));
   * conn.setTimer(20);
   * await fired;
   * conn.abort();
   * listener.close();
   * ```
   */
  setTimer(ms: number): number {
    return this.#s.setTimer(ms);
  }

  /**
   * Cancels the timer `token` came from; a stale token (the timer fired or
   * was cancelled already) does nothing.
   *
   * @example Cancelling before it fires
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * const token = conn.setTimer(10_000);
   * conn.cancelTimer(token);
   * conn.cancelTimer(token); // stale: nothing happens
   * conn.abort();
   * listener.close();
   * ```
   */
  cancelTimer(token: number): void {
    this.#s.cancelTimer(token);
  }

  /**
   * `onData` in chunks of exactly `n` bytes (bytes wait until a chunk is
   * complete); `"streaming"` (the default) delivers bytes as they come. A
   * partial chunk is never dropped: a new size re-frames it, and at the
   * peer's end it is delivered short. Applies to `onData`, not to `readable`.
   *
   * @example Fixed-size records
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const got = new Promise<number>((resolve) => {
   *   listener.onConnection = (_l, conn) => {
   *     conn.bufferUntil(4);
   *     conn.onData = (_c, record) => resolve(record.length);
   *   };
   * });
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.send(new Uint8Array([1, 2]));
   * conn.send(new Uint8Array([3, 4, 5]));
   * console.log(await got); // 4
   * conn.abort();
   * listener.close();
   * ```
   */
  bufferUntil(n: number | "streaming"): void {
    this.#s.bufferUntil(n);
  }

  /**
   * Hands the loop to other connections: reading stops after the current
   * callback and resumes by itself on the loop's next turn. Bytes already
   * read are kept, none lost.
   *
   * @example Letting others run after each chunk
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * listener.onConnection = (_l, conn) => {
   *   conn.onData = (c) => c.yieldRead();
   * };
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.send(new Uint8Array(1024));
   * conn.abort();
   * listener.close();
   * ```
   */
  yieldRead(): void {
    this.#s.yieldRead();
  }

  /**
   * Most bytes read per wake-up (`config.readBufferSize`, default 64 KiB).
   * It can change on a live connection; bytes already received are kept.
   *
   * @example Reading in smaller steps
   * ```ts
   * import { TcpConnection, TcpListener } from "@eve/aio";
   *
   * const listener = await TcpListener.listen("127.0.0.1", 0);
   * const conn = await TcpConnection.connect("127.0.0.1", listener.localPort);
   * conn.readBufferSize = 4096;
   * console.log(conn.readBufferSize); // 4096
   * conn.abort();
   * listener.close();
   * ```
   */
  get readBufferSize(): number {
    return this.#s.readBufferSize;
  }
  set readBufferSize(size: number) {
    this.#s.setReadBufferSize(size);
  }

  // The core, checked to have a socket for `what`.
  #socket(what: string): StreamCore<TcpConnection> {
    const s = this.#s;
    s.live();
    if (!s.id) throw new TypeError(`TcpConnection.${what}: not connected`);
    return s;
  }

  /**
   * Queues bytes for sending; they are copied (or written at once), so the
   * caller may reuse its buffer. "pressure" means the queue reached the high
   * water mark; `onWritable` fires once it drains to the low one. "closed":
   * nothing was queued (closing, closed, or after closeWrite).
   *
   * Views of a SharedArrayBuffer and of resizable or growable buffers are
   * accepted: the bytes in the view at the time of the call are copied
   * (another thread writing them meanwhile may tear them). A view whose
   * buffer was detached (transferred) or shrank below it throws a
   * TypeError naming `data` (or `data[i]`), and nothing is sent.
   */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    return this.#s.send(data);
  }

  /**
   * Sends, then resolves once the queue is below the high water mark. The
   * buffers it takes, and the TypeError for a detached one, are `send`'s.
   */
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

  /**
   * Graceful close: flush the queue, FIN, release. Resolves when closed; with nothing queued it
   * completes within the call (onClose runs before it returns, as with abort()).
   */
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

/** What `connect` decided from its options. */
interface ConnectPlan {
  family: 0 | 4 | 6;
  flags: number;
  keepAlive: (KeepAliveOptions & { on: boolean }) | null;
  lookup: ((host: string) => Promise<LookupAddress[]>) | undefined;
  local: IpAddr | null;
  localPort: number;
  delayMs: number;
}

/** A `keepAlive` option: false/undefined (null), true, or its timing. */
export function checkKeepAlive(value: unknown, name: string): (KeepAliveOptions & { on: boolean }) | null {
  if (value === undefined || value === false) return null;
  if (value === true) return { on: true };
  const k = checkOptions<KeepAliveOptions>(value, name);
  return {
    on: true,
    idleMs: checkInt(k.idleMs, `${name}.idleMs`, 1, 0x7fffffff),
    intervalMs: checkInt(k.intervalMs, `${name}.intervalMs`, 1, 0x7fffffff),
    count: checkInt(k.count, `${name}.count`, 1, 127),
  };
}

function checkBufferSize(size: unknown, what: string): number {
  if (size === undefined) throw new TypeError(`TcpConnection.${what} must be an integer`);
  return checkInt(size, `TcpConnection.${what}`, 1, 0x7fffffff)!;
}

// The family's wildcard address, for a local port without a local address.
function wildcard(family: 4 | 6): IpAddr {
  return { family, bytes: new Uint8Array(family === 4 ? 4 : 16), scopeId: 0 };
}

// The user's resolver: its answers checked and narrowed to `family`.
async function lookupAddrs(
  lookup: (host: string) => Promise<LookupAddress[]>,
  host: string,
  family: 0 | 4 | 6,
): Promise<IpAddr[]> {
  const answers = await lookup(host);
  if (!Array.isArray(answers)) throw new TypeError("options.lookup must resolve to an array");
  const out: IpAddr[] = [];
  for (const a of answers) {
    const ip = typeof a?.address === "string" ? parseIp(a.address) : null;
    if (!ip) throw new TypeError(`options.lookup answered "${a?.address}", which is not an IP address`);
    if (family === 0 || ip.family === family) out.push(ip);
  }
  return out;
}

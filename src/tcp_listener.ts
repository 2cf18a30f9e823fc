/**
 * TcpListener: accepts TCP connections on the loop (seed:
 * eve.aio.windows.tcp TcpListener). Windows keeps several AcceptEx
 * outstanding (`simultaneousAccepts`); Linux accepts in batches.
 *
 * @module
 */
import { decodeAddr, encodeAddr, hostPort, type NetAddress, parseIp } from "./address.ts";
import { CloseMode, Flags, RecordKind } from "../ffi/records.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { aioError, Code } from "./errors.ts";
import { Resource } from "./handle.ts";
import { type EventLoop, osHandle, u64 } from "./loop.ts";
import { checkNet } from "./permissions.ts";
import { resolveHost } from "./resolve.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
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
// After a failure such as EMFILE, accepting resumes after this pause.
const ACCEPT_RETRY_MS = 100;

/** An async TCP listener. */
export class TcpListener extends Resource {
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

  /** Receives every accepted raw socket (then onConnection is not called); the callee adopts or closes it. */
  onAccept: ((listener: TcpListener, handle: OsHandle) => void) | null = null;
  /** Receives every accepted connection, ready to use. */
  onConnection: ((listener: TcpListener, conn: TcpConnection) => void) | null = null;

  #backlog: number;
  #accepts: number;
  #open = false;
  #listened = false;
  #local: NetAddress | null = null;
  #queue: AcceptQueue<TcpConnection>;
  #accepting = true;
  #retry: ReturnType<typeof setTimeout> | undefined;

  private constructor(config: TcpListenerConfig | undefined, loop: EventLoop | undefined) {
    const c = checkOptions<TcpListenerConfig>(config, "config");
    const backlog = checkInt(c.backlog, "config.backlog", 1, 0x7fffffff) ?? DEFAULT_BACKLOG;
    const accepts = checkInt(c.simultaneousAccepts, "config.simultaneousAccepts", 1, 256) ?? DEFAULT_ACCEPTS;
    super(checkLoop(loop));
    this.#backlog = backlog;
    this.#accepts = accepts;
    this.#queue = new AcceptQueue(backlog);
  }

  /** The name used in error messages. */
  protected get _what(): string {
    return "TcpListener";
  }

  /** Whether the listener owns an open socket. */
  get isOpen(): boolean {
    return this.#open;
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
    if (this.#listened) throw new TypeError("TcpListener.listen: already listening");
    if (signal?.aborted) return Promise.reject(signal.reason);
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    try {
      checkNet(bare === "" ? "0.0.0.0" : bare, port);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#listened = true;
    return this.#listen(bare === "" ? "0.0.0.0" : bare, port, o.ipv6Only === true, signal);
  }

  async #listen(host: string, port: number, ipv6Only: boolean, signal?: AbortSignal): Promise<void> {
    try {
      const addrs = parseIp(host) ? [parseIp(host)!] : await resolveHost(host, 0);
      if (signal?.aborted) throw signal.reason;
      if (this._disposed) throw new TypeError("TcpListener.listen: the listener was disposed");
      const loop = this._loop;
      const addr = addrs[0];
      const flags = ipv6Only ? Flags.V6ONLY : 0;
      const id = loop._native.aio_tcp_listen(loop._ptr, encodeAddr(addr, port), this.#backlog, flags, this.#accepts);
      if (id < 0) throw aioError(id, loop._osError(), `listen ${hostPort(host, port)}`);
      this._attach(id);
      this.#open = true;
      const buf = new Uint8Array(24);
      if (loop._native.aio_address(loop._ptr, id, 0, buf) === 0) {
        const a = decodeAddr(buf);
        this.#local = { hostname: a.hostname, port: a.port, family: a.family };
      }
    } catch (error) {
      this.#listened = false;
      throw error;
    }
  }

  /** The next connection; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<TcpConnection> {
    this._live();
    const signal = checkSignal(checkOptions<{ signal: AbortSignal }>(options).signal);
    const p = this.#queue.take(signal);
    this.#syncAccepting();
    return p;
  }

  /** Yields connections until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<TcpConnection> {
    while (this.#open) {
      try {
        yield await this.accept();
      } catch (error) {
        if (!this.#open) return;
        throw error;
      }
    }
  }

  /** Tracks this listener for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this._live();
    return coordinator.track(this);
  }

  /** Stops listening; queued, never accepted connections are closed. */
  close(): void {
    if (this._disposed || !this.#open) {
      this.#queue.close(closedError);
      return;
    }
    this.#shut();
  }

  /** Releases the listener without callbacks. */
  dispose(): void {
    if (this._disposed) return;
    this.#shut();
    this._markDisposed();
  }

  /** Closes the listener; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this._loop._settled();
  }

  #shut(): void {
    clearTimeout(this.#retry);
    if (this._id) this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this._detach();
    this.#open = false;
    this.#queue.close(closedError);
  }

  // Accept only while someone can take the connections: a callback, or
  // room in the queue (backlog); beyond it the OS backlog applies.
  #syncAccepting(): void {
    if (!this._id) return;
    const want = !!this.onAccept || !!this.onConnection || !this.#queue.full || this.#queue.waiting;
    if (want === this.#accepting || this.#retry !== undefined) return;
    this.#accepting = want;
    const n = this._loop._native;
    if (want) {
      n.aio_read_start(this._loop._ptr, this._id);
      this._loop._kick();
    } else {
      n.aio_read_stop(this._loop._ptr, this._id);
    }
  }

  /** Handles a record of the loop (internal). */
  override _record(kind: number, status: number, osError: number, a: number, b: number): void {
    if (kind === RecordKind.ACCEPTED) {
      this.#accepted(osHandle(a, b));
    } else if (kind === RecordKind.ACCEPT_ERROR) {
      // The listener stays open; accepting pauses briefly (EMFILE and the
      // like usually pass) and resumes.
      this._loop._reportError(aioError(status, osError, "TcpListener.accept"));
      this.#accepting = false;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#syncAccepting();
      }, ACCEPT_RETRY_MS);
    }
  }

  #accepted(handle: OsHandle): void {
    if (this.onAccept) {
      this._invoke(this.onAccept, this, handle);
      return;
    }
    const conn = TcpConnection.create(undefined, this._loop);
    try {
      conn.adopt(handle);
    } catch (error) {
      this._loop._native.aio_os_close(u64(handle), 0);
      this._loop._reportError(error);
      return;
    }
    if (this.onConnection) {
      this._invoke(this.onConnection, this, conn);
      return;
    }
    this.#queue.push(conn);
    this.#syncAccepting();
  }
}

function closedError(): Error {
  return aioError(Code.EBADID, 0, "TcpListener.accept: the listener is closed");
}

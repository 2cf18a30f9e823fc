/**
 * TcpConnection: a TCP stream on the loop (seed: eve.aio.windows.tcp).
 *
 * @module
 */
import { decodeAddr, encodeAddr, hostPort, type NetAddress } from "./address.ts";
import { CloseMode, Flags, RecordKind } from "../ffi/records.ts";
import { aioError, timedOut } from "./errors.ts";
import { EventLoop, u64 } from "./loop.ts";
import { checkNet } from "./permissions.ts";
import { resolveHost } from "./resolve.ts";
import { ByteStream, type CloseReason } from "./stream.ts";
import { checkInt, checkOptions, checkPort, checkSignal, checkString } from "./validate.ts";

/** Buffering of a connection. */
export interface TcpConnectionConfig {
  /** Bytes queued before send() reports "pressure" (default 1 MiB). */
  highWaterMark?: number;
  /** Queue level at or below which onWritable fires again (default half the high mark). */
  lowWaterMark?: number;
  /** Most bytes read per wake-up (default 64 KiB). */
  readBufferSize?: number;
}

/** Options of `connect`. */
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

/** An OS socket or handle: an fd on Linux, a SOCKET/HANDLE value on Windows. */
export type OsHandle = number | bigint;

/** Checks an OS handle argument. */
export function checkHandle(handle: unknown, name = "handle"): OsHandle {
  if (typeof handle === "bigint") {
    if (handle < 0n || handle > 0xffffffffffffffffn) throw new RangeError(`${name} is out of range`);
    return handle;
  }
  if (typeof handle !== "number" || !Number.isInteger(handle)) {
    throw new TypeError(`${name} must be an integer or bigint OS handle`);
  }
  if (handle < 0) throw new RangeError(`${name} must not be negative, got ${handle}`);
  return handle;
}

/** An async TCP connection with backpressure, pause/resume and half-close. */
export class TcpConnection extends ByteStream<TcpConnection> {
  /** Creates a detached connection; call `connect` or `adopt`. */
  static create(config?: TcpConnectionConfig, loop?: EventLoop): TcpConnection {
    return new TcpConnection(config, loop);
  }

  /** Connects to host:port and resolves with the open connection. */
  static connect(host: string, port: number, options?: ConnectOptions): Promise<TcpConnection> {
    const o = checkOptions<ConnectOptions>(options);
    const conn = new TcpConnection(o.config, o.loop);
    return conn.connect(host, port, options).then(() => conn);
  }

  /** Called once connected, before `connect` resolves. */
  onConnect: ((conn: TcpConnection) => void) | null = null;

  #remote: NetAddress | null = null;
  #local: NetAddress | null = null;
  #attempt: { abort(reason: unknown): void } | null = null;

  private constructor(config: TcpConnectionConfig | undefined, loop: EventLoop | undefined) {
    super(config, checkLoop(loop));
  }

  /** The name used in error messages. */
  protected get _what(): string {
    return "TcpConnection";
  }

  /** This connection, as callbacks receive it. */
  protected get _self(): TcpConnection {
    return this;
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
    this._live();
    checkString(host, "host");
    checkPort(port, "port", false);
    const o = checkOptions<ConnectOptions>(options);
    const signal = checkSignal(o.signal);
    const timeoutMs = checkInt(o.timeoutMs, "options.timeoutMs", 0, 0x7fffffff);
    const family = o.family ?? 0;
    if (family !== 0 && family !== 4 && family !== 6) throw new RangeError(`options.family must be 0, 4 or 6`);
    if (this.state !== "detached") throw new TypeError(`TcpConnection.connect: the connection is ${this.state}`);
    if (host === "") throw new TypeError("host must not be empty");
    try {
      checkNet(host.startsWith("[") ? host.slice(1, -1) : host, port);
    } catch (error) {
      return Promise.reject(error);
    }
    this._connecting();
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
    let reason: CloseReason = "error";
    let cancel!: (error: unknown) => void;
    const cancelled = new Promise<never>((_, reject) => (cancel = reject));
    cancelled.catch(() => {});
    const onAbort = () => {
      reason = "aborted";
      cancel(signal!.reason);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        reason = "timeout";
        cancel(timedOut(`connect ${hostPort(host, port)}`, timeoutMs));
      }, timeoutMs);
    }
    this.#attempt = {
      abort: (error) => {
        reason = "aborted";
        cancel(error);
      },
    };
    try {
      if (signal?.aborted) {
        reason = "aborted";
        throw signal.reason;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      const addrs = await Promise.race([resolveHost(host, family), cancelled]);
      let lastError: unknown = null;
      for (const addr of addrs) {
        const loop = this._loop;
        const id = loop._native.aio_tcp_connect(loop._ptr, encodeAddr(addr, port), noDelay ? Flags.NODELAY : 0);
        if (id < 0) {
          lastError = aioError(id, loop._osError(), `connect ${hostPort(host, port)}`);
          continue;
        }
        const outcome = new Promise<[number, number]>((resolve) => (this.#connected = resolve));
        this._attach(id);
        let status: number, osError: number;
        try {
          [status, osError] = await Promise.race([outcome, cancelled]);
        } catch (error) {
          this.#dropAttempt();
          throw error;
        } finally {
          this.#connected = null;
        }
        if (status < 0) {
          this.#dropAttempt();
          lastError = aioError(status, osError, `connect ${hostPort(host, port)}`);
          continue;
        }
        this.#addresses();
        this._opened(id);
        this.#attempt = null;
        this._invoke(this.onConnect, this);
        return;
      }
      throw lastError ?? aioError(21, 0, `connect ${host}: no address`);
    } catch (error) {
      this.#attempt = null;
      if (this.state === "connecting") this._connectFailed(reason);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #connected: ((outcome: [number, number]) => void) | null = null;

  #dropAttempt(): void {
    if (this._id === 0) return;
    this._loop._native.aio_close(this._loop._ptr, this._id, CloseMode.NOW);
    this._detach();
  }

  /** Stops the connect attempt in flight (internal). */
  protected override _cancelConnect(): void {
    this.#attempt?.abort(new DOMException("The connection was closed while connecting", "AbortError"));
    this.#attempt = null;
    this.#dropAttempt();
  }

  #addresses(): void {
    const n = this._loop._native, ptr = this._loop._ptr;
    const buf = new Uint8Array(24);
    if (n.aio_address(ptr, this._id, 0, buf) === 0) this.#local = publicAddr(buf);
    if (n.aio_address(ptr, this._id, 1, buf) === 0) this.#remote = publicAddr(buf);
  }

  /**
   * Adopts an accepted or inherited socket; the connection is open at once
   * and owns the socket. When it throws, the socket is untouched and still
   * the caller's (AlreadyExists: adopted already).
   */
  adopt(handle: OsHandle): void {
    this._live();
    const h = checkHandle(handle);
    if (this.state !== "detached") throw new TypeError(`TcpConnection.adopt: the connection is ${this.state}`);
    const loop = this._loop;
    const id = loop._native.aio_tcp_adopt(loop._ptr, u64(h), 0);
    if (id < 0) throw aioError(id, loop._osError(), "TcpConnection.adopt");
    this._attach(id);
    this.#addresses();
    this._opened(id);
  }

  /** Turns Nagle's algorithm off (true) or on (false). */
  setNoDelay(noDelay = true): void {
    this._live();
    if (!this._id) throw new TypeError("TcpConnection.setNoDelay: not connected");
    const r = this._loop._native.aio_tcp_nodelay(this._loop._ptr, this._id, noDelay ? 1 : 0);
    if (r < 0) throw aioError(r, this._loop._osError(), "TcpConnection.setNoDelay");
  }

  /** Flushes the queue, then half-closes (FIN); reading goes on. */
  closeWrite(): Promise<void> {
    return this._shutdownWrite();
  }

  /** `writable.close()` half-closes. */
  protected _endWritable(): Promise<void> {
    return this.closeWrite();
  }

  /** Handles a record of the loop (internal). */
  override _record(kind: number, status: number, osError: number, a: number, b: number): void {
    if (kind === RecordKind.CONNECTED) {
      this.#connected?.([status, osError]);
      return;
    }
    super._record(kind, status, osError, a, b);
  }
}

/** The loop argument, checked. */
export function checkLoop(loop: unknown): EventLoop {
  if (loop === undefined || loop === null) return EventLoop.default;
  if (!(loop instanceof EventLoop)) throw new TypeError("loop must be an EventLoop");
  if (loop.closed) throw new TypeError("loop is closed");
  return loop;
}

function publicAddr(buf: Uint8Array): NetAddress {
  const a = decodeAddr(buf);
  return { hostname: a.hostname, port: a.port, family: a.family };
}

/**
 * Pipe: one end of an anonymous pipe, an adopted pipe handle, or a
 * connection to a named endpoint (seed: eve.aio.windows.pipe). On Windows
 * anonymous pairs are uniquely named pipes so both ends can be overlapped;
 * on Linux they come from pipe2 and named endpoints are Unix sockets. The
 * stream itself is a `StreamCore`; this file adds adopting ends and
 * connecting to an endpoint.
 *
 * @module
 */
import { Flags } from "../ffi/records.ts";
import { aioError, Code } from "./errors.ts";
import { ConnectAttempt } from "./connect.ts";
import { bindCore } from "./cores.ts";
import { type EventLoop, loopCore } from "./loop.ts";
import { checkHandle, type OsHandle, u64 } from "./os_handle.ts";
import { checkNamedEndpoint } from "./permissions.ts";
import { markAdopted } from "./pipe_pair.ts";
import type { LoopCore } from "./pump.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { type CloseReason, type SendResult, type SocketState, StreamCore, type StreamKind } from "./stream.ts";
import { checkInt, checkOptions, checkSignal, checkString } from "./validate.ts";

/**
 * Buffering of a pipe.
 *
 * @example A pipe with its own buffer sizes
 * ```ts
 * import { Pipe, type PipeConfig } from "@eve/aio";
 *
 * const config: PipeConfig = { bufferSize: 64 * 1024, highWaterMark: 256 * 1024, lowWaterMark: 64 * 1024 };
 * const pipe = Pipe.create(config);
 * console.log(pipe.state); // "detached" until it adopts a handle or connects
 * pipe.abort();
 * ```
 */
export interface PipeConfig {
  /** Most bytes read per wake-up (default 64 KiB). */
  bufferSize?: number;
  /** Bytes queued before send() reports "pressure" (default 1 MiB). */
  highWaterMark?: number;
  /** Queue level at or below which onWritable fires again. */
  lowWaterMark?: number;
}

/**
 * Options of `Pipe.connect`.
 *
 * @example Connecting to a named endpoint, waiting up to a second
 * ```ts
 * import { Pipe, type PipeConnectOptions, PipeListener } from "@eve/aio";
 *
 * const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-doc-connect" : `${Deno.makeTempDirSync()}/doc.sock`;
 * const server = await PipeListener.listen(path);
 * const options: PipeConnectOptions = { timeoutMs: 1000 };
 * const client = await Pipe.connect(path, options);
 * client.abort();
 * server.close();
 * ```
 */
export interface PipeConnectOptions {
  /** Cancels the attempt (including waits for a busy server). */
  signal?: AbortSignal;
  /** How long to retry a busy server; then Deno.errors.TimedOut. */
  timeoutMs?: number;
  /** The loop; default `EventLoop.default`. */
  loop?: EventLoop;
  /** Buffering of the pipe. */
  config?: PipeConfig;
}

// A pipe cannot half-close; a broken pipe means the other end went away.
const PIPE: StreamKind = { what: "Pipe", halfClose: false, epipe: "peer" };
// Retrying a busy server: the first wait, and the longest.
const BUSY_RETRY_FIRST_MS = 5;
const BUSY_RETRY_MAX_MS = 100;

const MAX_ENDPOINT_BYTES = Deno.build.os === "windows" ? 256 * 3 : 107;

const PIPE_PREFIX = "\\\\.\\pipe\\";

/** Checks an endpoint path and returns it NUL-terminated for the shim. */
export function endpointName(value: unknown): Uint8Array {
  const path = checkString(value, "path");
  if (path === "") throw new TypeError("path must not be empty");
  // Refused here, before the permission check, so that a malformed name
  // gives the same TypeError naming `path` whatever the permissions (the
  // OS would only say EINVAL, and only with the permission granted).
  if (
    Deno.build.os === "windows" &&
    (path.slice(0, PIPE_PREFIX.length).toLowerCase() !== PIPE_PREFIX || path.length === PIPE_PREFIX.length)
  ) {
    throw new TypeError(`path must be a local pipe name, \\\\.\\pipe\\<name>, got "${path}"`);
  }
  const bytes = new TextEncoder().encode(`${path}\0`);
  if (bytes.length - 1 > MAX_ENDPOINT_BYTES || (Deno.build.os === "windows" && path.length > 256)) {
    throw new RangeError(
      `path is too long for a ${Deno.build.os === "windows" ? "pipe name" : "socket path"}: ${path}`,
    );
  }
  return bytes;
}

let make: (config: PipeConfig | undefined, loop: LoopCore) => Pipe;
let coreOfPipe: (pipe: Pipe) => StreamCore<Pipe>;

/**
 * A Pipe on `loop` that owns `handle` for both directions (a connected
 * named pipe or socket its listener accepted); throws as adoptRead does.
 */
export function duplexPipeOn(loop: LoopCore, handle: OsHandle): Pipe {
  const pipe = make(undefined, loop);
  // ACCEPTED: the shim registers its own accepted handle without the
  // checks a foreign one gets (aio.h).
  adopt(coreOfPipe(pipe), handle, Flags.READABLE | Flags.WRITABLE | Flags.ACCEPTED, "adopt");
  return pipe;
}

/**
 * A byte stream over a pipe handle, with TcpConnection's surface (no half-close, no addresses).
 *
 * @example Request and reply over a named endpoint
 * ```ts
 * import { Pipe, PipeListener } from "@eve/aio";
 *
 * const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-doc-pipe" : `${Deno.makeTempDirSync()}/doc.sock`;
 * const server = await PipeListener.listen(path);
 * server.onConnection = (_l, pipe) => (pipe.onData = (p, data) => p.send(data));
 * const client = await Pipe.connect(path, { timeoutMs: 1000 });
 * const reply = new Promise<string>((resolve) => (client.onData = (_p, d) => resolve(new TextDecoder().decode(d))));
 * client.send(new TextEncoder().encode("over a pipe"));
 * console.log(await reply); // "over a pipe"
 * client.abort();
 * server.close();
 * ```
 */
export class Pipe {
  static {
    make = (config, loop) => new Pipe(config, loop);
    coreOfPipe = (pipe) => pipe.#s;
  }

  /** Creates a pipe that owns nothing yet; adopt a handle or use `Pipe.connect`. */
  static create(config?: PipeConfig, loop?: EventLoop): Pipe {
    return new Pipe(config, loopCore(loop));
  }

  /**
   * Connects to a named endpoint (`\\.\pipe\name` on Windows, a Unix socket
   * path on Linux), retrying a busy server until `timeoutMs`.
   */
  static connect(path: string, options?: PipeConnectOptions): Promise<Pipe> {
    const name = endpointName(path);
    const o = checkOptions<PipeConnectOptions>(options);
    const signal = checkSignal(o.signal);
    const timeoutMs = checkInt(o.timeoutMs, "options.timeoutMs", 0, 0x7fffffff);
    const pipe = new Pipe(o.config, loopCore(o.loop));
    try {
      checkNamedEndpoint(path);
    } catch (error) {
      return Promise.reject(error);
    }
    return connect(pipe.#s, path, name, signal, timeoutMs).then(() => pipe);
  }

  /** The peer finished sending (end of file). */
  onEnd: ((pipe: Pipe) => void) | null = null;
  /** The send queue fell to the low water mark after a "pressure". */
  onWritable: ((pipe: Pipe) => void) | null = null;
  /** The pipe closed; called exactly once, with why. */
  onClose: ((pipe: Pipe, reason: CloseReason) => void) | null = null;
  /** An I/O error, or an error thrown by one of this pipe's callbacks. */
  onError: ((pipe: Pipe, error: Error) => void) | null = null;

  #s: StreamCore<Pipe>;

  private constructor(config: PipeConfig | undefined, loop: LoopCore) {
    this.#s = new StreamCore<Pipe>(this, PIPE, config, loop);
    bindCore(this, this.#s);
  }

  /** Received bytes; the view is valid only during the call. Setting it starts reading. */
  get onData(): ((pipe: Pipe, data: Uint8Array) => void) | null {
    return this.#s.onData;
  }
  set onData(fn: ((pipe: Pipe, data: Uint8Array) => void) | null) {
    this.#s.setOnData(fn);
  }

  /** Whether the pipe owns an open handle. */
  get isOpen(): boolean {
    return this.#s.isOpen;
  }

  /** Where the pipe is in its life. */
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
   * Adopts a handle to read from (for example `createPipe().readEnd`). The
   * pipe then owns it; when this throws (NotSupported: a kind of handle the
   * loop cannot poll; AlreadyExists: adopted already), the handle is
   * untouched and still the caller's. The same holds for adoptWrite.
   */
  adoptRead(handle: OsHandle): void {
    adopt(this.#s, handle, Flags.READABLE, "adoptRead");
  }

  /** Adopts a handle to write to (for example `createPipe().writeEnd`). */
  adoptWrite(handle: OsHandle): void {
    adopt(this.#s, handle, Flags.WRITABLE, "adoptWrite");
  }

  /**
   * Queues bytes for sending (the seed's Pipe.write); as TcpConnection.send,
   * with the same buffers accepted (SharedArrayBuffer and resizable views)
   * and refused (detached or out of bounds: TypeError naming `data`). The
   * pipe must have a write end.
   */
  send(data: Uint8Array | readonly Uint8Array[]): SendResult {
    return this.#s.send(data);
  }

  /** Sends, then resolves once the queue is below the high water mark; the buffers it takes are `send`'s. */
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

  /**
   * Graceful close: flush the queue, release. Resolves when closed; with nothing queued it
   * completes within the call (onClose runs before it returns, as with abort()).
   */
  close(): Promise<void> {
    return this.#s.close();
  }

  /** Abortive close: drops the queue and closes at once. */
  abort(): void {
    this.#s.abort();
  }

  /** Releases the pipe at once without invoking any callback. */
  dispose(): void {
    this.#s.dispose();
  }

  /** The received bytes as a Web Stream (with backpressure). Taking it starts reading. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#s.readable;
  }

  /** Bytes to send as a Web Stream; closing it closes the pipe (pipes cannot half-close). */
  get writable(): WritableStream<Uint8Array> {
    return this.#s.writable;
  }

  /** Tracks this pipe for graceful shutdown. */
  track(coordinator: ShutdownCoordinator): boolean {
    this.#s.live();
    return coordinator.track(this);
  }

  /** Keeps the process alive while the pipe is open (the default). */
  ref(): void {
    this.#s.ref();
  }

  /**
   * Lets the process exit while the pipe is open; its events still arrive
   * while something else keeps it alive. A graceful `close()` keeps the
   * process alive until it is done.
   */
  unref(): void {
    this.#s.unref();
  }

  /** Closes gracefully; for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function adopt(s: StreamCore<Pipe>, handle: OsHandle, flags: number, what: string): void {
  s.live();
  const h = checkHandle(handle);
  if (s.state !== "detached") throw new TypeError(`Pipe.${what}: the pipe is ${s.state}`);
  const loop = s.loop;
  const id = loop.native.aio_pipe_adopt(loop.ptr, u64(h), flags);
  if (id < 0) throw aioError(id, loop.osError(), `Pipe.${what}`);
  markAdopted(h);
  s.writes = (flags & Flags.WRITABLE) !== 0;
  s.attach(id);
  s.opened(id);
}

// Connecting is synchronous in the shim; a busy server (every instance
// taken) is retried with growing waits until the attempt ends.
async function connect(
  s: StreamCore<Pipe>,
  path: string,
  name: Uint8Array,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): Promise<void> {
  let delay = BUSY_RETRY_FIRST_MS;
  let attempt: ConnectAttempt | null = null;
  s.connecting();
  try {
    attempt = new ConnectAttempt(`Pipe.connect ${path}`, signal, timeoutMs, s.loop.timers);
    const a = attempt;
    s.cancelConnect = () => a.abort(new DOMException("The pipe was closed while connecting", "AbortError"));
    for (;;) {
      const loop = s.loop;
      const id = loop.native.aio_pipe_connect(loop.ptr, name);
      if (id >= 0) {
        s.cancelConnect = null;
        s.writes = true;
        s.attach(id);
        s.opened(id);
        return;
      }
      if (-id !== Code.EBUSY) throw aioError(id, loop.osError(), `Pipe.connect ${path}`);
      await a.sleep(delay);
      delay = Math.min(delay * 2, BUSY_RETRY_MAX_MS);
    }
  } catch (error) {
    s.cancelConnect = null;
    if (s.state === "connecting") s.connectFailed(attempt?.reason ?? "aborted");
    throw error;
  } finally {
    attempt?.done();
  }
}

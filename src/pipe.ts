/**
 * Pipe: one end of an anonymous pipe, an adopted pipe handle, or a
 * connection to a named endpoint (seed: eve.aio.windows.pipe). On Windows
 * anonymous pairs are uniquely named pipes so both ends can be overlapped;
 * on Linux they come from pipe2 and named endpoints are Unix sockets.
 *
 * @module
 */
import { Flags } from "../ffi/records.ts";
import { native } from "../ffi/library.ts";
import { aioError, Code, timedOut } from "./errors.ts";
import { type EventLoop, u64 } from "./loop.ts";
import { checkNamedEndpoint } from "./permissions.ts";
import { ByteStream, type CloseReason } from "./stream.ts";
import { checkHandle, checkLoop, type OsHandle } from "./tcp_connection.ts";
import { checkInt, checkOptions, checkSignal, checkString } from "./validate.ts";

/** Buffering of a pipe. */
export interface PipeConfig {
  /** Most bytes read per wake-up (default 64 KiB). */
  bufferSize?: number;
  /** Bytes queued before send() reports "pressure" (default 1 MiB). */
  highWaterMark?: number;
  /** Queue level at or below which onWritable fires again. */
  lowWaterMark?: number;
}

/** The two ends of an anonymous pipe, as OS handles. */
export interface PipePair {
  /** The end to read from. */
  readEnd: OsHandle;
  /** The end to write to. */
  writeEnd: OsHandle;
}

/** Options of `Pipe.connect`. */
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

// Pairs made by createPipe, by handle value, so closePipe leaves alone the
// ends a Pipe adopted (those belong to the Pipe); pairs closed already, so a
// second closePipe cannot close handles the OS has since given to others.
const pairs = new Map<string, { pair: PipePair; adopted: boolean }>();
const closedPairs = new WeakSet<PipePair>();

// The longest endpoint name: sun_path holds 107 bytes and a NUL on Linux;
// Windows pipe names are at most 256 characters.
const MAX_ENDPOINT_BYTES = Deno.build.os === "windows" ? 256 * 3 : 107;

/** Checks an endpoint path and returns it NUL-terminated for the shim. */
export function endpointName(value: unknown): Uint8Array {
  const path = checkString(value, "path");
  if (path === "") throw new TypeError("path must not be empty");
  const bytes = new TextEncoder().encode(`${path}\0`);
  if (bytes.length - 1 > MAX_ENDPOINT_BYTES || (Deno.build.os === "windows" && path.length > 256)) {
    throw new RangeError(
      `path is too long for a ${Deno.build.os === "windows" ? "pipe name" : "socket path"}: ${path}`,
    );
  }
  return bytes;
}
const key = (h: OsHandle) => String(h);

/** Creates an anonymous pipe pair usable with the loop (a unique named pipe on Windows). */
export function createPipe(): PipePair {
  const out = new BigUint64Array(2);
  const err = new Int32Array(2);
  const r = native().aio_pipe_pair(out, err);
  if (r < 0) throw aioError(err[0] || r, err[1], "createPipe");
  const num = (v: bigint): OsHandle => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const pair: PipePair = { readEnd: num(out[0]), writeEnd: num(out[1]) };
  pairs.set(key(pair.readEnd), { pair, adopted: false });
  pairs.set(key(pair.writeEnd), { pair, adopted: false });
  return pair;
}

/** Closes the ends of a pair that no Pipe has adopted. */
export function closePipe(pair: PipePair): void {
  if (!pair || typeof pair !== "object") throw new TypeError("pair must be a PipePair");
  const ends = [checkHandle(pair.readEnd, "pair.readEnd"), checkHandle(pair.writeEnd, "pair.writeEnd")];
  if (closedPairs.has(pair)) return;
  closedPairs.add(pair);
  for (const h of ends) {
    const rec = pairs.get(key(h));
    if (rec && rec.pair !== pair) continue; // the value now belongs to a newer pair
    if (!rec?.adopted) native().aio_os_close(u64(h), 1);
    pairs.delete(key(h));
  }
}

/** A byte stream over a pipe handle, with TcpConnection's surface (no half-close, no addresses). */
export class Pipe extends ByteStream<Pipe> {
  /** Creates a pipe that owns nothing yet; adopt a handle or use `Pipe.connect`. */
  static create(config?: PipeConfig, loop?: EventLoop): Pipe {
    return new Pipe(config, loop);
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
    const pipe = new Pipe(o.config, o.loop);
    try {
      checkNamedEndpoint(path);
    } catch (error) {
      return Promise.reject(error);
    }
    return pipe.#connect(path, name, signal, timeoutMs).then(() => pipe);
  }

  #writeEnd = false;

  private constructor(config: PipeConfig | undefined, loop: EventLoop | undefined) {
    super(config, checkLoop(loop));
  }

  /** The name used in error messages. */
  protected get _what(): string {
    return "Pipe";
  }

  /** This pipe, as callbacks receive it. */
  protected get _self(): Pipe {
    return this;
  }

  /**
   * Adopts a handle to read from (for example `createPipe().readEnd`). The
   * pipe then owns it; when this throws (NotSupported: a kind of handle the
   * loop cannot poll; AlreadyExists: adopted already), the handle is
   * untouched and still the caller's. The same holds for adoptWrite.
   */
  adoptRead(handle: OsHandle): void {
    this.#adopt(handle, Flags.READABLE, "adoptRead");
  }

  /** Adopts a handle to write to (for example `createPipe().writeEnd`). */
  adoptWrite(handle: OsHandle): void {
    this.#adopt(handle, Flags.WRITABLE, "adoptWrite");
  }

  /** Adopts a handle for both directions (a connected named pipe or socket). */
  _adoptDuplex(handle: OsHandle): void {
    this.#adopt(handle, Flags.READABLE | Flags.WRITABLE, "adopt");
  }

  #adopt(handle: OsHandle, flags: number, what: string): void {
    this._live();
    const h = checkHandle(handle);
    if (this.state !== "detached") throw new TypeError(`Pipe.${what}: the pipe is ${this.state}`);
    const loop = this._loop;
    const id = loop._native.aio_pipe_adopt(loop._ptr, u64(h), flags);
    if (id < 0) throw aioError(id, loop._osError(), `Pipe.${what}`);
    const rec = pairs.get(key(h));
    if (rec) rec.adopted = true;
    this.#writeEnd = (flags & Flags.WRITABLE) !== 0;
    this._attach(id);
    this._opened(id);
  }

  async #connect(
    path: string,
    name: Uint8Array,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ): Promise<void> {
    const started = Date.now();
    let delay = 5;
    this._connecting();
    let reason: CloseReason = "error";
    try {
      for (;;) {
        if (signal?.aborted) {
          reason = "aborted";
          throw signal.reason;
        }
        const loop = this._loop;
        const id = loop._native.aio_pipe_connect(loop._ptr, name);
        if (id >= 0) {
          this.#writeEnd = true;
          this._attach(id);
          this._opened(id);
          return;
        }
        if (-id !== Code.EBUSY) throw aioError(id, loop._osError(), `Pipe.connect ${path}`);
        // Every instance is busy (Windows) or the backlog is full (Linux):
        // wait a little and try again, as WaitNamedPipe would.
        if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
          reason = "timeout";
          throw timedOut(`Pipe.connect ${path}`, timeoutMs);
        }
        await abortableSleep(delay, signal);
        delay = Math.min(delay * 2, 100);
      }
    } catch (error) {
      if (signal?.aborted) reason = "aborted";
      if (this.state === "connecting") this._connectFailed(reason);
      throw error;
    }
  }

  /** Sends bytes; the pipe must have a write end. */
  override send(data: Uint8Array | readonly Uint8Array[]): "ok" | "pressure" | "closed" {
    if (this.state === "open" && !this.#writeEnd) throw new TypeError("Pipe.send: this pipe end only reads");
    return super.send(data);
  }

  /** Whether this pipe end writes (false for an adopted read end). */
  protected override get _writesData(): boolean {
    return this.#writeEnd;
  }

  /** A pipe cannot half-close: closing the writable closes the pipe. */
  protected _endWritable(): Promise<void> {
    return this.close();
  }

  /** A broken pipe means the other end went away. */
  protected override _reasonFor(code: number): CloseReason {
    return code === Code.EPIPE ? "peer" : super._reasonFor(code);
  }
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

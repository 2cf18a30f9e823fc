/**
 * PipeListener: a named endpoint clients reach with `Pipe.connect` —
 * `\\.\pipe\<name>` on Windows (a named pipe server that always keeps one
 * instance listening, owner-only DACL, remote clients rejected), a Unix
 * domain socket with owner-only permissions on Linux. The accepting itself
 * is a `ListenerCore`.
 *
 * @module
 */
import { OsHandleKind } from "../ffi/records.ts";
import { aioError } from "./errors.ts";
import { bindCore } from "./cores.ts";
import { type EventLoop, loopCore } from "./loop.ts";
import { ListenerCore } from "./listener.ts";
import { checkNamedEndpoint } from "./permissions.ts";
import { duplexPipeOn, endpointName, type Pipe } from "./pipe.ts";
import type { LoopCore } from "./pump.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { checkInt, checkOptions, checkSignal } from "./validate.ts";

/**
 * Options of `PipeListener.listen`.
 *
 * @example A named endpoint with a short backlog
 * ```ts
 * import { PipeListener, type PipeListenOptions } from "@eve/aio";
 *
 * const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-doc-options" : `${Deno.makeTempDirSync()}/doc.sock`;
 * const options: PipeListenOptions = { backlog: 16, signal: AbortSignal.timeout(5000) };
 * const server = await PipeListener.listen(path, options);
 * server.close();
 * ```
 */
export interface PipeListenOptions {
  /** Cancels the listen call. */
  signal?: AbortSignal;
  /** The loop; default `EventLoop.default`. */
  loop?: EventLoop;
  /** Connections that may wait for accept() before clients find the endpoint busy (default 511). */
  backlog?: number;
}

const DEFAULT_BACKLOG = 511;

/**
 * A listener on a named endpoint.
 *
 * @example Serving a named endpoint
 * ```ts
 * import { PipeListener } from "@eve/aio";
 *
 * // A named pipe on Windows (owner-only), a Unix socket elsewhere.
 * const path = Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-doc-listener" : `${Deno.makeTempDirSync()}/doc.sock`;
 * const server = await PipeListener.listen(path);
 * server.onConnection = (_l, pipe) => pipe.send(new TextEncoder().encode("hello\n"));
 * console.log(server.path === path); // true
 * server.close();
 * ```
 */
export class PipeListener {
  /** Listens on `path`; fails with AddrInUse when it is served already. */
  static listen(path: string, options?: PipeListenOptions): Promise<PipeListener> {
    const name = endpointName(path);
    const o = checkOptions<PipeListenOptions>(options);
    const signal = checkSignal(o.signal);
    const backlog = checkInt(o.backlog, "options.backlog", 1, 0x7fffffff) ?? DEFAULT_BACKLOG;
    const listener = new PipeListener(path, loopCore(o.loop), backlog);
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      checkNamedEndpoint(path);
    } catch (error) {
      return Promise.reject(error);
    }
    const l = listener.#l, loop = l.loop;
    l.startListen();
    const id = loop.native.aio_pipe_listen(loop.ptr, name, backlog, 0);
    if (id < 0) return Promise.reject(aioError(id, loop.osError(), `PipeListener.listen ${path}`));
    l.listening(id);
    return Promise.resolve(listener);
  }

  /** The endpoint's path. */
  readonly path: string;
  #l: ListenerCore<Pipe, PipeListener>;

  private constructor(path: string, loop: LoopCore, backlog: number) {
    this.path = path;
    this.#l = new ListenerCore<Pipe, PipeListener>(
      this,
      {
        what: "PipeListener",
        // Accepted ends are pipe HANDLEs on Windows, socket fds on Linux.
        acceptedKind: Deno.build.os === "windows" ? OsHandleKind.PIPE : OsHandleKind.SOCKET,
        wrap: (handle) => duplexPipeOn(loop, handle),
        takeRaw: () => false,
        hasRaw: () => false,
      },
      loop,
      backlog,
    );
    bindCore(this, this.#l);
  }

  /** Receives every accepted connection, ready to use (also those that were waiting for accept()). */
  get onConnection(): ((listener: PipeListener, pipe: Pipe) => void) | null {
    return this.#l.onConnection;
  }
  set onConnection(fn: ((listener: PipeListener, pipe: Pipe) => void) | null) {
    this.#l.setOnConnection(fn);
  }

  /** Whether the listener owns an open endpoint. */
  get isOpen(): boolean {
    return this.#l.isOpen;
  }

  /** The next connection; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<Pipe> {
    return this.#l.accept(options);
  }

  /** Yields connections until the listener closes. */
  [Symbol.asyncIterator](): AsyncIterator<Pipe> {
    return this.#l.connections();
  }

  /** Stops listening (the endpoint goes away); queued, never accepted connections are closed. */
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

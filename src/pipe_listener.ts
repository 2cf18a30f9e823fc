/**
 * PipeListener: a named endpoint clients reach with `Pipe.connect` —
 * `\\.\pipe\<name>` on Windows (a named pipe server that always keeps one
 * instance listening, owner-only DACL, remote clients rejected), a Unix
 * domain socket with owner-only permissions on Linux.
 *
 * @module
 */
import { aioError } from "./errors.ts";
import type { EventLoop } from "./loop.ts";
import { Listener } from "./listener.ts";
import { checkNamedEndpoint } from "./permissions.ts";
import { endpointName, Pipe } from "./pipe.ts";
import { checkLoop, type OsHandle } from "./tcp_connection.ts";
import { checkInt, checkOptions, checkSignal } from "./validate.ts";

/** Options of `PipeListener.listen`. */
export interface PipeListenOptions {
  /** Cancels the listen call. */
  signal?: AbortSignal;
  /** The loop; default `EventLoop.default`. */
  loop?: EventLoop;
  /** Connections that may wait for accept() before clients find the endpoint busy (default 511). */
  backlog?: number;
}

const DEFAULT_BACKLOG = 511;

/** A listener on a named endpoint. */
export class PipeListener extends Listener<Pipe, PipeListener> {
  /** Listens on `path`; fails with AddrInUse when it is served already. */
  static listen(path: string, options?: PipeListenOptions): Promise<PipeListener> {
    endpointName(path);
    const o = checkOptions<PipeListenOptions>(options);
    const signal = checkSignal(o.signal);
    const backlog = checkInt(o.backlog, "options.backlog", 1, 0x7fffffff) ?? DEFAULT_BACKLOG;
    const listener = new PipeListener(path, o.loop, backlog);
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      checkNamedEndpoint(path);
    } catch (error) {
      return Promise.reject(error);
    }
    const loop = listener._loop;
    listener._startListen();
    const id = loop._native.aio_pipe_listen(loop._ptr, endpointName(path), backlog, 0);
    if (id < 0) return Promise.reject(aioError(id, loop._osError(), `PipeListener.listen ${path}`));
    listener._listening(id);
    return Promise.resolve(listener);
  }

  /** The endpoint's path. */
  readonly path: string;

  private constructor(path: string, loop: EventLoop | undefined, backlog: number) {
    super(checkLoop(loop), backlog);
    this.path = path;
  }

  /** The name used in error messages. */
  protected get _what(): string {
    return "PipeListener";
  }

  /** This listener, as callbacks receive it. */
  protected get _self(): PipeListener {
    return this;
  }

  /** Accepted ends are pipe HANDLEs on Windows, socket fds on Linux. */
  protected get _handleKind(): number {
    return Deno.build.os === "windows" ? 1 : 0;
  }

  /** Adopts an accepted connection as a duplex Pipe. */
  protected _wrap(handle: OsHandle): Pipe {
    const pipe = Pipe.create(undefined, this._loop);
    pipe._adoptDuplex(handle);
    return pipe;
  }
}

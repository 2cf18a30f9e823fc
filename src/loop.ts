/**
 * EventLoop: the public face of a loop (its inside is `LoopCore`,
 * src/pump.ts): options, counters, close, and the "error" event for errors
 * no object could take.
 *
 * @module
 */
import { libraryPath, setLibraryPath } from "../ffi/library.ts";
import { checkInt, checkOptions } from "./validate.ts";
import { LoopCore, type LoopStats, MAX_SPIN_US } from "./pump.ts";

export type { LoopStats } from "./pump.ts";

/**
 * Options of a loop.
 *
 * @example A loop that never busy-polls
 * ```ts
 * import { EventLoop, type EventLoopOptions } from "@eve/aio";
 *
 * const options: EventLoopOptions = { spinMicroseconds: 0 };
 * const loop = new EventLoop(options);
 * console.log(loop.spinMicroseconds); // 0
 * await loop.close();
 * ```
 */
export interface EventLoopOptions {
  /**
   * How long, in microseconds (0-1000), the pump waits for the next event
   * on its own thread before it parks in the nonblocking wait; 0 turns
   * this off. Parking costs a thread hop per wake-up (8-35 µs on Linux,
   * more under Wine), which halves request/response rates; a peer that
   * answers within this time is seen without one, at the price of Deno's
   * own timers and I/O waiting that long. While answers have been coming
   * within tens of microseconds the pump busy-polls for them; otherwise,
   * on Linux, it sleeps in the OS's wait (no CPU taken from the peer that
   * has to answer); on Windows it busy-polls. It backs off by itself:
   * after a wait that found nothing, the next 1, 3, 7, ... up to 1023 idle
   * turns park at once (a preempted one counts as four misses), so an idle
   * or slow peer, or a busy machine, costs almost nothing. Default: 500 on
   * Linux, 1000 on Windows (bench/RESULTS.md).
   */
  spinMicroseconds?: number;
}

let defaultLoop: EventLoop | null = null;
let coreOf: (loop: EventLoop) => LoopCore;

/**
 * An event loop over the native backend (IOCP on Windows, epoll on Linux).
 *
 * @example A loop of its own, and the default one
 * ```ts
 * import { EventLoop, TcpListener } from "@eve/aio";
 *
 * const loop = new EventLoop();
 * const listener = await TcpListener.listen("127.0.0.1", 0, { loop });
 * console.log(loop.backend, loop.stats().handles); // "epoll" 1 (on Linux)
 * listener.close();
 * await loop.close();
 * console.log(EventLoop.default.backend); // what most code uses
 * ```
 */
export class EventLoop extends EventTarget {
  static {
    coreOf = (loop) => loop.#core;
  }

  /**
   * The native library to load instead of looking for one (README, "Loading
   * the native library"); set it before the first loop. Needs only
   * `--allow-ffi`. Null: look beside the module, in a compiled binary, or in
   * the verified download cache.
   */
  static get libraryPath(): string | null {
    return libraryPath();
  }
  static set libraryPath(path: string | null) {
    setLibraryPath(path);
  }

  /** The loop every constructor uses when none is given; created on first use. */
  static get default(): EventLoop {
    if (!defaultLoop || defaultLoop.closed) defaultLoop = new EventLoop();
    return defaultLoop;
  }

  /** The backend in use: "iocp" on Windows, "epoll" on Linux. */
  readonly backend: "iocp" | "epoll";

  #core: LoopCore;
  // The "error" listeners, by listener and capture flag, so that errors go
  // to the global handler exactly when nobody listens: EventTarget removes
  // `once` and signal-bound listeners by itself and ignores duplicates, so
  // counting add/remove calls would lose errors.
  #errorListeners = new Map<EventListenerOrEventListenerObject, Map<boolean, EventListener>>();
  #errorListenerCount = 0;

  /** Creates a loop. Most code uses `EventLoop.default`. */
  constructor(options?: EventLoopOptions) {
    super();
    const o = checkOptions<EventLoopOptions>(options);
    const spin = checkInt(o.spinMicroseconds, "options.spinMicroseconds", 0, MAX_SPIN_US);
    this.#core = new LoopCore(spin, (error) => this.#reportError(error), () => {
      if (defaultLoop === this) defaultLoop = null;
    });
    this.backend = this.#core.backend;
  }

  /** The busy-poll budget in microseconds (0: off); see `EventLoopOptions`. */
  get spinMicroseconds(): number {
    return this.#core.spinUs;
  }

  /** Counters: waits, polls, events, spins, and open native handles. */
  stats(): LoopStats {
    return this.#core.stats();
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** Closes every object on the loop without callbacks and frees the loop. */
  close(): Promise<void> {
    return this.#core.close();
  }

  // An error no object could take: an "error" event on the loop, or, when
  // nobody listens, the global error handler (like an uncaught exception).
  #reportError(error: unknown): void {
    const event = new ErrorEvent("error", { error, message: String(error), cancelable: true });
    if (this.#errorListenerCount > 0) this.dispatchEvent(event);
    else reportError(error);
  }

  /** As EventTarget; "error" listeners take errors no object handled. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (type !== "error" || !listener) return super.addEventListener(type, listener, options);
    const capture = typeof options === "boolean" ? options : options?.capture === true;
    const once = typeof options === "object" && options?.once === true;
    const signal = typeof options === "object" ? options?.signal : undefined;
    if (signal?.aborted || this.#errorListeners.get(listener)?.has(capture)) return;
    // Forgets this registration only: the same listener may have been
    // removed and added again since.
    const forget = () => {
      if (this.#errorListeners.get(listener)?.get(capture) === wrapper) this.#forgetErrorListener(listener, capture);
    };
    const wrapper: EventListener = (event) => {
      if (once) forget();
      if (typeof listener === "function") listener.call(this, event);
      else listener.handleEvent(event);
    };
    let byCapture = this.#errorListeners.get(listener);
    if (!byCapture) this.#errorListeners.set(listener, byCapture = new Map());
    byCapture.set(capture, wrapper);
    this.#errorListenerCount++;
    signal?.addEventListener("abort", forget, { once: true });
    super.addEventListener(type, wrapper, options);
  }

  /** As EventTarget. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    if (type !== "error" || !listener) return super.removeEventListener(type, listener, options);
    const capture = typeof options === "boolean" ? options : options?.capture === true;
    // Not one of ours: EventTarget itself removes a signal-bound wrapper
    // through this method when the signal aborts.
    const wrapper = this.#forgetErrorListener(listener, capture);
    super.removeEventListener(type, wrapper ?? listener, options);
  }

  #forgetErrorListener(listener: EventListenerOrEventListenerObject, capture: boolean): EventListener | undefined {
    const byCapture = this.#errorListeners.get(listener);
    const wrapper = byCapture?.get(capture);
    if (!wrapper) return undefined;
    byCapture!.delete(capture);
    if (byCapture!.size === 0) this.#errorListeners.delete(listener);
    this.#errorListenerCount--;
    return wrapper;
  }
}

/** The core of the `loop` argument (default `EventLoop.default`), checked. */
export function loopCore(loop: unknown): LoopCore {
  if (loop === undefined || loop === null) return coreOf(EventLoop.default);
  if (!(loop instanceof EventLoop)) throw new TypeError("loop must be an EventLoop");
  if (loop.closed) throw new TypeError("loop is closed");
  return coreOf(loop);
}

/** The core of a loop, without checks (for the objects built on it and the tests' escape hatch). */
export function coreOfLoop(loop: EventLoop): LoopCore {
  return coreOf(loop);
}

/**
 * EventLoop: one native loop, one pump, dispatch of records to objects by
 * id, and the reference count that decides whether the process may exit.
 *
 * The pump:
 *  1. dispatch synchronously while the shim has work pending;
 *  2. else poll synchronously with a zero timeout (no thread hop);
 *  3. else busy-poll for a bounded, adaptive time (`spinMicroseconds`): a
 *     peer that answers within it is seen without a thread hop;
 *  4. only when that finds nothing, park in the nonblocking wait on a pool
 *     thread, and only while some ref'd object exists.
 * A parked wait keeps Deno alive and cannot be unref'd, so when the last
 * ref'd object goes the pump wakes the wait and stops; objects that are
 * unref'd are then served by a short unref'd timer instead.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { native } from "../ffi/library.ts";
import { RECORD, RecordKind } from "../ffi/records.ts";
import type { Native } from "../ffi/symbols.ts";
import { aioError } from "./errors.ts";
import { checkInt, checkOptions } from "./validate.ts";

/** What the loop delivers records to (TcpConnection, TcpListener, Pipe, ...). */
export interface LoopTarget {
  /** Handles one record; `a`/`b` are offset/length (DATA), length (WRITTEN) or the OS handle halves (ACCEPTED). */
  _record(kind: number, status: number, osError: number, a: number, b: number): void;
  /** Releases the object without callbacks (the loop is closing). */
  dispose(): void;
}

/** Counters of one loop, from `stats()`. */
export interface LoopStats {
  /** Parked (nonblocking) waits started. */
  waits: number;
  /** Synchronous zero-timeout polls. */
  polls: number;
  /** Records delivered to objects. */
  events: number;
  /** Open native handles. */
  handles: number;
  /** Busy-polls started (each bounded by `spinMicroseconds`). */
  spins: number;
  /** Busy-polls that found an event before their time ran out. */
  spinHits: number;
}

/** Options of a loop. */
export interface EventLoopOptions {
  /**
   * How long, in microseconds (0-1000), the pump busy-polls for the next
   * event before it parks in the nonblocking wait; 0 turns busy-polling
   * off. Parking costs a thread hop per wake-up (8-35 µs on Linux, more
   * under Wine), which halves request/response rates; a peer that answers
   * within this time is seen without one, at the price of a core busy
   * meanwhile (and of Deno's own timers and I/O waiting that long). It
   * backs off by itself: after a spin that found nothing, the next 1, 3, 7,
   * ... up to 1023 idle turns park at once (a preempted spin counts as four
   * misses), so an idle or slow peer, or a busy machine, costs almost
   * nothing. Default: 500 on Linux, 1000 on Windows (bench/RESULTS.md).
   */
  spinMicroseconds?: number;
}

// "scheduled": a microtask will start the pump (never run it inside the
// caller's own call, which could run other objects' callbacks re-entrantly).
type PumpState = "idle" | "scheduled" | "running" | "parked";

// Unref'd objects only: how often to look for their events, adaptively.
const UNREF_POLL_MIN_MS = 1;
const UNREF_POLL_MAX_MS = 50;
// While events keep coming the pump runs turn after turn, yielding only to
// microtasks (promise continuations of the callbacks). A timer yield costs
// about a millisecond, so it yields to macrotasks (timers, Deno's own I/O)
// only after this long without one.
const BUSY_MS_BEFORE_YIELD = 1;
// The spin's default by backend, from bench/RESULTS.md.
const DEFAULT_SPIN_US = { epoll: 500, iocp: 1000 } as const;
const MAX_SPIN_US = 1000;
// After a spin that found nothing, 2^k - 1 idle turns park without one.
const MAX_SPIN_BACKOFF = 10;
// A preempted spin counts as this many misses.
const PREEMPTED_BACKOFF = 4;

let defaultLoop: EventLoop | null = null;

/** An event loop over the native backend (IOCP on Windows, epoll on Linux). */
export class EventLoop extends EventTarget {
  /** The loop every constructor uses when none is given; created on first use. */
  static get default(): EventLoop {
    if (!defaultLoop || defaultLoop.#closed) defaultLoop = new EventLoop();
    return defaultLoop;
  }

  /** The backend in use: "iocp" on Windows, "epoll" on Linux. */
  readonly backend: "iocp" | "epoll";

  #n: Native;
  #ptr: Deno.PointerObject;
  #records: Uint32Array;
  #recordsSigned: Int32Array;
  /** The receive arena: DATA records point into it. */
  readonly _arena: Uint8Array;
  #targets = new Map<number, LoopTarget>();
  #unref = new Set<number>();
  #refs = 0;
  #state: PumpState = "idle";
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDelay = UNREF_POLL_MIN_MS;
  #idleWaiters: (() => void)[] = [];
  #stats = { waits: 0, polls: 0, events: 0, spins: 0, spinHits: 0 };
  #spinUs: number;
  #spinFailures = 0;
  #spinSkips = 0;

  /** Creates a loop. Most code uses `EventLoop.default`. */
  constructor(options?: EventLoopOptions) {
    super();
    const o = checkOptions<EventLoopOptions>(options);
    const spin = checkInt(o.spinMicroseconds, "options.spinMicroseconds", 0, MAX_SPIN_US);
    this.#n = native();
    const err = new Int32Array(2);
    const ptr = this.#n.aio_loop_new(err);
    if (ptr === null) throw aioError(err[0], err[1], "EventLoop");
    this.#ptr = ptr;
    this.backend = this.#n.aio_backend() === 2 ? "iocp" : "epoll";
    this.#spinUs = spin ?? DEFAULT_SPIN_US[this.backend];
    const cap = this.#n.aio_loop_record_capacity(ptr);
    const recs = Deno.UnsafePointerView.getArrayBuffer(this.#n.aio_loop_records(ptr)!, cap * RECORD.size);
    this.#records = new Uint32Array(recs);
    this.#recordsSigned = new Int32Array(recs);
    const size = this.#n.aio_loop_arena_size(ptr);
    this._arena = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#n.aio_loop_arena(ptr)!, size));
  }

  /** The busy-poll budget in microseconds (0: off); see `EventLoopOptions`. */
  get spinMicroseconds(): number {
    return this.#spinUs;
  }

  /** Counters: waits, polls, events, spins, and open native handles. */
  stats(): LoopStats {
    return {
      ...this.#stats,
      handles: this.#closed ? 0 : this.#n.aio_loop_handle_count(this.#ptr),
    };
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The native symbols and loop pointer, for the objects built on the loop. */
  get _native(): Native {
    if (this.#closed) throw new TypeError("EventLoop: the loop is closed");
    return this.#n;
  }

  /** The native loop pointer. */
  get _ptr(): Deno.PointerObject {
    if (this.#closed) throw new TypeError("EventLoop: the loop is closed");
    return this.#ptr;
  }

  /** The OS error of the last failed native call on this loop. */
  _osError(): number {
    return this.#n.aio_loop_os_error(this.#ptr);
  }

  /** Registers an object for the records of `id`. */
  _register(id: number, target: LoopTarget, ref = true): void {
    this.#targets.set(id, target);
    if (ref) this.#refs++;
    else this.#unref.add(id);
    this._kick();
  }

  /** Stops delivering records for `id`. */
  _unregister(id: number): void {
    if (!this.#targets.delete(id)) return;
    if (!this.#unref.delete(id)) this.#refs--;
    if (this.#refs === 0) this.#release();
  }

  /** Changes whether `id` keeps the process alive. */
  _setRef(id: number, ref: boolean): void {
    if (!this.#targets.has(id) || this.#unref.has(id) === !ref) return;
    if (ref) {
      this.#unref.delete(id);
      this.#refs++;
      this._kick();
    } else {
      this.#unref.add(id);
      if (--this.#refs === 0) this.#release();
    }
  }

  /**
   * Makes sure work the shim has (or will have) gets dispatched: starts the
   * pump when idle, wakes a parked wait that would not see it otherwise.
   */
  _kick(): void {
    if (this.#closed) return;
    if (this.#state === "idle") {
      if (this.#refs > 0) {
        this.#clearTimer();
        this.#state = "scheduled";
        queueMicrotask(() => {
          if (this.#state === "scheduled") this.#run();
        });
      } else if (this.#targets.size > 0) {
        this.#armTimer(UNREF_POLL_MIN_MS);
      }
    } else if (this.#state === "parked" && this.#n.aio_loop_pending(this.#ptr)) {
      this.#n.aio_loop_wake(this.#ptr);
    }
  }

  /**
   * Resolves once a wait parked for objects that are all gone has returned,
   * so that no FFI call stays pending after the last close. A wait parked
   * for ref'd objects that remain is not waited for.
   */
  _settled(): Promise<void> {
    if (this.#state !== "parked" || this.#refs > 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Closes every object on the loop without callbacks and frees the loop. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const t of [...this.#targets.values()]) {
      try {
        t.dispose();
      } catch {
        // Disposing must go on for the others.
      }
    }
    this.#targets.clear();
    this.#unref.clear();
    this.#refs = 0;
    this.#clearTimer();
    this.#release();
    if (this.#state === "scheduled") this.#state = "idle";
    while (this.#state !== "idle") await new Promise<void>((r) => this.#idleWaiters.push(r));
    this.#closed = true;
    this.#n.aio_loop_free(this.#ptr);
    if (defaultLoop === this) defaultLoop = null;
  }

  // The last ref'd object went: a parked wait must not keep the process up.
  #release(): void {
    if (this.#state === "parked") this.#n.aio_loop_wake(this.#ptr);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #armTimer(delay: number): void {
    if (this.#timer !== undefined) return;
    this.#timerDelay = delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed || this.#state !== "idle") return;
      this.#run();
    }, delay);
    Deno.unrefTimer(this.#timer);
  }

  /** One synchronous turn: dispatch while work is pending; returns records. */
  #turn(): number {
    const n = this.#n, ptr = this.#ptr;
    if (!n.aio_loop_pending(ptr)) {
      this.#stats.polls++;
      const got = n.loop_poll(ptr, 0);
      if (got < 0) throw aioError(got, n.aio_loop_os_error(ptr), "EventLoop poll");
      if (got === 0) return 0;
    }
    let total = 0;
    do {
      const count = n.aio_loop_dispatch(ptr);
      total += count;
      this.#deliver(count);
      if (this.#closed) break;
    } while (n.aio_loop_pending(ptr) && total < 65536);
    return total;
  }

  #deliver(count: number): void {
    const u = this.#records, s = this.#recordsSigned;
    for (let i = 0; i < count; i++) {
      const base = i * 8;
      const id = u[base];
      const kind = s[base + 1];
      const target = this.#targets.get(id);
      if (target === undefined) {
        // Nobody owns this id any more. An accepted socket must not leak.
        if (kind === RecordKind.ACCEPTED) this.#n.aio_os_close(u64(osHandle(u[base + 6], u[base + 7])), 0);
        continue;
      }
      this.#stats.events++;
      const a = kind === RecordKind.ACCEPTED ? u[base + 6] : u[base + 4];
      const b = kind === RecordKind.ACCEPTED ? u[base + 7] : u[base + 5];
      try {
        target._record(kind, s[base + 2], s[base + 3], a, b);
      } catch (error) {
        this._reportError(error);
      }
    }
  }

  async #run(): Promise<void> {
    this.#state = "running";
    let since = Date.now();
    let sawEvents = false;
    // Whether the callbacks' continuations have all had their turn since
    // the last events were delivered.
    let drained = true;
    try {
      while (!this.#closed) {
        const got = this.#turn();
        if (this.#closed) break;
        if (got > 0) {
          sawEvents = true;
          drained = false;
          // Let promise continuations of the callbacks run; every
          // millisecond let Deno's event loop run too (timers, Deno's own
          // I/O). Neither setImmediate (Deno polls its I/O only every ~61
          // turns) nor setTimeout(0) (clamped to 4 ms) does that well; a
          // zero-timeout nonblocking wait does, for one thread hop, and it
          // harvests our own events meanwhile.
          if (Date.now() - since >= BUSY_MS_BEFORE_YIELD) {
            await this.#wait(0);
            since = Date.now();
          } else {
            await null;
          }
          continue;
        }
        if (this.#refs === 0) break;
        if (this.#spinUs > 0) {
          // A spin blocks the thread: first let every continuation the
          // last callbacks started run to its end (`await null` gives each
          // chain one step only; a macrotask boundary drains them all), or
          // a chain of awaits that ends in new work (a connect after a
          // close) would wait behind the spin.
          if (!drained) {
            drained = true;
            await new Promise((r) => setImmediate(r));
            continue;
          }
          if (this.#spin()) continue;
        }
        this.#stats.waits++;
        await this.#wait(-1);
        since = Date.now();
      }
    } catch (error) {
      this._reportError(error);
    } finally {
      this.#state = "idle";
      this.#wakeIdleWaiters();
      if (!this.#closed && this.#targets.size > 0) {
        // Only an error ends the pump while refs remain: retry shortly.
        if (this.#refs > 0) setTimeout(() => this._kick(), 10);
        else {
          this.#armTimer(sawEvents ? UNREF_POLL_MIN_MS : Math.min(this.#timerDelay * 2, UNREF_POLL_MAX_MS));
        }
      }
    }
  }

  // The nonblocking wait on a pool thread: parks (-1) or just lets Deno's
  // event loop turn once (0). "parked" makes close() wait for it to return
  // before it frees the loop.
  async #wait(timeoutMs: number): Promise<void> {
    this.#state = "parked";
    const r = await this.#n.loop_wait(this.#ptr, timeoutMs);
    this.#state = "running";
    this.#wakeIdleWaiters();
    if (r < 0) throw aioError(r, this.#n.aio_loop_os_error(this.#ptr), "EventLoop wait");
  }

  // Busy-polls synchronously for up to the budget (at most 1 ms, so Deno's
  // own timers and I/O are never held up longer); true when it found
  // events. A miss backs off exponentially, so a peer slower than the
  // budget, one that needs this thread to answer, or an idle connection
  // soon costs nothing; a hit resets the back-off.
  #spin(): boolean {
    if (this.#spinSkips > 0) {
      this.#spinSkips--;
      return false;
    }
    this.#stats.spins++;
    const started = performance.now();
    const got = this.#n.aio_loop_spin(this.#ptr, this.#spinUs);
    if (got < 0) throw aioError(got, this.#n.aio_loop_os_error(this.#ptr), "EventLoop spin");
    if (got > 0) {
      this.#stats.spinHits++;
      this.#spinFailures = 0;
      return true;
    }
    // A spin that took far longer than asked was preempted: more runnable
    // threads than cores, where spinning takes the CPU the peer needs to
    // answer. Back off hard.
    const preempted = (performance.now() - started) * 1000 > this.#spinUs * 2 + 100;
    this.#spinMissed(preempted ? PREEMPTED_BACKOFF : 1);
    return false;
  }

  #spinMissed(steps: number): void {
    this.#spinFailures = Math.min(this.#spinFailures + steps, MAX_SPIN_BACKOFF);
    this.#spinSkips = (1 << this.#spinFailures) - 1;
  }

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Reports an error no object could take: an "error" event on the loop,
   * or, when nobody listens, the global error handler (like an uncaught
   * exception).
   */
  _reportError(error: unknown): void {
    const event = new ErrorEvent("error", { error, message: String(error), cancelable: true });
    if (this.#errorListeners > 0) this.dispatchEvent(event);
    else reportError(error);
  }

  #errorListeners = 0;

  /** As EventTarget; "error" listeners take errors no object handled. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (type === "error" && listener) this.#errorListeners++;
    super.addEventListener(type, listener, options);
  }

  /** As EventTarget. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    if (type === "error" && listener && this.#errorListeners > 0) this.#errorListeners--;
    super.removeEventListener(type, listener, options);
  }
}

/** An OS handle from a record's two halves. */
export function osHandle(lo: number, hi: number): number | bigint {
  return hi === 0 ? lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** An OS handle as the FFI's u64 parameters take it. */
export function u64(handle: number | bigint): bigint {
  return typeof handle === "bigint" ? handle : BigInt(handle);
}

/**
 * The loop's inside (docs/DESIGN.md, "The pump"): one native loop, the pump
 * that dispatches its records to objects by id, and the reference count
 * that decides whether the process may exit. `EventLoop` is its public
 * face; objects on the loop hold this core directly.
 *
 * The pump:
 *  1. dispatch synchronously while the shim has work pending;
 *  2. else poll synchronously with a zero timeout (no thread hop);
 *  3. else wait on this thread for a bounded, adaptive time (`spinMicroseconds`:
 *     busy-polling while answers come fast, else asleep in the OS's wait): a
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
import { Backend, OsHandleKind, RECORD, RecordKind, RecordWord } from "../ffi/records.ts";
import type { Native } from "../ffi/symbols.ts";
import { aioError } from "./errors.ts";
import { osHandle, u64 } from "./os_handle.ts";
import { TimerHeap } from "./timers.ts";

/** What the loop delivers records to (the cores of connections, listeners and pipes). */
export interface LoopTarget {
  /** Handles one record; `a`/`b` are offset/length (DATA), length (WRITTEN) or the OS handle halves (ACCEPTED). */
  record(kind: number, status: number, osError: number, a: number, b: number): void;
  /** Releases the object without callbacks (the loop is closing). */
  dispose(): void;
  /** What an accepted OS handle of this target is, for closing one nobody takes. */
  readonly acceptedKind?: number;
}

/**
 * Counters of one loop, from `stats()`.
 *
 * @example Reading a loop's counters
 * ```ts
 * import { EventLoop, type LoopStats } from "@eve/aio";
 *
 * const stats: LoopStats = EventLoop.default.stats();
 * console.log(stats.handles, stats.events, stats.spins);
 * ```
 */
export interface LoopStats {
  /** Parked (nonblocking) waits started. */
  waits: number;
  /** Synchronous zero-timeout polls. */
  polls: number;
  /** Records delivered to objects. */
  events: number;
  /** Open native handles. */
  handles: number;
  /** Spins started: bounded waits on the loop's thread (each at most `spinMicroseconds`). */
  spins: number;
  /** Spins that found an event before their time ran out. */
  spinHits: number;
}

// The pump's own state machine (docs/DESIGN.md, "Pump states"):
//  idle -> scheduled   a ref'd object has work (kick): start on a microtask,
//                      never inside the caller's call, which could run other
//                      objects' callbacks re-entrantly;
//  scheduled -> running the microtask ran;
//  running -> parked   nothing found and the spin gave up: the nonblocking
//                      wait (also for the 1 ms busy yield);
//  parked -> running   the wait returned;
//  running -> idle     no ref'd object left (or an error ended the turn).
type PumpState = "idle" | "scheduled" | "running" | "parked";

// Unref'd objects only: how often to look for their events, adaptively.
const UNREF_POLL_MIN_MS = 1;
const UNREF_POLL_MAX_MS = 50;
// While events keep coming the pump runs turn after turn, yielding only to
// microtasks (promise continuations of the callbacks). A timer yield costs
// about a millisecond, so it yields to macrotasks (timers, Deno's own I/O)
// only after this long without one.
const BUSY_MS_BEFORE_YIELD = 1;
/** The spin's default by backend, from bench/RESULTS.md. */
export const DEFAULT_SPIN_US = { epoll: 500, iocp: 1000 } as const;
/** The longest spin: Deno's timers and I/O must not wait longer. */
export const MAX_SPIN_US = 1000;
// After a spin that found nothing, 2^k - 1 idle turns park without one.
const MAX_SPIN_BACKOFF = 10;
// A preempted spin counts as this many misses.
const PREEMPTED_BACKOFF = 4;
// A spin busy-polls only while its answers have been coming within this
// many microseconds (a peer running on another core); later answers are
// waited for asleep in the OS's wait (docs/DESIGN.md, "The pump").
const BUSY_LATENCY_MAX_US = 50;
// The weight of a new answer time in the spin's moving average.
const LATENCY_WEIGHT = 1 / 8;
// Record fields as indexes into the 32-bit view of the records.
const W = RecordWord;

/** The inside of an EventLoop. */
export class LoopCore {
  /** The backend in use. */
  readonly backend: "iocp" | "epoll";
  /** The receive arena: DATA records point into it. */
  readonly arena: Uint8Array;
  /** The spin's budget in microseconds (0: off). */
  readonly spinUs: number;
  /**
   * The loop's one timer structure: every idle timeout and user timer of
   * its connections, driven by one unref'd JS timer (docs/DESIGN.md, "Timers").
   */
  readonly timers: TimerHeap = new TimerHeap((error) => this.reportError(error));

  #n: Native;
  #ptr: Deno.PointerObject;
  #records: Uint32Array;
  #recordsSigned: Int32Array;
  #targets = new Map<number, LoopTarget>();
  // Targets that left during the current delivery batch: a record for them
  // later in the same batch (an ACCEPTED after onConnection closed the
  // listener) still needs to know what kind of handle it carries.
  #departed = new Map<number, LoopTarget>();
  #unref = new Set<number>();
  #refs = 0;
  #state: PumpState = "idle";
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDelay = UNREF_POLL_MIN_MS;
  #idleWaiters: (() => void)[] = [];
  #stats = { waits: 0, polls: 0, events: 0, spins: 0, spinHits: 0 };
  #spinFailures = 0;
  #spinSkips = 0;
  // How long the spins' answers have been taking (µs, a moving average).
  #spinLatency = 0;
  // The wait in flight is a zero-timeout yield: it returns at once by
  // itself, so waking it would only cost a write and a read of the wake-up.
  #yielding = false;
  #report: (error: unknown) => void;
  #onClosed: () => void;

  /**
   * Opens a native loop. `report` takes errors no object could take;
   * `onClosed` runs once the loop is freed.
   */
  constructor(spinUs: number | undefined, report: (error: unknown) => void, onClosed: () => void) {
    this.#n = native();
    this.#report = report;
    this.#onClosed = onClosed;
    const err = new Int32Array(2);
    const ptr = this.#n.aio_loop_new(err);
    if (ptr === null) throw aioError(err[0], err[1], "EventLoop");
    this.#ptr = ptr;
    this.backend = this.#n.aio_backend() === Backend.IOCP ? "iocp" : "epoll";
    this.spinUs = spinUs ?? DEFAULT_SPIN_US[this.backend];
    const cap = this.#n.aio_loop_record_capacity(ptr);
    const recs = Deno.UnsafePointerView.getArrayBuffer(this.#n.aio_loop_records(ptr)!, cap * RECORD.size);
    this.#records = new Uint32Array(recs);
    this.#recordsSigned = new Int32Array(recs);
    const size = this.#n.aio_loop_arena_size(ptr);
    this.arena = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#n.aio_loop_arena(ptr)!, size));
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The native symbols. */
  get native(): Native {
    if (this.#closed) throw new TypeError("EventLoop: the loop is closed");
    return this.#n;
  }

  /** The native loop pointer. */
  get ptr(): Deno.PointerObject {
    if (this.#closed) throw new TypeError("EventLoop: the loop is closed");
    return this.#ptr;
  }

  /** The OS error of the last failed native call on this loop. */
  osError(): number {
    return this.#n.aio_loop_os_error(this.#ptr);
  }

  /** Counters: waits, polls, events, spins, and open native handles. */
  stats(): LoopStats {
    return {
      ...this.#stats,
      handles: this.#closed ? 0 : this.#n.aio_loop_handle_count(this.#ptr),
    };
  }

  /** Reports an error no object could take (the loop's "error" event). */
  reportError(error: unknown): void {
    this.#report(error);
  }

  /** Registers an object for the records of `id`. */
  register(id: number, target: LoopTarget, ref = true): void {
    if (this.#targets.has(id)) {
      // A new owner for a registered id (a connect attempt hands its
      // socket to the connection): the records go to it from now on, and
      // the reference carries over, so the count never touches zero in
      // between (which would stop the pump for nothing).
      this.#targets.set(id, target);
      this.setRef(id, ref);
      return;
    }
    this.#targets.set(id, target);
    if (ref) this.#refs++;
    else this.#unref.add(id);
    this.kick();
  }

  /** Stops delivering records for `id`. */
  unregister(id: number): void {
    const target = this.#targets.get(id);
    if (target === undefined) return;
    this.#targets.delete(id);
    this.#departed.set(id, target);
    if (!this.#unref.delete(id)) this.#refs--;
    if (this.#refs === 0) this.#release();
  }

  /** Changes whether `id` keeps the process alive. */
  setRef(id: number, ref: boolean): void {
    if (!this.#targets.has(id) || this.#unref.has(id) === !ref) return;
    if (ref) {
      this.#unref.delete(id);
      this.#refs++;
      this.kick();
    } else {
      this.#unref.add(id);
      if (--this.#refs === 0) this.#release();
    }
  }

  /**
   * Makes sure work the shim has (or will have) gets dispatched: starts the
   * pump when idle, wakes a parked wait that would not see it otherwise.
   */
  kick(): void {
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
    } else if (this.#state === "parked" && !this.#yielding && this.#n.aio_loop_pending(this.#ptr)) {
      this.#n.aio_loop_wake(this.#ptr);
    }
  }

  /**
   * Resolves once a wait parked for objects that are all gone has returned,
   * so that no FFI call stays pending after the last close. A wait parked
   * for ref'd objects that remain is not waited for.
   */
  settled(): Promise<void> {
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
    this.timers.close();
    this.#release();
    if (this.#state === "scheduled") this.#state = "idle";
    while (this.#state !== "idle") await new Promise<void>((r) => this.#idleWaiters.push(r));
    this.#closed = true;
    this.#n.aio_loop_free(this.#ptr);
    this.#onClosed();
  }

  // The last ref'd object went: a parked wait must not keep the process up.
  #release(): void {
    if (this.#state === "parked" && !this.#yielding) this.#n.aio_loop_wake(this.#ptr);
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
    try {
      for (let i = 0; i < count; i++) {
        const base = i * W.count;
        const id = u[base + W.id];
        const kind = s[base + W.kind];
        const target = this.#targets.get(id);
        if (target === undefined) {
          this.#orphan(id, kind, u[base + W.handleLo], u[base + W.handleHi]);
          continue;
        }
        this.#stats.events++;
        const accepted = kind === RecordKind.ACCEPTED;
        const a = accepted ? u[base + W.handleLo] : u[base + W.offset];
        const b = accepted ? u[base + W.handleHi] : u[base + W.length];
        try {
          target.record(kind, s[base + W.status], s[base + W.osError], a, b);
        } catch (error) {
          this.reportError(error);
        }
      }
    } finally {
      this.#departed.clear();
    }
  }

  // A record for an id nobody owns any more. An accepted handle must not
  // leak: close it as what its listener accepts (a pipe HANDLE on Windows
  // is not a socket).
  #orphan(id: number, kind: number, lo: number, hi: number): void {
    if (kind !== RecordKind.ACCEPTED) return;
    const as = this.#departed.get(id)?.acceptedKind ?? OsHandleKind.SOCKET;
    this.#n.aio_os_close(u64(osHandle(lo, hi)), as);
  }

  async #run(): Promise<void> {
    this.#state = "running";
    // performance.now(), not Date.now(): whole milliseconds would yield
    // after anything from a few microseconds to a millisecond of work.
    let since = performance.now();
    let sawEvents = false;
    // Whether the callbacks' continuations have all had their turn since
    // the last events were delivered. Not at the start: the code that
    // kicked the pump may still be on its way (a connection set up in a
    // chain of awaits, its onData not set yet), and a spin now would hold
    // it up.
    let drained = false;
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
          if (performance.now() - since >= BUSY_MS_BEFORE_YIELD) {
            await this.#wait(0);
            since = performance.now();
          } else {
            await null;
          }
          // Those events closed the last ref'd object: stop without another
          // poll (a connection closed, the next one not made yet); whatever
          // comes next kicks the pump again, and unref'd objects get the
          // timer below.
          if (this.#refs === 0) break;
          continue;
        }
        if (this.#refs === 0) break;
        if (this.spinUs > 0) {
          // A spin blocks the thread: first let every continuation the
          // last callbacks started run to its end (`await null` gives each
          // chain one step only; a macrotask boundary drains them all), or
          // a chain of awaits that ends in new work (a connect after a
          // close) would wait behind the spin.
          if (!drained) {
            drained = true;
            await new Promise((r) => setImmediate(r));
            // Work the continuations left in the shim is dispatched first;
            // a spin skipped by the back-off needs the poll of a turn. Else
            // the spin at once: its first poll is the one a turn would
            // make (a system call less per message).
            if (this.#closed || this.#refs === 0 || this.#spinSkips > 0 || this.#n.aio_loop_pending(this.#ptr)) {
              continue;
            }
          }
          if (this.#spin()) continue;
        }
        this.#stats.waits++;
        await this.#wait(-1);
        since = performance.now();
      }
    } catch (error) {
      this.reportError(error);
    } finally {
      this.#state = "idle";
      this.#wakeIdleWaiters();
      if (!this.#closed && this.#targets.size > 0) {
        // Only an error ends the pump while refs remain: retry shortly.
        if (this.#refs > 0) setTimeout(() => this.kick(), 10);
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
    this.#yielding = timeoutMs === 0;
    const r = await this.#n.loop_wait(this.#ptr, timeoutMs);
    this.#state = "running";
    this.#yielding = false;
    this.#wakeIdleWaiters();
    if (r < 0) throw aioError(r, this.#n.aio_loop_os_error(this.#ptr), "EventLoop wait");
  }

  // Waits synchronously on this thread for up to the budget (at most 1 ms,
  // so Deno's own timers and I/O are never held up longer); true when it
  // found events. While the answers have been coming within tens of
  // microseconds it busy-polls for twice that (no wake-up at all);
  // otherwise the shim sleeps in the OS's wait after one poll, where the
  // OS can (Linux), so that a busy machine's CPU goes to the peer that has
  // to answer. A miss backs off exponentially, so a peer slower than the
  // budget, one that needs this thread to answer, or an idle connection
  // soon costs nothing; a hit resets the back-off.
  #spin(): boolean {
    if (this.#spinSkips > 0) {
      this.#spinSkips--;
      return false;
    }
    this.#stats.spins++;
    const latency = this.#spinLatency;
    const busy = latency <= BUSY_LATENCY_MAX_US ? Math.min(this.spinUs, Math.ceil(latency * 2) + 10) : 0;
    const started = performance.now();
    const got = this.#n.aio_loop_spin(this.#ptr, busy, this.spinUs);
    if (got < 0) throw aioError(got, this.#n.aio_loop_os_error(this.#ptr), "EventLoop spin");
    if (got > 0) {
      this.#stats.spinHits++;
      this.#spinFailures = 0;
      this.#spinLatency = latency + ((performance.now() - started) * 1000 - latency) * LATENCY_WEIGHT;
      return true;
    }
    // A spin that took far longer than asked was preempted: more runnable
    // threads than cores, where spinning takes the CPU the peer needs to
    // answer. Back off hard.
    const preempted = (performance.now() - started) * 1000 > this.spinUs * 2 + 100;
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
}

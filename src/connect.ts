/**
 * One connect attempt's cancellation, shared by TCP and pipes: an
 * AbortSignal, a timeout and close() all end it, each with its own close
 * reason and error, and whatever it waits for is settled by that.
 *
 * Connecting is on the path of every short-lived connection, so an attempt
 * allocates only what it uses: a timer entry only with a timeout, a
 * listener only with a signal, and one promise per wait. The timeout is an
 * entry in the loop's timer heap, not a JS timer: a setTimeout and its
 * clearTimeout per connect cost more CPU than the rest of the attempt
 * (docs/DESIGN.md, "Timers").
 *
 * @module
 */
import { timedOut } from "./errors.ts";
import type { CloseReason } from "./stream.ts";
import { TimerEntry, type TimerHeap } from "./timers.ts";

/** The cancellation of one connect attempt. */
export class ConnectAttempt {
  /** The close reason if the attempt fails now: "error" until a cancellation says otherwise. */
  reason: CloseReason = "error";
  // Set once cancelled: what every wait, current or later, rejects with.
  #error: { value: unknown } | null = null;
  #reject: ((error: unknown) => void) | null = null;
  #signal: AbortSignal | undefined;
  #timers: TimerHeap;
  #entry: TimerEntry | null = null;
  #onAbort: (() => void) | undefined;

  /**
   * Starts the clock: `timeoutMs` ends the attempt with TimedOut (reason
   * "timeout"), `signal` with its reason (reason "aborted"). Throws at once
   * when `signal` has aborted already. `timers` is the loop's heap.
   */
  constructor(what: string, signal: AbortSignal | undefined, timeoutMs: number | undefined, timers: TimerHeap) {
    this.#timers = timers;
    if (signal?.aborted) {
      this.reason = "aborted";
      throw signal.reason;
    }
    if (signal) {
      this.#signal = signal;
      this.#onAbort = () => this.abort(signal.reason);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (timeoutMs !== undefined) {
      this.#entry = new TimerEntry(() => this.#cancel("timeout", timedOut(what, timeoutMs)));
      timers.add(this.#entry, performance.now() + timeoutMs);
    }
  }

  /** Ends the attempt with `error` (reason "aborted"): an abort, or close() while connecting. */
  abort(error: unknown): void {
    this.#cancel("aborted", error);
  }

  #cancel(reason: CloseReason, error: unknown): void {
    if (this.#error) return;
    this.reason = reason;
    this.#error = { value: error };
    const reject = this.#reject;
    this.#reject = null;
    reject?.(error);
  }

  /**
   * A promise that `start` settles (through the resolve it is given), or
   * that the attempt rejects when it is cancelled first.
   */
  wait<T>(start: (resolve: (value: T) => void) => void): Promise<T> {
    if (this.#error) return Promise.reject(this.#error.value);
    return new Promise<T>((resolve, reject) => {
      this.#reject = reject;
      start((value) => {
        this.#reject = null;
        resolve(value);
      });
    });
  }

  /**
   * Throws the cancellation, if the attempt was cancelled: a wait that
   * settled just before it (in the same turn) must not go on as if not.
   */
  throwIfCancelled(): void {
    if (this.#error) throw this.#error.value;
  }

  /** `promise`, unless the attempt is cancelled first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return this.wait((resolve) => promise.then(resolve, (error) => this.#fail(error)));
  }

  // A failure of what a wait waited for: rejects that wait only.
  #fail(error: unknown): void {
    const reject = this.#reject;
    this.#reject = null;
    reject?.(error);
  }

  /** Waits `ms` unless the attempt is cancelled first (then the timer is gone too). */
  async sleep(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await this.wait<void>((resolve) => (timer = setTimeout(resolve, ms)));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the clock; call once the attempt is over, either way. */
  done(): void {
    if (this.#entry) this.#timers.cancel(this.#entry);
    if (this.#onAbort) this.#signal!.removeEventListener("abort", this.#onAbort);
  }
}

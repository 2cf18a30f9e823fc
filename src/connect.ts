/**
 * One connect attempt's cancellation, shared by TCP and pipes: an
 * AbortSignal, a timeout and close() all end it, each with its own close
 * reason and error, and whatever it awaits is raced against that.
 *
 * @module
 */
import { timedOut } from "./errors.ts";
import type { CloseReason } from "./stream.ts";

/** The cancellation of one connect attempt. */
export class ConnectAttempt {
  /** The close reason if the attempt fails now: "error" until a cancellation says otherwise. */
  reason: CloseReason = "error";
  #cancelled: Promise<never>;
  #cancel!: (error: unknown) => void;
  #signal: AbortSignal | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onAbort = () => this.abort(this.#signal!.reason);

  /**
   * Starts the clock: `timeoutMs` ends the attempt with TimedOut (reason
   * "timeout"), `signal` with its reason (reason "aborted"). Throws at once
   * when `signal` has aborted already.
   */
  constructor(what: string, signal: AbortSignal | undefined, timeoutMs: number | undefined) {
    this.#cancelled = new Promise<never>((_, reject) => (this.#cancel = reject));
    this.#cancelled.catch(() => {});
    this.#signal = signal;
    if (signal?.aborted) {
      this.reason = "aborted";
      throw signal.reason;
    }
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.reason = "timeout";
        this.#cancel(timedOut(what, timeoutMs));
      }, timeoutMs);
    }
  }

  /** Ends the attempt with `error` (reason "aborted"): an abort, or close() while connecting. */
  abort(error: unknown): void {
    this.reason = "aborted";
    this.#cancel(error);
  }

  /** `promise`, unless the attempt is cancelled first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.#cancelled]);
  }

  /** Waits `ms` unless the attempt is cancelled first (then the timer is gone too). */
  async sleep(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await this.race(new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the clock; call once the attempt is over, either way. */
  done(): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

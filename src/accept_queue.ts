/**
 * The queue between a listener and `accept()` / async iteration: accepted
 * objects wait here (bounded); accept() calls wait for them.
 *
 * @module
 */

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
  cleanup(): void;
}

/** A bounded FIFO of accepted objects with waiting consumers. */
export class AcceptQueue<T extends { dispose(): void }> {
  #items: T[] = [];
  #waiters: Waiter<T>[] = [];
  #closedError: (() => Error) | null = null;
  #limit: number;

  /** `limit`: how many accepted objects may wait before `full` is true. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whether the queue holds its limit (the listener should stop accepting). */
  get full(): boolean {
    return this.#items.length >= this.#limit;
  }

  /** Hands an accepted object to a waiting consumer, or keeps it. */
  push(item: T): void {
    const w = this.#waiters.shift();
    if (w) {
      w.cleanup();
      w.resolve(item);
    } else {
      this.#items.push(item);
    }
  }

  /** The next accepted object; rejects on abort or when the listener closes. */
  take(signal: AbortSignal | undefined): Promise<T> {
    if (this.#items.length) return Promise.resolve(this.#items.shift()!);
    if (this.#closedError) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(signal!.reason);
      };
      const w: Waiter<T> = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  /** Takes the oldest waiting object, if any. */
  shift(): T | undefined {
    return this.#items.shift();
  }

  /** Whether a consumer is waiting. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** Rejects waiting consumers and disposes of what was never taken. */
  close(error: () => Error): void {
    this.#closedError = error;
    for (const w of this.#waiters) {
      w.cleanup();
      w.reject(error());
    }
    this.#waiters = [];
    for (const item of this.#items) item.dispose();
    this.#items = [];
  }
}

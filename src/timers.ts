/**
 * The loop's one timer structure (docs/DESIGN.md, "Timers"): a binary
 * min-heap of deadlines driven by ONE unref'd JS timer, set for the
 * earliest deadline. Ten thousand connections with idle timeouts are ten
 * thousand heap entries and one JS timer, not ten thousand JS timers.
 *
 * Unref'd: a timer never keeps the process alive by itself (docs/DESIGN.md,
 * "Timers"). An idle timeout does not move its entry on every
 * byte: the connection notes the time of its last activity, and when the
 * entry comes due it re-inserts itself at that time + the timeout if there
 * was activity meanwhile (lazy re-arming).
 *
 * @module
 */

/** One deadline in the heap; owned by whoever added it. */
export class TimerEntry {
  /** When it is due (performance.now() milliseconds). */
  deadline = 0;
  /** Its place in the heap, or -1 when it is not in it. */
  index = -1;
  /** What runs when it is due (after it left the heap). */
  readonly fire: () => void;

  /** An entry that runs `fire` when due. */
  constructor(fire: () => void) {
    this.fire = fire;
  }

  /** Whether the entry is in the heap. */
  get armed(): boolean {
    return this.index >= 0;
  }
}

// A JS timer may run up to about a millisecond early by our clock
// (setTimeout counts whole milliseconds): entries this close are due.
const SLACK_MS = 1;

/** A min-heap of deadlines and the one JS timer that drives it. */
export class TimerHeap {
  #heap: TimerEntry[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  // The deadline the JS timer was set for (Infinity: none is set).
  #timerAt = Infinity;
  #report: (error: unknown) => void;
  #closed = false;
  /** JS timers started so far (for tests: one at a time, however many entries). */
  jsTimersStarted = 0;

  /** `report` takes what a firing entry throws. */
  constructor(report: (error: unknown) => void) {
    this.#report = report;
  }

  /** Entries in the heap. */
  get size(): number {
    return this.#heap.length;
  }

  /** JS timers pending now: 0 or 1. */
  get jsTimers(): number {
    return this.#timer === undefined ? 0 : 1;
  }

  /** (Re)arms `e` for `deadline`; an entry in the heap moves. */
  add(e: TimerEntry, deadline: number): void {
    if (this.#closed) return;
    if (e.index >= 0) this.#remove(e);
    e.deadline = deadline;
    e.index = this.#heap.length;
    this.#heap.push(e);
    this.#up(e.index);
    this.#arm();
  }

  /** Takes `e` out of the heap (nothing when it is not in it). */
  cancel(e: TimerEntry): void {
    if (e.index < 0) return;
    this.#remove(e);
    // The JS timer stays, even with the heap empty: when it fires it finds
    // nothing due and re-arms for the first entry, if any. Clearing it here
    // would cost a clearTimeout and, for the next entry, a setTimeout: per
    // connection when each connect has a timeout. Unref'd, it keeps
    // nothing alive.
  }

  /** Drops every entry and the JS timer (the loop closed). */
  close(): void {
    this.#closed = true;
    for (const e of this.#heap) e.index = -1;
    this.#heap = [];
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  // The JS timer covers the first deadline: set anew only when the first
  // entry is due earlier than the timer (a later one is found when it fires).
  #arm(): void {
    const first = this.#heap[0];
    if (!first || first.deadline >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = first.deadline;
    this.jsTimersStarted++;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, Math.ceil(first.deadline - performance.now())));
    Deno.unrefTimer(this.#timer);
  }

  #run(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now() + SLACK_MS;
    // An entry that re-arms itself for now or earlier waits for the next
    // run, so one entry cannot keep this loop going.
    const due: TimerEntry[] = [];
    while (this.#heap.length && this.#heap[0].deadline <= now) {
      const e = this.#heap[0];
      this.#remove(e);
      due.push(e);
    }
    for (const e of due) {
      try {
        e.fire();
      } catch (error) {
        this.#report(error);
      }
    }
    this.#arm();
  }

  #remove(e: TimerEntry): void {
    const h = this.#heap;
    const i = e.index;
    const last = h.pop()!;
    e.index = -1;
    if (last === e) return;
    h[i] = last;
    last.index = i;
    this.#down(i);
    this.#up(last.index);
  }

  #up(i: number): void {
    const h = this.#heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].deadline <= e.deadline) break;
      h[i] = h[p];
      h[i].index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const e = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1].deadline < h[c].deadline) c++;
      if (h[c].deadline >= e.deadline) break;
      h[i] = h[c];
      h[i].index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}

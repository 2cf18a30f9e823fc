/**
 * ShutdownCoordinator: graceful drain of tracked listeners, connections and
 * pipes (the seed's track / initiateShutdown / performDrain / forceAbort).
 *
 * @module
 */
import { closeReasonOf } from "./cores.ts";

/**
 * What a coordinator can track: a listener (stopped at once) or a stream (drained).
 *
 * @example Anything with `isOpen` and `close()` can be tracked
 * ```ts
 * import { ShutdownCoordinator, type Trackable } from "@eve/aio";
 *
 * let open = true;
 * const job: Trackable = { get isOpen() { return open; }, close() { open = false; } };
 * const coordinator = new ShutdownCoordinator();
 * coordinator.track(job);
 * await coordinator.shutdown();
 * console.log(open); // false
 * ```
 */
export interface Trackable {
  /** Whether the object is still open. */
  readonly isOpen: boolean;
  /** Stops a listener, or closes a stream gracefully. */
  close(): void | Promise<void>;
}

interface Stream extends Trackable {
  close(): Promise<void>;
  abort(): void;
}

function isStream(r: Trackable): r is Stream {
  return typeof (r as Stream).abort === "function";
}

/**
 * Coordinates the graceful shutdown of a server's listeners and connections.
 *
 * @example Draining a server
 * ```ts
 * import { ShutdownCoordinator, TcpConnection, TcpListener } from "@eve/aio";
 *
 * const coordinator = new ShutdownCoordinator();
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * listener.track(coordinator);
 * listener.onConnection = (_l, conn) => conn.track(coordinator);
 * const client = await TcpConnection.connect("127.0.0.1", listener.localPort);
 * while (coordinator.size < 2) await new Promise((r) => setTimeout(r, 5)); // the server side is tracked
 * const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(1000) });
 * console.log(drained, aborted); // 1 0
 * client.abort();
 * ```
 */
export class ShutdownCoordinator {
  #tracked = new Set<Trackable>();
  #shuttingDown = false;

  /** Tracks an open resource; false when it is closed already or shutdown has begun. */
  track(resource: Trackable): boolean {
    if (!resource || typeof resource.close !== "function") {
      throw new TypeError("resource must be a listener, connection or pipe");
    }
    if (!resource.isOpen || this.#shuttingDown) return false;
    this.#tracked.add(resource);
    return true;
  }

  /** Tracked resources still open. */
  get size(): number {
    let n = 0;
    for (const r of this.#tracked) {
      if (r.isOpen) n++;
      else this.#tracked.delete(r);
    }
    return n;
  }

  /**
   * Stops every tracked listener at once, lets tracked connections flush
   * and close gracefully, and aborts whatever is still open when `signal`
   * fires. Resolves with how many closed gracefully and how many were aborted.
   */
  async shutdown(options?: { signal?: AbortSignal }): Promise<{ drained: number; aborted: number }> {
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError("options.signal must be an AbortSignal");
    }
    this.#shuttingDown = true;
    const streams: Stream[] = [];
    for (const r of this.#tracked) {
      if (!r.isOpen) continue;
      if (isStream(r)) streams.push(r);
      else r.close();
    }
    this.#tracked.clear();
    let drained = 0, aborted = 0;
    const forced = new Set<Stream>();
    const forceAll = () => {
      for (const s of streams) {
        if (s.isOpen) {
          forced.add(s);
          s.abort();
        }
      }
    };
    if (signal?.aborted) forceAll();
    else signal?.addEventListener("abort", forceAll, { once: true });
    try {
      await Promise.all(streams.map(async (s) => {
        await s.close();
        // Graceful means flushed and closed by us or by the peer; a reset
        // or an error is neither drained nor aborted by the coordinator.
        if (forced.has(s)) aborted++;
        else if (gracefully(s)) drained++;
      }));
    } finally {
      signal?.removeEventListener("abort", forceAll);
      this.#shuttingDown = false;
    }
    return { drained, aborted };
  }
}

// Whether a stream closed gracefully (its close reason is "local" or "peer").
function gracefully(stream: Stream): boolean {
  const reason = closeReasonOf(stream);
  return reason === "local" || reason === "peer";
}

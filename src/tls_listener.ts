/**
 * TlsListener: a TcpListener whose connections come out as TlsConnections
 * once their handshake is done. A connection whose handshake fails never
 * comes out: it is closed, and the failure goes to `onError`.
 *
 * @module
 */
import { AcceptQueue } from "./accept_queue.ts";
import type { NetAddress } from "./address.ts";
import { aioError, Code } from "./errors.ts";
import type { ShutdownCoordinator } from "./shutdown.ts";
import { type ListenOptions, TcpListener } from "./tcp_listener.ts";
import type { TlsConnection } from "./tls_connection.ts";
import { acceptTls } from "./tls_handshake.ts";
import { serverPlan, type TlsServerOptions } from "./tls_options.ts";
import { checkOptions, checkSignal } from "./validate.ts";

// Finished handshakes waiting for accept() before the listener stops taking more.
const QUEUE_LIMIT = 511;

let make: (tcp: TcpListener, options: TlsServerOptions) => TlsListener;

/**
 * Listens on host:port; each accepted connection runs the TLS handshake as
 * the server with `options` (`timeoutMs` bounds each handshake; `signal`
 * cancels the listen call).
 *
 * @example A TLS echo server
 * ```ts ignore
 * import { listenTls } from "@eve/aio";
 *
 * const [cert, key] = ["server.pem", "server.key"].map((f) => Deno.readTextFileSync(f));
 * const listener = await listenTls("127.0.0.1", 8443, { cert, key });
 * for await (const conn of listener) conn.onData = (c, data) => c.send(data);
 * ```
 */
export function listenTls(
  host: string,
  port: number,
  options: ListenOptions & TlsServerOptions,
): Promise<TlsListener> {
  const o = checkOptions<ListenOptions & TlsServerOptions>(options);
  serverPlan(o);
  const { cert, key, caCerts, requestCert, alpnProtocols, timeoutMs } = o as TlsServerOptions;
  return TcpListener.listen(host, port, o).then((tcp) =>
    make(tcp, { cert, key, caCerts, requestCert, alpnProtocols, timeoutMs })
  );
}

/**
 * A TLS listener: as TcpListener (onConnection, accept, async iteration,
 * localPort, close, track, ...), with connections that have finished their
 * handshake.
 *
 * @example Accepting one TLS connection
 * ```ts ignore
 * import { listenTls } from "@eve/aio";
 *
 * const [cert, key] = ["server.pem", "server.key"].map((f) => Deno.readTextFileSync(f));
 * const listener = await listenTls("127.0.0.1", 0, { cert, key });
 * listener.onError = (_l, error) => console.error("handshake failed:", error.message);
 * const conn = await listener.accept();
 * console.log(conn.tlsVersion);
 * ```
 */
export class TlsListener {
  static {
    make = (tcp, options) => new TlsListener(tcp, options);
  }

  /** A connection's handshake failed (the connection is closed already). */
  onError: ((listener: TlsListener, error: Error) => void) | null = null;

  readonly #tcp: TcpListener;
  readonly #options: TlsServerOptions;
  readonly #queue = new AcceptQueue<TlsConnection>(QUEUE_LIMIT);
  #onConnection: ((listener: TlsListener, conn: TlsConnection) => void) | null = null;
  #disposed = false;

  private constructor(tcp: TcpListener, options: TlsServerOptions) {
    this.#tcp = tcp;
    this.#options = options;
    tcp.onConnection = (_l, conn) => {
      acceptTls(conn, this.#options).then((secure) => this.#ready(secure), (error) => this.#failed(error));
    };
  }

  /** Receives every connection once its handshake is done (also those waiting for accept()). */
  get onConnection(): ((listener: TlsListener, conn: TlsConnection) => void) | null {
    return this.#onConnection;
  }
  set onConnection(fn: ((listener: TlsListener, conn: TlsConnection) => void) | null) {
    if (fn !== null && typeof fn !== "function") {
      throw new TypeError("TlsListener.onConnection must be a function or null");
    }
    this.#onConnection = fn;
    for (let c = fn ? this.#queue.shift() : undefined; c && this.#onConnection; c = this.#queue.shift()) {
      this.#deliver(c);
    }
  }

  /** Whether the listener owns an open socket. */
  get isOpen(): boolean {
    return this.#tcp.isOpen;
  }

  /** The effective port (port 0 picks one). */
  get localPort(): number {
    return this.#tcp.localPort;
  }

  /** The bound address. */
  get localAddress(): NetAddress | null {
    return this.#tcp.localAddress;
  }

  /** The TCP listener underneath. */
  get tcp(): TcpListener {
    return this.#tcp;
  }

  /** The next connection with its handshake done; rejects when `signal` aborts or the listener closes. */
  accept(options?: { signal?: AbortSignal }): Promise<TlsConnection> {
    this.#live();
    const o = checkOptions<{ signal?: AbortSignal }>(options);
    return this.#queue.take(checkSignal(o.signal));
  }

  /** Yields connections until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<TlsConnection> {
    while (this.isOpen) {
      try {
        yield await this.accept();
      } catch (error) {
        if (!this.isOpen) return;
        throw error;
      }
    }
  }

  /** Stops listening; connections that finished their handshake but were never accepted are closed. */
  close(): void {
    if (this.#disposed) return;
    this.#tcp.close();
    this.#queue.close(() => aioError(Code.EBADID, 0, "TlsListener.accept: the listener is closed"));
  }

  /** Releases the listener without callbacks. */
  dispose(): void {
    if (this.#disposed) return;
    this.close();
    this.#disposed = true;
    this.#tcp.dispose();
  }

  /** Tracks this listener for graceful shutdown (stopped at once when it begins). */
  track(coordinator: ShutdownCoordinator): boolean {
    this.#live();
    return coordinator.track(this);
  }

  /** Keeps the process alive while the listener is open (the default). */
  ref(): void {
    this.#live();
    this.#tcp.ref();
  }

  /** Lets the process exit while the listener is open. */
  unref(): void {
    this.#live();
    this.#tcp.unref();
  }

  /** Closes the listener; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.#tcp[Symbol.asyncDispose]();
  }

  #live(): void {
    if (this.#disposed) throw new TypeError("TlsListener: the object has been disposed");
  }

  #ready(conn: TlsConnection): void {
    if (!this.#tcp.isOpen) {
      conn.abort();
      return;
    }
    if (this.#onConnection) this.#deliver(conn);
    else this.#queue.push(conn);
  }

  #deliver(conn: TlsConnection): void {
    try {
      this.#onConnection?.(this, conn);
    } catch (error) {
      conn.abort();
      this.#failed(error);
    }
  }

  #failed(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    const onError = this.onError;
    if (!onError) return;
    try {
      onError(this, err);
    } catch {
      // A throwing onError has nowhere further to go.
    }
  }
}

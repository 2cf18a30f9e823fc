/**
 * @eve/aio: async TCP and pipe primitives for Deno over a small C shim —
 * I/O completion ports on Windows, epoll on Linux — with backpressure,
 * pause/resume, half-close, AbortSignal cancellation and graceful drain.
 *
 * ```ts
 * import { TcpListener } from "@eve/aio";
 * const listener = await TcpListener.listen("127.0.0.1", 8080);
 * listener.onConnection = (_l, conn) => {
 *   conn.onData = (c, data) => c.send(data); // echo
 * };
 * ```
 *
 * @module
 */
export { EventLoop, type EventLoopOptions, type LoopStats } from "./src/loop.ts";
export type { NetAddress } from "./src/address.ts";
export type { OsHandle } from "./src/os_handle.ts";
export type { CloseReason, SendResult, SocketState } from "./src/stream.ts";
export {
  type ConnectOptions,
  type KeepAliveOptions,
  type LookupAddress,
  TcpConnection,
  type TcpConnectionConfig,
} from "./src/tcp_connection.ts";
export { type ListenOptions, TcpListener, type TcpListenerConfig } from "./src/tcp_listener.ts";
export { ShutdownCoordinator, type Trackable } from "./src/shutdown.ts";
export { LibraryLoadError } from "./ffi/library.ts";
export { ResourceExhausted } from "./src/errors.ts";
export { Pipe, type PipeConfig, type PipeConnectOptions } from "./src/pipe.ts";
export { closePipe, createPipe, type PipePair } from "./src/pipe_pair.ts";
export { PipeListener, type PipeListenOptions } from "./src/pipe_listener.ts";
export { TlsConnection } from "./src/tls_connection.ts";
export { acceptTls, connectTls, startTls } from "./src/tls_handshake.ts";
export { listenTls, TlsListener } from "./src/tls_listener.ts";
export type { TlsClientOptions, TlsServerOptions } from "./src/tls_options.ts";

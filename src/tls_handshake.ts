/**
 * The ways into TLS: `startTls` and `acceptTls` switch an open stream to
 * TLS (STARTTLS, client and server side), `connectTls` connects then
 * switches. One handshake runs them all: the STARTTLS refusal rule, the
 * Duplex, node:tls, and the failures mapped to Deno's errors.
 *
 * @module
 */
import tls, { type TLSSocket } from "node:tls";
import { coreOf } from "./cores.ts";
import { timedOut } from "./errors.ts";
import { clientCertProblem, peerChainOf } from "./tls_verify.ts";
import { Pipe } from "./pipe.ts";
import { StreamCore } from "./stream.ts";
import { type ConnectOptions, TcpConnection } from "./tcp_connection.ts";
import { type TlsConnection, tlsConnectionOf } from "./tls_connection.ts";
import { type Transport, TransportDuplex } from "./tls_duplex.ts";
import { clientPlan, serverPlan, type TlsClientOptions, type TlsPlan, type TlsServerOptions } from "./tls_options.ts";
import { checkOptions, checkPort, checkString } from "./validate.ts";

/** The core of one of our streams, or a TypeError naming `what`. */
function transportCore(stream: unknown, what: string): StreamCore<TcpConnection> {
  const core = stream instanceof TcpConnection || stream instanceof Pipe ? coreOf(stream) : undefined;
  if (!(core instanceof StreamCore)) throw new TypeError(`${what}: stream must be a TcpConnection or a Pipe`);
  return core as StreamCore<TcpConnection>;
}

/**
 * Switches an open stream to TLS as the client (STARTTLS): the handshake
 * runs over the stream, which from then on carries only TLS records.
 * Refused with a TypeError, the stream unchanged, while received bytes
 * wait undelivered in it (paused or framed) or sends are still queued:
 * bytes that came in clear must never pass for protected ones
 * (CVE-2021-23222). A failed handshake or certificate check rejects with
 * `Deno.errors.InvalidData` and closes the stream with reason "error".
 * `serverName` defaults to the stream's remote address (required over a
 * pipe, unless certificate errors are ignored).
 *
 * @example Upgrading after a STARTTLS exchange
 * ```ts ignore
 * import { startTls, TcpConnection } from "@eve/aio";
 *
 * const conn = await TcpConnection.connect("mail.example.com", 587);
 * // ... EHLO, STARTTLS, "220 ready" read with onData ...
 * conn.onData = null;
 * const secure = await startTls(conn, { serverName: "mail.example.com" });
 * console.log(secure.tlsVersion);
 * ```
 */
export function startTls(stream: TcpConnection | Pipe, options?: TlsClientOptions): Promise<TlsConnection> {
  const core = transportCore(stream, "startTls");
  const host = stream instanceof TcpConnection ? stream.remoteAddress?.hostname ?? null : null;
  const plan = clientPlan(options, host);
  return upgrade(stream, core, plan, "startTls");
}

/**
 * Switches an open stream to TLS as the server (STARTTLS on the server
 * side, or TLS over a pipe). The same refusal rule and failures as
 * `startTls`; with `requestCert`, a client without a certificate from
 * `caCerts` fails the handshake.
 *
 * @example TLS over an accepted pipe
 * ```ts ignore
 * import { acceptTls, PipeListener } from "@eve/aio";
 *
 * const [cert, key] = ["server.pem", "server.key"].map((f) => Deno.readTextFileSync(f));
 * const listener = await PipeListener.listen("/tmp/secure.sock");
 * const pipe = await listener.accept();
 * const secure = await acceptTls(pipe, { cert, key });
 * secure.onData = (c, data) => c.send(data);
 * ```
 */
export function acceptTls(stream: TcpConnection | Pipe, options: TlsServerOptions): Promise<TlsConnection> {
  const core = transportCore(stream, "acceptTls");
  const plan = serverPlan(options);
  return upgrade(stream, core, plan, "acceptTls");
}

/**
 * Connects to host:port over TCP and runs the TLS handshake as the client.
 * `timeoutMs` and `signal` cover both; the certificate is checked against
 * `serverName` (default `host`) with the default roots plus `caCerts`.
 *
 * @example Connecting with a private CA
 * ```ts ignore
 * import { connectTls } from "@eve/aio";
 *
 * const ca = Deno.readTextFileSync("ca.pem");
 * const conn = await connectTls("localhost", 8443, { caCerts: [ca], alpnProtocols: ["http/1.1"] });
 * console.log(conn.tlsVersion, conn.alpnProtocol);
 * await conn.close();
 * ```
 */
export function connectTls(
  host: string,
  port: number,
  options?: ConnectOptions & TlsClientOptions,
): Promise<TlsConnection> {
  const o = checkOptions<ConnectOptions & TlsClientOptions>(options);
  checkString(host, "host");
  checkPort(port, "port", false);
  const name = host.startsWith("[") ? host.slice(1, -1) : host;
  // Checked before connecting: nothing is half done on bad options.
  clientPlan(o, name);
  return connectThenTls(host, port, name, o);
}

async function connectThenTls(
  host: string,
  port: number,
  name: string,
  o: Partial<ConnectOptions & TlsClientOptions>,
): Promise<TlsConnection> {
  const started = performance.now();
  const conn = await TcpConnection.connect(host, port, o);
  const left = o.timeoutMs === undefined
    ? undefined
    : Math.max(1, Math.ceil(o.timeoutMs - (performance.now() - started)));
  try {
    return await startTls(conn, { ...o, serverName: o.serverName ?? name, timeoutMs: left });
  } catch (error) {
    // A handshake that failed has closed the connection already.
    conn.abort();
    throw error;
  }
}

function upgrade(
  stream: Transport,
  core: StreamCore<TcpConnection>,
  plan: TlsPlan,
  what: string,
): Promise<TlsConnection> {
  if (stream.state !== "open") throw new TypeError(`${what}: the stream is ${stream.state}`);
  if (core.undelivered > 0) {
    throw new TypeError(
      `${what}: ${core.undelivered} received bytes wait undelivered in the stream; ` +
        "bytes that came in clear cannot be read as protected (CVE-2021-23222)",
    );
  }
  if (stream.sendQueueLen > 0) {
    throw new TypeError(`${what}: ${stream.sendQueueLen} bytes are still queued to send in clear`);
  }
  if (plan.signal?.aborted) return Promise.reject(plan.signal.reason);
  // The first change to the stream, and the last check: data that goes to
  // `readable` cannot be taken over.
  try {
    stream.onData = null;
    (stream as TcpConnection).onData = () => {};
  } catch {
    throw new TypeError(`${what}: the stream's data goes to its readable`);
  }
  const duplex = new TransportDuplex(stream);
  let socket: TLSSocket;
  try {
    socket = plan.server
      ? new tls.TLSSocket(duplex, plan.node as tls.TLSSocketOptions)
      : tls.connect({ ...plan.node, socket: duplex } as tls.ConnectionOptions);
  } catch (error) {
    // Bad PEM text and the like: node:tls refuses while building.
    core.failWith("error", null);
    duplex.destroy();
    return Promise.reject(invalidData(what, error));
  }
  return new Promise<TlsConnection>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = () => {
      clearTimeout(timer);
      plan.signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.off(plan.server ? "secure" : "secureConnect", onSecure);
    };
    const fail = (error: unknown, reason: "error" | "timeout" | "aborted") => {
      cleanup();
      // Closed before TLS lets go, so the reason is ours, not its destroy's.
      core.failWith(reason, null);
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error) => fail(invalidData(what, error), "error");
    const onClose = () => fail(invalidData(what, new Error("the peer closed during the handshake")), "error");
    const onAbort = () => fail(plan.signal!.reason, "aborted");
    const onSecure = () => {
      // node:tls fails the handshake itself when verification is on; this
      // is the belt to those braces.
      let problem: string | null = null;
      if (plan.server && plan.node.requestCert === true) {
        // Deno's server side leaves `authorized` false and checks no issuer:
        // the leaf and the intermediates the client sent are checked here.
        problem = clientCertProblem(peerChainOf(socket), plan.node.ca as string[]);
      } else if (!plan.server && plan.node.rejectUnauthorized === true && !socket.authorized) {
        problem = String(socket.authorizationError ?? "certificate not verified");
      }
      if (problem) {
        fail(invalidData(what, new Error(problem)), "error");
        return;
      }
      cleanup();
      resolve(tlsConnectionOf(socket, duplex));
    };
    socket.once(plan.server ? "secure" : "secureConnect", onSecure);
    socket.on("error", onError);
    socket.on("close", onClose);
    plan.signal?.addEventListener("abort", onAbort, { once: true });
    if (plan.timeoutMs !== undefined) {
      timer = setTimeout(() => fail(timedOut(`${what}: TLS handshake`, plan.timeoutMs!), "timeout"), plan.timeoutMs);
    }
  });
}

// A handshake or certificate failure, as Deno.connectTls reports it.
function invalidData(what: string, cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  const error = new Deno.errors.InvalidData(`${what}: TLS handshake failed: ${message}`, { cause });
  (error as Error & { code?: string }).code = (cause as { code?: string })?.code ?? "EINVAL";
  return error;
}

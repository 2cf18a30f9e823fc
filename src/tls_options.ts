/**
 * The options of the TLS entry points (connectTls, listenTls, startTls,
 * acceptTls), checked and turned into what `node:tls` takes. Certificates
 * and keys are PEM text, as with `Deno.connectTls`: the caller reads any
 * file itself, under its own read permission; nothing more is asked.
 *
 * @module
 */
import tls from "node:tls";
import { checkInt, checkOptions, checkSignal, checkString } from "./validate.ts";

/**
 * Options of the client side of TLS (connectTls, startTls).
 *
 * @example Trusting a private CA and asking for h2
 * ```ts
 * import type { TlsClientOptions } from "@eve/aio";
 *
 * const options: TlsClientOptions = {
 *   caCerts: ["-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"],
 *   alpnProtocols: ["h2", "http/1.1"],
 *   timeoutMs: 5000,
 * };
 * console.log(options.alpnProtocols?.length); // 2
 * ```
 */
export interface TlsClientOptions {
  /** The name sent as SNI and checked against the certificate (default: the host connected to). */
  serverName?: string;
  /**
   * PEM certificates to trust. They are added to the default roots where
   * `--allow-sys` grants reading those; otherwise only these are
   * trusted for this connection (node:tls replaces its roots with them).
   */
  caCerts?: string[];
  /** ALPN protocols offered, in order of preference. */
  alpnProtocols?: string[];
  /** A client certificate chain (PEM), for servers that ask for one; with `key`. */
  cert?: string;
  /** The client certificate's private key (PEM). */
  key?: string;
  /** Accepts any server certificate. Never in production: it removes all protection against impostors. */
  unsafelyIgnoreCertificateErrors?: boolean;
  /** Cancels the handshake (rejects with `signal.reason`). */
  signal?: AbortSignal;
  /** Rejects with Deno.errors.TimedOut when the handshake takes longer (connecting included). */
  timeoutMs?: number;
}

/**
 * Options of the server side of TLS (listenTls, acceptTls).
 *
 * @example A server that requires client certificates from its own CA
 * ```ts
 * import type { TlsServerOptions } from "@eve/aio";
 *
 * const pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
 * const options: TlsServerOptions = { cert: pem, key: "...", caCerts: [pem], requestCert: true };
 * console.log(options.requestCert); // true
 * ```
 */
export interface TlsServerOptions {
  /** The server's certificate chain (PEM), leaf first. */
  cert: string;
  /** The server's private key (PEM). */
  key: string;
  /** ALPN protocols accepted, in order of preference. */
  alpnProtocols?: string[];
  /** PEM certificates whose holders' client certificates are accepted (with `requestCert`). */
  caCerts?: string[];
  /**
   * Requires a client certificate issued under one of `caCerts`, directly
   * or through intermediates the client sends after its leaf; the
   * handshake fails without one.
   */
  requestCert?: boolean;
  /** Cancels the handshake (rejects with `signal.reason`). */
  signal?: AbortSignal;
  /** Rejects with Deno.errors.TimedOut when the handshake takes longer. */
  timeoutMs?: number;
}

/** The checked options, whichever side. */
export interface TlsPlan {
  /** What goes to node:tls (TLSSocket / tls.connect). */
  node: Record<string, unknown>;
  /** Whether this is the server side. */
  server: boolean;
  /** The name checked against the server's certificate (client side). */
  serverName: string | null;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

function checkPemList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of PEM strings`);
  value.forEach((v, i) => checkString(v, `${name}[${i}]`));
  return value as string[];
}

function checkBool(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean`);
  return value;
}

function checkCommon(o: Partial<TlsClientOptions & TlsServerOptions>): {
  alpn: string[] | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
} {
  const alpn = checkPemList(o.alpnProtocols, "options.alpnProtocols");
  alpn?.forEach((p, i) => {
    if (p.length === 0 || p.length > 255) throw new RangeError(`options.alpnProtocols[${i}] must be 1..255 characters`);
  });
  return {
    alpn,
    signal: checkSignal(o.signal),
    timeoutMs: checkInt(o.timeoutMs, "options.timeoutMs", 0, 0x7fffffff),
  };
}

/** Checks client options; `host` is the default server name (null over a pipe). */
export function clientPlan(options: unknown, host: string | null): TlsPlan {
  const o = checkOptions<TlsClientOptions>(options);
  const common = checkCommon(o);
  const insecure = checkBool(o.unsafelyIgnoreCertificateErrors, "options.unsafelyIgnoreCertificateErrors");
  if (o.serverName !== undefined) checkString(o.serverName, "options.serverName");
  const caCerts = checkPemList(o.caCerts, "options.caCerts");
  if (o.cert !== undefined) checkString(o.cert, "options.cert");
  if (o.key !== undefined) checkString(o.key, "options.key");
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new TypeError("options.cert and options.key go together");
  }
  const serverName = o.serverName || host;
  if (!serverName && !insecure) {
    throw new TypeError("options.serverName is required here (no host to check the certificate against)");
  }
  const name = serverName ?? "localhost";
  const node: Record<string, unknown> = {
    // node:tls leaves SNI out for an IP address, and checks the address
    // against the certificate's IP names.
    host: name,
    servername: isIpLiteral(name) ? undefined : name,
    rejectUnauthorized: !insecure,
    ALPNProtocols: common.alpn,
  };
  // node:tls replaces its default roots with `ca`. They are added back
  // where reading them is already allowed (--allow-sys): otherwise only
  // caCerts are trusted (stricter, never looser), and no prompt asks for
  // a permission Deno.connectTls would not need.
  if (caCerts?.length) node.ca = [...defaultRoots(), ...caCerts];
  if (o.cert !== undefined) {
    node.cert = o.cert;
    node.key = o.key;
  }
  return { node, server: false, serverName: name, signal: common.signal, timeoutMs: common.timeoutMs };
}

/** Checks server options. */
export function serverPlan(options: unknown): TlsPlan {
  if (options === undefined || options === null) throw new TypeError("options (with cert and key) are required");
  const o = checkOptions<TlsServerOptions>(options);
  const common = checkCommon(o);
  checkString(o.cert, "options.cert");
  checkString(o.key, "options.key");
  const caCerts = checkPemList(o.caCerts, "options.caCerts");
  const requestCert = checkBool(o.requestCert, "options.requestCert");
  if (requestCert && !caCerts?.length) {
    throw new TypeError("options.requestCert needs options.caCerts (who may issue client certificates)");
  }
  const node: Record<string, unknown> = {
    isServer: true,
    cert: o.cert,
    key: o.key,
    ALPNProtocols: common.alpn,
    requestCert,
    rejectUnauthorized: requestCert,
  };
  if (caCerts?.length) node.ca = caCerts;
  return { node, server: true, serverName: null, signal: common.signal, timeoutMs: common.timeoutMs };
}

function isIpLiteral(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(":");
}

// The default roots when sys permission (for "ca") is granted, else none.
function defaultRoots(): readonly string[] {
  try {
    const status = Deno.permissions.querySync({ name: "sys", kind: "ca" } as unknown as Deno.PermissionDescriptor);
    return status.state === "granted" ? tls.rootCertificates : [];
  } catch {
    return [];
  }
}

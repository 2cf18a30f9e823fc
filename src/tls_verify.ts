/**
 * The server's own check of a client certificate. Deno's node:tls (2.9.6)
 * asks for one with `requestCert` and refuses a client without one, but
 * accepts a certificate from any issuer; the handshake code therefore
 * checks it again here, against the server's `caCerts`: the leaf, through
 * any intermediates the client sent, up to one of them. (Deno does check
 * the client's CertificateVerify, its proof of the leaf's private key:
 * tests/tls_client_cert_test.ts.)
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";

// The most certificates looked at from one client: a leaf and intermediates
// (real chains have one or two); the rest is ignored, bounding the work a
// client can cause.
const MAX_CHAIN = 8;

/** The chain a TLS socket's peer sent (DER, leaf first), as node:tls links it. */
export function peerChainOf(socket: { getPeerCertificate(detailed: true): unknown }): Uint8Array[] {
  const chain: Uint8Array[] = [];
  type Link = { raw?: Uint8Array; issuerCertificate?: Link } | undefined;
  let link = socket.getPeerCertificate(true) as Link;
  // node:tls ends the chain with a certificate that is its own issuer.
  while (link?.raw?.length && chain.length < MAX_CHAIN) {
    chain.push(new Uint8Array(link.raw));
    if (link.issuerCertificate === link) break;
    link = link.issuerCertificate;
  }
  return chain;
}

/**
 * Why the client certificate chain `chain` (DER, leaf first, then what the
 * client sent to build on, in any order) is not acceptable, or null when
 * it is: a path from the leaf through intermediates of the chain up to
 * one of `caCerts` (PEM), each link signed by the next, every certificate
 * on it within its validity period, every intermediate a CA
 * (basicConstraints cA, keyCertSign when keyUsage is given) whose path
 * length constraint holds, as is the trusted CA's.
 */
export function clientCertProblem(chain: readonly Uint8Array[], caCerts: readonly string[]): string | null {
  const leafDer = chain[0];
  if (!leafDer?.length) return "the client sent no certificate";
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(Buffer.from(leafDer));
  } catch {
    return "the client certificate cannot be parsed";
  }
  const now = Date.now();
  if (!validAt(leaf, now)) return "the client certificate is expired or not yet valid";
  const anchors: X509Certificate[] = [];
  for (const pem of caCerts) {
    try {
      anchors.push(new X509Certificate(pem));
    } catch {
      // A CA that does not parse issues nothing.
    }
  }
  const candidates: { cert: X509Certificate; der: Uint8Array }[] = [];
  for (const der of chain.slice(1, MAX_CHAIN)) {
    try {
      candidates.push({ cert: new X509Certificate(Buffer.from(der)), der });
    } catch {
      // Junk the client sent is no link.
    }
  }
  // The first problem met on a path that was otherwise going somewhere:
  // more useful than "not signed" when an intermediate is the trouble.
  let linkProblem: string | null = null;
  const used = new Set<number>();
  let current = leaf;
  // Intermediates between the current certificate and the leaf.
  let below = 0;
  for (;;) {
    for (const ca of anchors) {
      if (!signedBy(current, ca)) continue;
      const limit = pathLenOf(ca.raw);
      if (limit !== null && below > limit) {
        linkProblem ??= `the client's chain is longer than its CA's path length constraint (${limit})`;
        continue;
      }
      return null;
    }
    const next = candidates.findIndex((c, i) => !used.has(i) && signedBy(current, c.cert));
    if (next < 0) break;
    used.add(next);
    const { cert, der } = candidates[next];
    const problem = intermediateProblem(cert, der, below, now);
    if (problem) {
      linkProblem ??= problem;
      break;
    }
    current = cert;
    below++;
  }
  return linkProblem ?? "the client certificate is not signed by a trusted CA (options.caCerts)";
}

function validAt(cert: X509Certificate, now: number): boolean {
  return now >= Date.parse(cert.validFrom) && now <= Date.parse(cert.validTo);
}

// Whether `issuer` issued `cert`: names and signature.
function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

// Why `cert` may not sign the link below it (`below` intermediates under it), or null.
function intermediateProblem(cert: X509Certificate, der: Uint8Array, below: number, now: number): string | null {
  const name = cert.subject.replace(/\n/g, ", ");
  if (!cert.ca) return `the client's intermediate certificate (${name}) is not a CA (basicConstraints)`;
  const usage = cert.keyUsage;
  if (usage?.length && !usage.includes("KeyCertSign")) {
    return `the client's intermediate certificate (${name}) may not sign certificates (keyUsage)`;
  }
  if (!validAt(cert, now)) return `the client's intermediate certificate (${name}) is expired or not yet valid`;
  const limit = pathLenOf(der);
  if (limit !== null && below > limit) {
    return `the client's chain is longer than the path length constraint (${limit}) of ${name}`;
  }
  return null;
}

// --- basicConstraints pathLenConstraint (node:crypto does not expose it) ---

const BASIC_CONSTRAINTS = Uint8Array.of(0x55, 0x1d, 0x13); // 2.5.29.19

interface Tlv {
  tag: number;
  start: number; // content
  end: number;
}

// One DER element at `at` within `limit`, or null when malformed.
function tlv(der: Uint8Array, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = der[at];
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  return start + len > limit ? null : { tag, start, end: start + len };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const t = tlv(der, at, parent.end);
    if (!t) return out;
    out.push(t);
    at = t.end;
  }
  return out;
}

// The pathLenConstraint of a certificate's basicConstraints, or null when
// there is none (or it cannot be read: X509Certificate parsed the
// certificate already, so this only reads a value, never judges one).
function pathLenOf(certificate: Uint8Array): number | null {
  const der = certificate;
  const cert = tlv(der, 0, der.length);
  const tbs = cert && children(der, cert)[0];
  if (!tbs) return null;
  // extensions: [3] EXPLICIT SEQUENCE OF Extension, last in the TBS.
  const wrapper = children(der, tbs).find((t) => t.tag === 0xa3);
  const list = wrapper && children(der, wrapper)[0];
  if (!list) return null;
  for (const extension of children(der, list)) {
    const [id, ...rest] = children(der, extension);
    if (!id || id.tag !== 0x06 || !sameBytes(der.subarray(id.start, id.end), BASIC_CONSTRAINTS)) continue;
    const value = rest.find((t) => t.tag === 0x04);
    const constraints = value && tlv(der, value.start, value.end);
    if (!constraints) return null;
    const limit = children(der, constraints).find((t) => t.tag === 0x02);
    if (!limit || limit.end - limit.start > 2) return null;
    let n = 0;
    for (let i = limit.start; i < limit.end; i++) n = n * 256 + der[i];
    return n;
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

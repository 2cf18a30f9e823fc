/**
 * The server's own check of a client certificate. Deno's node:tls (2.9.6)
 * asks for one with `requestCert` and refuses a client without one, but
 * accepts a certificate from any issuer; the handshake code therefore
 * checks it again here, against the server's `caCerts`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";

/**
 * Why the client certificate `der` is not acceptable, or null when it is:
 * signed by one of `caCerts` (PEM; the leaf's direct issuer) and within
 * its validity period.
 */
export function clientCertProblem(der: Uint8Array | undefined, caCerts: readonly string[]): string | null {
  if (!der?.length) return "the client sent no certificate";
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(Buffer.from(der));
  } catch {
    return "the client certificate cannot be parsed";
  }
  const now = Date.now();
  if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) {
    return "the client certificate is expired or not yet valid";
  }
  for (const pem of caCerts) {
    try {
      const ca = new X509Certificate(pem);
      if (leaf.checkIssued(ca) && leaf.verify(ca.publicKey)) return null;
    } catch {
      // A CA that does not parse issues nothing.
    }
  }
  return "the client certificate is not signed by a trusted CA (options.caCerts)";
}

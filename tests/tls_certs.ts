/**
 * Test-only certificates, made at test time with WebCrypto (ECDSA P-256):
 * a CA and leaves it signs, so that no private key is committed and no
 * tool (openssl) has to exist where the tests run (deno.exe under Wine).
 * rustls refuses a self-signed CA used as a leaf, hence a real chain.
 */

/** A certificate and its private key, both PEM. */
export interface Issued {
  cert: string;
  key: string;
}

/** A CA: its certificate (PEM) and what signs the leaves. */
export interface TestCa {
  cert: string;
  name: string;
  signer: CryptoKey;
}

/** What a leaf says. */
export interface LeafSpec {
  /** Subject common name (default "localhost"). */
  cn?: string;
  /** DNS names in subjectAltName (default ["localhost"]). */
  dns?: string[];
  /** IPv4 addresses in subjectAltName (default ["127.0.0.1"]). */
  ips?: string[];
  /** Validity; default from a day ago to a year ahead. */
  notBefore?: Date;
  notAfter?: Date;
}

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY = 86_400_000;

/** A new CA named `name`. */
export async function makeCa(name = "aio test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
  const der = await certificate({
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signer: keys.privateKey,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    extensions: [
      ext("2.5.29.19", true, seq(bool(true))),
      // keyCertSign | cRLSign
      ext("2.5.29.15", true, tlv(0x03, new Uint8Array([1, 0x06]))),
    ],
  });
  return { cert: pem("CERTIFICATE", der), name, signer: keys.privateKey };
}

/** What an intermediate says. */
export interface IntermediateSpec {
  /** Subject common name (default "aio test intermediate"). */
  name?: string;
  /** basicConstraints cA (default true); false makes a certificate that must not issue. */
  ca?: boolean;
  /** basicConstraints pathLenConstraint, absent by default. */
  pathLen?: number;
  /** Validity; default from a day ago to a year ahead. */
  notBefore?: Date;
  notAfter?: Date;
}

/** An intermediate CA signed by `issuer`; `cert` is its certificate alone (a client sends it after its leaf). */
export async function makeIntermediate(issuer: TestCa, spec: IntermediateSpec = {}): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
  const name = spec.name ?? "aio test intermediate";
  const constraints = spec.ca === false
    ? seq()
    : spec.pathLen === undefined
    ? seq(bool(true))
    : seq(bool(true), int(new Uint8Array([spec.pathLen])));
  const der = await certificate({
    subject: name,
    issuer: issuer.name,
    publicKey: keys.publicKey,
    signer: issuer.signer,
    notBefore: spec.notBefore ?? new Date(Date.now() - DAY),
    notAfter: spec.notAfter ?? new Date(Date.now() + 365 * DAY),
    extensions: [
      ext("2.5.29.19", true, constraints),
      // keyCertSign | cRLSign
      ext("2.5.29.15", true, tlv(0x03, new Uint8Array([1, 0x06]))),
    ],
  });
  return { cert: pem("CERTIFICATE", der), name, signer: keys.privateKey };
}

/** A leaf signed by `ca`, for a server and a client (both extended key usages). */
export async function issue(ca: TestCa, spec: LeafSpec = {}): Promise<Issued> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
  const names = [
    ...(spec.dns ?? ["localhost"]).map((d) => tlv(0x82, new TextEncoder().encode(d))),
    ...(spec.ips ?? ["127.0.0.1"]).map((ip) => tlv(0x87, new Uint8Array(ip.split(".").map(Number)))),
  ];
  const der = await certificate({
    subject: spec.cn ?? "localhost",
    issuer: ca.name,
    publicKey: keys.publicKey,
    signer: ca.signer,
    notBefore: spec.notBefore ?? new Date(Date.now() - DAY),
    notAfter: spec.notAfter ?? new Date(Date.now() + 365 * DAY),
    extensions: [
      ext("2.5.29.19", true, seq()),
      // digitalSignature
      ext("2.5.29.15", true, tlv(0x03, new Uint8Array([7, 0x80]))),
      // serverAuth, clientAuth
      ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
      ext("2.5.29.17", false, seq(...names)),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { cert: pem("CERTIFICATE", der), key: pem("PRIVATE KEY", pkcs8) };
}

/** The usual set: a CA, a server leaf for localhost/127.0.0.1, a client leaf. */
export async function makePki(): Promise<{ ca: TestCa; server: Issued; client: Issued }> {
  const ca = await makeCa();
  return { ca, server: await issue(ca), client: await issue(ca, { cn: "client", dns: ["client"], ips: [] }) };
}

/** The DER bytes of the first certificate of a PEM text. */
export function derOf(pemText: string): Uint8Array {
  const b64 = pemText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: CryptoKey;
  signer: CryptoKey;
  notBefore: Date;
  notAfter: Date;
  extensions: Uint8Array[];
}

async function certificate(c: CertSpec): Promise<Uint8Array> {
  const algorithm = seq(oid("1.2.840.10045.4.3.2"));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", c.publicKey));
  const tbs = seq(
    tlv(0xa0, int(new Uint8Array([2]))),
    int(serial),
    algorithm,
    name(c.issuer),
    seq(time(c.notBefore), time(c.notAfter)),
    name(c.subject),
    spki,
    tlv(0xa3, seq(...c.extensions)),
  );
  const raw = new Uint8Array(await crypto.subtle.sign(SIGN, c.signer, tbs as Uint8Array<ArrayBuffer>));
  // WebCrypto signs as r||s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
  const sig = seq(int(raw.subarray(0, 32)), int(raw.subarray(32)));
  return seq(tbs, algorithm, tlv(0x03, concat(new Uint8Array([0]), sig)));
}

function pem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}

// --- DER -------------------------------------------------------------------

/** The parts, one after the other in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(...content);
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concat(new Uint8Array([tag, ...len]), body);
}

function seq(...items: Uint8Array[]): Uint8Array {
  return tlv(0x30, ...items);
}

function bool(v: boolean): Uint8Array {
  return tlv(0x01, new Uint8Array([v ? 0xff : 0]));
}

// A non-negative INTEGER from big-endian magnitude bytes.
function int(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, b[0] & 0x80 ? concat(new Uint8Array([0]), b) : b);
}

function oid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const base128 = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, new Uint8Array(out));
}

function name(cn: string): Uint8Array {
  return seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, new TextEncoder().encode(cn)))));
}

function time(d: Date): Uint8Array {
  const iso = d.toISOString();
  // UTCTime: YYMMDDHHMMSSZ (years 1950..2049).
  const text = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) +
    iso.slice(17, 19) + "Z";
  return tlv(0x17, new TextEncoder().encode(text));
}

function ext(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), bool(true), tlv(0x04, value)) : seq(oid(id), tlv(0x04, value));
}

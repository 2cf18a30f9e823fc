/**
 * Test-only: a minimal TLS 1.3 client (TLS_AES_128_GCM_SHA256, P-256,
 * ECDSA client certificates) written over WebCrypto and Deno.connect.
 *
 * It exists because every real client refuses to sign with a key that
 * does not match its certificate (rustls's key check: Deno.connectTls
 * says "KeyMismatch", node:tls "unsupported protocol"), and the server's
 * check of the client's CertificateVerify can only be tested by a client
 * that does exactly that. It checks nothing of the server (no certificate,
 * no signature, no Finished): it is an attacker, not a client to trust.
 */
import { concat as cat, derOf } from "./tls_certs.ts";

/** What the hand-made client presents and signs with. */
export interface RawClientAuth {
  /** The certificate sent (PEM). */
  cert: string;
  /** The key that signs CertificateVerify (PKCS#8 PEM); need not match `cert`. */
  key: string;
}

/** How a handshake of the hand-made client went. */
export interface RawClientResult {
  /** Whether the server asked for a client certificate. */
  certificateRequested: boolean;
  /** The first application bytes the server sent back, or null (closed, alert). */
  reply: Uint8Array | null;
  /** The alert description the server sent, if any (42 bad_certificate, 51 decrypt_error, ...). */
  alert: number | null;
}

const enc = new TextEncoder();
const HANDSHAKE = 22, APPLICATION = 23, ALERT = 21, CCS = 20;

/**
 * Connects to 127.0.0.1:`port`, runs a TLS 1.3 handshake presenting
 * `auth.cert` and signing with `auth.key`, sends `message`, and returns
 * what came back (the first application record, or the alert).
 */
export async function rawTls13Client(port: number, auth: RawClientAuth, message: Uint8Array): Promise<RawClientResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const io = new Records(conn);
  try {
    return await handshake(io, auth, message);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

async function handshake(io: Records, auth: RawClientAuth, message: Uint8Array): Promise<RawClientResult> {
  const ecdh = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const share = new Uint8Array(await crypto.subtle.exportKey("raw", ecdh.publicKey));
  const hello = handshakeMessage(
    1,
    cat(
      u16(0x0303),
      crypto.getRandomValues(new Uint8Array(32)),
      u8(0),
      u16(2, 0x1301),
      u8(1, 0),
      vec16(cat(
        ext(0x0000, vec16(cat(u8(0), vec16(enc.encode("localhost"))))),
        ext(0x002b, cat(u8(2), u16(0x0304))),
        ext(0x000a, vec16(u16(0x0017))),
        ext(0x000d, vec16(u16(0x0403, 0x0804))),
        ext(0x0033, vec16(cat(u16(0x0017), vec16(share)))),
      )),
    ),
  );
  const transcript: Uint8Array[] = [hello];
  await io.writePlain(HANDSHAKE, hello);

  const serverHello = await io.nextHandshake();
  if (serverHello[0] !== 2) throw new Error(`expected ServerHello, got handshake type ${serverHello[0]}`);
  transcript.push(serverHello);
  const peerShare = keyShareOf(serverHello);
  const peer = await crypto.subtle.importKey(
    "raw",
    peerShare as Uint8Array<ArrayBuffer>,
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, ecdh.privateKey, 256));

  const zeros = new Uint8Array(32);
  const early = await extract(zeros, zeros);
  const hsSecret = await extract(await deriveSecret(early, "derived", []), shared);
  const cHs = await deriveSecret(hsSecret, "c hs traffic", transcript);
  const sHs = await deriveSecret(hsSecret, "s hs traffic", transcript);
  io.readKeys = await trafficKeys(sHs);

  // The server's encrypted flight, up to its Finished.
  let requestContext: Uint8Array | null = null;
  for (;;) {
    const m = await io.nextHandshake();
    transcript.push(m);
    if (m[0] === 13) requestContext = m.subarray(5, 5 + m[4]);
    if (m[0] === 20) break;
  }
  const master = await extract(await deriveSecret(hsSecret, "derived", []), zeros);
  const cAp = await deriveSecret(master, "c ap traffic", transcript);
  const sAp = await deriveSecret(master, "s ap traffic", transcript);

  const writeKeys = await trafficKeys(cHs);
  if (requestContext) {
    const der = derOf(auth.cert);
    const certificate = handshakeMessage(
      11,
      cat(u8(requestContext.length), requestContext, vec24(cat(vec24(der), u16(0)))),
    );
    transcript.push(certificate);
    const signed = cat(
      new Uint8Array(64).fill(0x20),
      enc.encode("TLS 1.3, client CertificateVerify"),
      u8(0),
      await hash(transcript),
    );
    const key = await crypto.subtle.importKey(
      "pkcs8",
      derOf(auth.key) as Uint8Array<ArrayBuffer>,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    const raw = new Uint8Array(
      await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, signed as Uint8Array<ArrayBuffer>),
    );
    const signature = derSignature(raw);
    const verify = handshakeMessage(15, cat(u16(0x0403), vec16(signature)));
    transcript.push(verify);
    await io.writeSealed(writeKeys, HANDSHAKE, cat(certificate, verify));
  }
  const finishedKey = await expandLabel(cHs, "finished", new Uint8Array(0), 32);
  const finished = handshakeMessage(20, await hmac(finishedKey, await hash(transcript)));
  await io.writeSealed(writeKeys, HANDSHAKE, finished);

  io.readKeys = await trafficKeys(sAp);
  await io.writeSealed(await trafficKeys(cAp), APPLICATION, message);
  // The reply, past any NewSessionTicket; or the server's alert, or its close.
  for (;;) {
    const record = await io.nextRecord();
    if (!record) return { certificateRequested: requestContext !== null, reply: null, alert: null };
    if (record.type === APPLICATION) {
      return { certificateRequested: requestContext !== null, reply: record.body, alert: null };
    }
    if (record.type === ALERT) {
      return { certificateRequested: requestContext !== null, reply: null, alert: record.body[1] ?? null };
    }
  }
}

// --- records --------------------------------------------------------------

interface Keys {
  key: CryptoKey;
  iv: Uint8Array;
  seq: bigint;
}

// Reads and writes TLS records on a connection; decrypts once readKeys is set.
class Records {
  readKeys: Keys | null = null;
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  #handshake: Uint8Array = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async writePlain(type: number, body: Uint8Array): Promise<void> {
    await this.#write(cat(u8(type), u16(0x0301), vec16(body)));
  }

  async writeSealed(keys: Keys, type: number, body: Uint8Array): Promise<void> {
    const inner = cat(body, u8(type));
    const header = cat(u8(APPLICATION), u16(0x0303), u16(inner.length + 16));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        {
          name: "AES-GCM",
          iv: nonce(keys) as Uint8Array<ArrayBuffer>,
          additionalData: header as Uint8Array<ArrayBuffer>,
        },
        keys.key,
        inner as Uint8Array<ArrayBuffer>,
      ),
    );
    keys.seq++;
    await this.#write(cat(header, sealed));
  }

  // The next whole handshake message (header included), across records.
  async nextHandshake(): Promise<Uint8Array> {
    for (;;) {
      if (this.#handshake.length >= 4) {
        const n = 4 + ((this.#handshake[1] << 16) | (this.#handshake[2] << 8) | this.#handshake[3]);
        if (this.#handshake.length >= n) {
          const m = this.#handshake.slice(0, n);
          this.#handshake = this.#handshake.slice(n);
          return m;
        }
      }
      const record = await this.nextRecord();
      if (!record) throw new Error("the server closed during the handshake");
      if (record.type === ALERT) throw new Error(`the server sent alert ${record.body[1]}`);
      if (record.type !== HANDSHAKE) throw new Error(`unexpected record type ${record.type} in the handshake`);
      this.#handshake = cat(this.#handshake, record.body);
    }
  }

  // The next record (decrypted when keys are set), skipping CCS; null at EOF.
  async nextRecord(): Promise<{ type: number; body: Uint8Array } | null> {
    for (;;) {
      const header = await this.#read(5);
      if (!header) return null;
      const body = await this.#read((header[3] << 8) | header[4]);
      if (!body) return null;
      if (header[0] === CCS) continue;
      if (!this.readKeys || header[0] !== APPLICATION) return { type: header[0], body };
      const inner = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: nonce(this.readKeys) as Uint8Array<ArrayBuffer>,
            additionalData: header as Uint8Array<ArrayBuffer>,
          },
          this.readKeys.key,
          body as Uint8Array<ArrayBuffer>,
        ),
      );
      this.readKeys.seq++;
      let end = inner.length - 1;
      while (end > 0 && inner[end] === 0) end--;
      return { type: inner[end], body: inner.slice(0, end) };
    }
  }

  // A server that refused us may have closed already: what it said is
  // read afterwards, so a failed write is not an error here.
  async #write(bytes: Uint8Array): Promise<void> {
    try {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    } catch {
      // Closed or reset by the server.
    }
  }

  async #read(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length < n) {
      const chunk = new Uint8Array(16 * 1024);
      let got: number | null;
      try {
        got = await this.#conn.read(chunk);
      } catch {
        return null;
      }
      if (got === null) return null;
      this.#buf = cat(this.#buf, chunk.subarray(0, got));
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
}

function nonce(keys: Keys): Uint8Array {
  const n = keys.iv.slice();
  for (let i = 0; i < 8; i++) n[11 - i] ^= Number((keys.seq >> BigInt(8 * i)) & 0xffn);
  return n;
}

// --- key schedule (RFC 8446 section 7.1, SHA-256) ---------------------------

async function trafficKeys(secret: Uint8Array): Promise<Keys> {
  const raw = await expandLabel(secret, "key", new Uint8Array(0), 16);
  const key = await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  return { key, iv: await expandLabel(secret, "iv", new Uint8Array(0), 12), seq: 0n };
}

function extract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return hmac(salt, ikm);
}

// HKDF-Expand for at most one hash length, which is all TLS 1.3 asks here.
async function expandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const info = cat(u16(length), vec8(enc.encode("tls13 " + label)), vec8(context));
  return (await hmac(secret, cat(info, u8(1)))).slice(0, length);
}

async function deriveSecret(secret: Uint8Array, label: string, messages: Uint8Array[]): Promise<Uint8Array> {
  return expandLabel(secret, label, await hash(messages), 32);
}

async function hash(messages: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", cat(...messages) as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    (key.length ? key : new Uint8Array(32)) as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

// --- encoding ---------------------------------------------------------------

function keyShareOf(serverHello: Uint8Array): Uint8Array {
  let p = 4 + 2 + 32;
  p += 1 + serverHello[p];
  p += 2 + 1;
  const end = p + 2 + ((serverHello[p] << 8) | serverHello[p + 1]);
  p += 2;
  while (p < end) {
    const type = (serverHello[p] << 8) | serverHello[p + 1];
    const len = (serverHello[p + 2] << 8) | serverHello[p + 3];
    if (type === 0x0033) {
      const n = (serverHello[p + 6] << 8) | serverHello[p + 7];
      return serverHello.slice(p + 8, p + 8 + n);
    }
    p += 4 + len;
  }
  throw new Error("ServerHello without a key share (HelloRetryRequest is not supported here)");
}

// WebCrypto signs ECDSA as r||s; TLS wants the DER SEQUENCE of two INTEGERs.
function derSignature(raw: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b[i] & 0x80 ? cat(u8(0), b.subarray(i)) : b.subarray(i);
    return cat(u8(0x02, v.length), v);
  };
  const body = cat(int(raw.subarray(0, 32)), int(raw.subarray(32)));
  return cat(u8(0x30, body.length), body);
}

function handshakeMessage(type: number, body: Uint8Array): Uint8Array {
  return cat(u8(type), vec24(body).subarray(0));
}

function ext(type: number, body: Uint8Array): Uint8Array {
  return cat(u16(type), vec16(body));
}

function u8(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function u16(...values: number[]): Uint8Array {
  return new Uint8Array(values.flatMap((v) => [v >> 8, v & 0xff]));
}

function vec8(body: Uint8Array): Uint8Array {
  return cat(u8(body.length), body);
}

function vec16(body: Uint8Array): Uint8Array {
  return cat(u16(body.length), body);
}

function vec24(body: Uint8Array): Uint8Array {
  return cat(u8(body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff), body);
}

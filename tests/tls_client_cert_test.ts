/**
 * Client certificates on the server side (listenTls/acceptTls with
 * requestCert): what the server accepts and refuses. A hand-made TLS 1.3
 * client (tests/tls13_client.ts) plays the clients real stacks refuse to
 * be, such as one signing with a key that is not its certificate's.
 */
import assert from "node:assert/strict";
import { listenTls, type TlsListener } from "../mod.ts";
import { issue, makePki } from "./tls_certs.ts";
import { type RawClientAuth, rawTls13Client } from "./tls13_client.ts";
import { sleep, until, within } from "./helpers.ts";

const pki = await makePki();
const enc = new TextEncoder(), dec = new TextDecoder();

interface Seen {
  accepted: number;
  delivered: string[];
  errors: Error[];
}

// A listener requiring client certificates from `caCerts`, counting what
// it accepts, delivers and refuses.
async function mtlsListener(caCerts: string[]): Promise<{ l: TlsListener; seen: Seen }> {
  const seen: Seen = { accepted: 0, delivered: [], errors: [] };
  const l = await listenTls("127.0.0.1", 0, { cert: pki.server.cert, key: pki.server.key, requestCert: true, caCerts });
  l.onError = (_l, e) => seen.errors.push(e);
  l.onConnection = (_l, c) => {
    seen.accepted++;
    c.onData = (conn, d) => {
      seen.delivered.push(dec.decode(d));
      conn.send(d);
    };
  };
  return { l, seen };
}

// The hand-made client's try against a fresh listener; the listener is closed after.
async function rawTry(auth: RawClientAuth, caCerts = [pki.ca.cert]) {
  const { l, seen } = await mtlsListener(caCerts);
  try {
    const result = await within(rawTls13Client(l.localPort, auth, enc.encode("secret")), 10_000, "raw client");
    if (result.reply === null) await until(() => seen.errors.length > 0, 10_000, "the server's failure");
    // Late deliveries would show here.
    await sleep(50);
    return { result, seen };
  } finally {
    l.close();
  }
}

Deno.test("tls client cert: the hand-made TLS 1.3 client with its own key is accepted (the control)", async () => {
  const { result, seen } = await rawTry(pki.client);
  assert.equal(result.certificateRequested, true);
  assert.equal(dec.decode(result.reply!), "secret");
  assert.equal(seen.accepted, 1);
  assert.deepEqual(seen.delivered, ["secret"]);
  assert.deepEqual(seen.errors, []);
});

Deno.test("tls client cert: a CertificateVerify signed with another key fails the handshake, nothing delivered", async () => {
  // A valid certificate from the trusted CA, and a key that is not its own
  // (another leaf's, same CA): the client cannot prove it holds the
  // certificate's key, which is the whole of client authentication.
  const stranger = await issue(pki.ca, { cn: "stranger", dns: ["stranger"], ips: [] });
  const { result, seen } = await rawTry({ cert: pki.client.cert, key: stranger.key });
  assert.equal(result.certificateRequested, true);
  assert.equal(result.reply, null);
  assert.equal(seen.accepted, 0);
  assert.deepEqual(seen.delivered, []);
  assert.ok(seen.errors.length >= 1);
  assert.ok(seen.errors.every((e) => e instanceof Deno.errors.InvalidData), String(seen.errors));
});

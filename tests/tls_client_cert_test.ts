/**
 * Client certificates on the server side (listenTls/acceptTls with
 * requestCert): what the server accepts and refuses. A hand-made TLS 1.3
 * client (tests/tls13_client.ts) plays the clients real stacks refuse to
 * be, such as one signing with a key that is not its certificate's.
 */
import assert from "node:assert/strict";
import { connectTls, listenTls, type TlsListener } from "../mod.ts";
import { derOf, issue, type Issued, makeIntermediate, makePki, type TestCa } from "./tls_certs.ts";
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

// connectTls presenting `creds` (cert: PEM chain, leaf first) to a listener
// trusting only the root: whether the server accepted it, what it
// delivered, what it reported.
async function chainTry(creds: Issued) {
  const { l, seen } = await mtlsListener([pki.ca.cert]);
  try {
    const conn = await within(
      connectTls("localhost", l.localPort, { caCerts: [pki.ca.cert], ...creds }),
      10_000,
      "connectTls",
    );
    // TLS 1.3: the client is done before the server judges its chain.
    const echoed = new Promise<string | null>((resolve) => {
      conn.onData = (_c, d) => resolve(dec.decode(d));
      conn.onClose = () => resolve(null);
    });
    conn.send(enc.encode("chained"));
    const reply = await within(echoed, 10_000, "echo or close");
    if (conn.isOpen) await conn.close();
    if (reply === null) await until(() => seen.errors.length > 0, 10_000, "the server's failure");
    return { reply, seen };
  } finally {
    l.close();
  }
}

// A leaf issued by `issuer`, sent with `intermediates` (nearest first).
async function chained(issuer: TestCa, ...intermediates: TestCa[]): Promise<Issued> {
  const leaf = await issue(issuer, { cn: "chained client", dns: ["client"], ips: [] });
  return { cert: leaf.cert + intermediates.map((i) => i.cert).join(""), key: leaf.key };
}

function assertRefused(r: Awaited<ReturnType<typeof chainTry>>, why: RegExp): void {
  assert.equal(r.reply, null);
  assert.equal(r.seen.accepted, 0);
  assert.deepEqual(r.seen.delivered, []);
  assert.ok(r.seen.errors.length >= 1);
  for (const e of r.seen.errors) {
    assert.ok(e instanceof Deno.errors.InvalidData, String(e));
    assert.match(e.message, why);
  }
}

Deno.test("tls client cert: leaf <- intermediate <- trusted root is accepted, the server sees the leaf", async () => {
  const intermediate = await makeIntermediate(pki.ca);
  const creds = await chained(intermediate, intermediate);
  let peer: Uint8Array | null = null;
  const { l, seen } = await mtlsListener([pki.ca.cert]);
  const count = l.onConnection!;
  l.onConnection = (li, c) => {
    peer = c.peerCertificate;
    count(li, c);
  };
  try {
    const conn = await connectTls("localhost", l.localPort, { caCerts: [pki.ca.cert], ...creds });
    const echoed = new Promise<string>((resolve) => (conn.onData = (_c, d) => resolve(dec.decode(d))));
    conn.send(enc.encode("chained"));
    assert.equal(await within(echoed, 10_000, "echo"), "chained");
    await conn.close();
  } finally {
    l.close();
  }
  assert.equal(seen.accepted, 1);
  assert.deepEqual(seen.errors, []);
  const end = "-----END CERTIFICATE-----";
  assert.deepEqual(peer, derOf(creds.cert.slice(0, creds.cert.indexOf(end) + end.length)));
});

Deno.test("tls client cert: two intermediates within the path length constraints are accepted", async () => {
  const upper = await makeIntermediate(pki.ca, { name: "upper", pathLen: 1 });
  const lower = await makeIntermediate(upper, { name: "lower", pathLen: 0 });
  const r = await chainTry(await chained(lower, lower, upper));
  assert.equal(r.reply, "chained");
  assert.equal(r.seen.accepted, 1);
});

Deno.test("tls client cert: a leaf whose issuer the client does not send is refused", async () => {
  const intermediate = await makeIntermediate(pki.ca);
  assertRefused(await chainTry(await chained(intermediate)), /not signed by a trusted CA/);
});

Deno.test("tls client cert: an intermediate without basicConstraints cA is refused", async () => {
  const notCa = await makeIntermediate(pki.ca, { ca: false });
  assertRefused(await chainTry(await chained(notCa, notCa)), /is not a CA/);
});

Deno.test("tls client cert: an expired intermediate is refused", async () => {
  const day = 86_400_000;
  const expired = await makeIntermediate(pki.ca, {
    notBefore: new Date(Date.now() - 30 * day),
    notAfter: new Date(Date.now() - day),
  });
  assertRefused(await chainTry(await chained(expired, expired)), /intermediate .* expired/);
});

Deno.test("tls client cert: a chain longer than an intermediate's path length constraint is refused", async () => {
  const upper = await makeIntermediate(pki.ca, { name: "upper", pathLen: 0 });
  const lower = await makeIntermediate(upper, { name: "lower" });
  assertRefused(await chainTry(await chained(lower, lower, upper)), /path length constraint \(0\) of CN=upper/);
});

/**
 * IP addresses: parsing numeric hosts, encoding the ABI's `aio_addr`, and
 * formatting addresses back for `NetAddress`.
 *
 * @module
 */
import { ADDR } from "../ffi/records.ts";

/**
 * An IP endpoint, as `Deno.NetAddr` without the transport.
 *
 * @example A listener's address
 * ```ts
 * import { type NetAddress, TcpListener } from "@eve/aio";
 *
 * const listener = await TcpListener.listen("127.0.0.1", 0);
 * const address: NetAddress | null = listener.localAddress;
 * console.log(address?.hostname, address?.port === listener.localPort); // "127.0.0.1" true
 * listener.close();
 * ```
 */
export interface NetAddress {
  /** The numeric address ("127.0.0.1", "::1"). */
  hostname: string;
  /** The port. */
  port: number;
  /** 4 for IPv4, 6 for IPv6. */
  family: 4 | 6;
}

/** A parsed IP address (no port). */
export interface IpAddr {
  family: 4 | 6;
  bytes: Uint8Array;
  scopeId: number;
}

function parseV4(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const v = Number(parts[i]);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

function parseV6(s: string): Uint8Array | null {
  const out = new Uint8Array(16);
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const words: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes(".")) {
        const v4 = parseV4(item);
        if (!v4) return null;
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
        words.push(parseInt(item, 16));
      }
    }
    return words;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const words = [...head, ...new Array(8 - total).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i] >> 8;
    out[i * 2 + 1] = words[i] & 0xff;
  }
  return out;
}

/** Parses a numeric IPv4/IPv6 host ("[::1]" and "fe80::1%2" accepted), or null. */
export function parseIp(host: string): IpAddr | null {
  let h = host;
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  const v4 = parseV4(h);
  if (v4) return { family: 4, bytes: v4, scopeId: 0 };
  let scopeId = 0;
  const pct = h.indexOf("%");
  if (pct >= 0) {
    const scope = h.slice(pct + 1);
    if (!/^\d+$/.test(scope)) return null;
    scopeId = Number(scope);
    h = h.slice(0, pct);
  }
  const v6 = h.includes(":") ? parseV6(h) : null;
  return v6 ? { family: 6, bytes: v6, scopeId } : null;
}

/** Formats address bytes as text (RFC 5952 for IPv6). */
export function formatIp(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  // IPv4-mapped addresses keep their IPv4 form (RFC 5952, section 5).
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${formatIp(4, bytes.subarray(12))}`;
  }
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  // The longest run of two or more zero words becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** Encodes an endpoint as the ABI's 24-byte `aio_addr`. */
export function encodeAddr(ip: IpAddr, port: number): Uint8Array {
  const buf = new Uint8Array(ADDR.size);
  const dv = new DataView(buf.buffer);
  dv.setUint16(ADDR.family, ip.family, true);
  dv.setUint16(ADDR.port, port, true);
  dv.setUint32(ADDR.scopeId, ip.scopeId, true);
  buf.set(ip.bytes, ADDR.bytes);
  return buf;
}

/** Decodes an `aio_addr` at `offset` of `buf`. */
export function decodeAddr(buf: Uint8Array, offset = 0): NetAddress & { scopeId: number; bytes: Uint8Array } {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, ADDR.size);
  const family = dv.getUint16(ADDR.family, true) === 6 ? 6 : 4;
  const bytes = buf.slice(offset + ADDR.bytes, offset + ADDR.bytes + (family === 6 ? 16 : 4));
  return {
    hostname: formatIp(family, bytes),
    port: dv.getUint16(ADDR.port, true),
    family,
    scopeId: dv.getUint32(ADDR.scopeId, true),
    bytes,
  };
}

/** "host:port" as Deno's permission descriptors spell it. */
export function hostPort(host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${h}:${port}`;
}

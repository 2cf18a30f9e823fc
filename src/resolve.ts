/**
 * Name resolution off the JS thread: getaddrinfo in the shim, bound as a
 * nonblocking FFI call. Numeric hosts never reach the resolver.
 *
 * @module
 */
import { native } from "../ffi/library.ts";
import { ADDR } from "../ffi/records.ts";
import { decodeAddr, type IpAddr, parseIp } from "./address.ts";
import { aioError, Code } from "./errors.ts";

const MAX_ADDRESSES = 16;

/** Resolves `host` to IP addresses in the resolver's order, narrowed by `family`. */
export async function resolveHost(host: string, family: 0 | 4 | 6): Promise<IpAddr[]> {
  const ip = parseIp(host);
  if (ip) {
    if (family !== 0 && ip.family !== family) {
      throw aioError(Code.EADDRNOTAVAIL, 0, `resolve ${host}: not an IPv${family} address`);
    }
    return [ip];
  }
  const out = new Uint8Array(ADDR.size * MAX_ADDRESSES);
  const err = new Int32Array(2);
  const name = new TextEncoder().encode(`${host}\0`);
  const n = await native().aio_resolve(name, family, out, MAX_ADDRESSES, err);
  if (n < 0) throw aioError(err[0] || n, err[1], `resolve ${host}`);
  const addrs: IpAddr[] = [];
  for (let i = 0; i < n; i++) {
    const a = decodeAddr(out, i * ADDR.size);
    addrs.push({ family: a.family, bytes: a.bytes, scopeId: a.scopeId });
  }
  return addrs;
}

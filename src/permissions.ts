/**
 * Deno-style permission checks, made before the OS is asked for anything.
 *
 * FFI code bypasses Deno's own permission checks, so `--allow-ffi` alone
 * would let this library reach any host. Like `Deno.listen`/`Deno.connect`
 * we check `net` for the host and port (and read/write for named endpoints),
 * prompting when the state is "prompt" and a terminal is attached.
 *
 * @module
 */
import { hostPort } from "./address.ts";

function terminalAttached(): boolean {
  try {
    return Deno.stdin.isTerminal();
  } catch {
    return false;
  }
}

function ensure(desc: Deno.PermissionDescriptor, what: string, flag: string): void {
  let status = Deno.permissions.querySync(desc);
  if (status.state === "prompt" && terminalAttached()) status = Deno.permissions.requestSync(desc);
  if (status.state !== "granted") {
    throw new Deno.errors.NotCapable(`Requires ${what}, run again with the ${flag} flag`);
  }
}

/** Checks `net` permission for host:port (listen and connect alike). */
export function checkNet(host: string, port: number): void {
  const target = hostPort(host, port);
  ensure({ name: "net", host: target }, `net access to "${target}"`, "--allow-net");
}

/** Checks what a named endpoint needs: read+write of its path, and for a
 * Windows pipe name also `net` for `unix:<name>` (as Deno 2.9 asks). */
export function checkNamedEndpoint(path: string): void {
  ensure({ name: "read", path }, `read access to "${path}"`, "--allow-read");
  ensure({ name: "write", path }, `write access to "${path}"`, "--allow-write");
  if (Deno.build.os === "windows") {
    ensure({ name: "net", host: `unix:${path}` }, `net access to "unix:${path}"`, "--allow-net");
  }
}

/**
 * Shared test helpers: bounded waits, data patterns, hashes, subprocesses.
 */
import { EventLoop } from "../mod.ts";

/** True under Windows (deno.exe under Wine in CI). */
export const isWindows = Deno.build.os === "windows";

/** Rejects if `p` does not settle within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every few ms until true, up to `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: condition not met within ${ms} ms`);
    await sleep(2);
  }
}

/** Deterministic bytes: a position-dependent pattern seeded by `seed`. */
export function pattern(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Hex SHA-256 of the bytes. */
export async function sha256(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Incremental collector of received bytes. */
export class Sink {
  chunks: Uint8Array[] = [];
  length = 0;
  push(d: Uint8Array): void {
    this.chunks.push(d.slice());
    this.length += d.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** Runs a Deno script in a subprocess with the given permissions; bounded by `ms`. */
export async function runScript(
  source: string,
  ms: number,
  flags: string[] = ["--allow-ffi", "--allow-read", "--allow-env"],
): Promise<{ code: number; stdout: string; stderr: string; elapsed: number }> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/script.ts`;
  const modUrl = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(file, source.replaceAll("MOD_URL", modUrl));
  const started = Date.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, file],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, ms);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      elapsed: Date.now() - started,
    };
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The default loop's open native handle count. */
export function handleCount(): number {
  return EventLoop.default.stats().handles;
}

/**
 * A named-endpoint path for tests. Windows: `\\.\pipe\aio-test-<k>` (Deno
 * wants `--allow-net=unix:<name>` for each exact name, so tools/test.sh
 * grants a fixed pool of them, k in 0..15); Linux: a socket in a temp dir.
 */
export function pipePath(k: number): string {
  if (isWindows) return `\\\\.\\pipe\\aio-test-${k}`;
  pipeDir ??= Deno.makeTempDirSync({ prefix: "aio-pipe-" });
  return `${pipeDir}/p${k}.sock`;
}
let pipeDir: string | undefined;

/**
 * Shared test helpers: bounded waits, data patterns, hashes, subprocesses.
 */
import { type ConnectOptions, EventLoop, TcpConnection, TcpListener } from "../mod.ts";

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

/**
 * What a runtime or Wine prints when a process faults, panics or aborts:
 * such output fails a test even when the process's own tests passed.
 */
export const FAULT_PATTERN =
  /Unhandled (page fault|exception)|starting debugger|Deno has panicked|panicked at|Fatal process|# Fatal error|Segmentation fault|Access violation|c0000409|c0000005|ERROR: (Address|Leak)Sanitizer|: runtime error: /i;

/** The outcome of a subprocess started by `runScript`/`runDeno`. */
export interface RunResult {
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
  elapsed: number;
}

/**
 * Runs `deno <args>` (this same deno, or deno.exe) in a subprocess, bounded by
 * `ms` (killed after it). Use `assertCleanExit` on the result: a subprocess
 * that crashes or faults at exit fails the test.
 */
export async function runDeno(args: string[], ms: number, env?: Record<string, string>): Promise<RunResult> {
  const started = Date.now();
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped", stdin: "null", env })
    .spawn();
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
      signal: out.signal,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      elapsed: Date.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a Deno script in a subprocess with the given permissions; bounded by `ms`. */
export async function runScript(
  source: string,
  ms: number,
  flags: string[] = ["--allow-ffi", "--allow-read", "--allow-env"],
  subcommand: "run" | "test" | "bench" = "run",
): Promise<RunResult> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/script${subcommand === "run" ? "" : `_${subcommand}`}.ts`;
  const modUrl = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(file, source.replaceAll("MOD_URL", modUrl));
  try {
    return await runDeno([subcommand, "--quiet", ...flags, file], ms);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Fails unless the subprocess exited with status 0, by itself, and printed
 * nothing that looks like a fault (a crash at exit after green tests is
 * still a crash).
 */
export function assertCleanExit(r: RunResult, what: string): void {
  const fault = FAULT_PATTERN.exec(r.stdout + "\n" + r.stderr);
  if (r.code !== 0 || r.signal !== null || fault) {
    throw new Error(
      `${what}: exit status ${r.code}${r.signal ? `, signal ${r.signal}` : ""}${
        fault ? `, fault printed: "${fault[0]}"` : ""
      }\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${r.stderr.slice(-4000)}`,
    );
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

/** A listener and a connected pair on the default loop; `done()` aborts both ends and closes the listener. */
export async function tcpPair(
  options?: ConnectOptions,
): Promise<{ l: TcpListener; c: TcpConnection; s: TcpConnection; done(): void }> {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const accepted = l.accept();
  const c = await TcpConnection.connect("127.0.0.1", l.localPort, options);
  const s = await within(accepted, 10_000, "accept");
  return {
    l,
    c,
    s,
    done() {
      c.abort();
      s.abort();
      l.close();
    },
  };
}

/**
 * A loopback port nobody listens on: a listener's port once it is closed and
 * a plain connect to it is refused (bounded wait).
 */
export async function closedPort(): Promise<number> {
  const l = await TcpListener.listen("127.0.0.1", 0);
  const port = l.localPort;
  l.close();
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch {
      return port;
    }
    await sleep(20);
  }
  throw new Error(`port ${port} still accepts after its listener closed`);
}

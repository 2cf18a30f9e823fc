/**
 * Runs the workloads on the system it runs on: for every run, every
 * implementation in turn (A B C A B C ...), each time a fresh server process
 * and fresh client process(es). Returns one Sample per (workload,
 * implementation, run). bench/run.ts calls it on Linux and runs it as a
 * script under Wine, where it prints `RESULT <json>` lines.
 *
 *   deno.exe run <perms> bench/driver.ts [--quick] [--runs=N] [--only=a,b]
 *
 * @module
 */
import { cpuSeconds, wineUnixPids } from "./cpu.ts";
import { Peer } from "./proc.ts";
import {
  IDLE_DELAY_MS,
  IDLE_WINDOW_MS,
  type Os,
  SCALE_HOSTS,
  type Side,
  WINDOWS_PIPES,
  type Workload,
  workloads,
} from "./workloads.ts";

/** One run of one implementation in one workload. */
export interface Sample {
  os: Os;
  workload: string;
  impl: string;
  run: number;
  ok: boolean;
  why?: string;
  /** The figure in the workload's unit (rate, bytes per connection, connections held, % of a core). */
  value?: number;
  /** CPU per unit of work in the workload's cpuUnit (rate workloads). */
  cpuPerUnit?: number;
  units?: number;
  ms?: number;
}

export interface SuiteOptions {
  quick: boolean;
  runs: number;
  only: string[] | null;
}

const os: Os = Deno.build.os === "windows" ? "windows" : "linux";
const HERE = new URL(".", import.meta.url);
const path = (rel: string) => decodeURIComponent(new URL(rel, HERE).pathname).replace(/^\/([A-Za-z]:)/, "$1");
/** Where the C peer is built (bench/run.ts builds it on Linux). */
export const EPOLL_BIN = path("../.cache/bench/epoll");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Permissions of the Deno peers: only loopback, and only what each needs. */
function denoFlags(impl: string, tmp: string): string[] {
  // Deno's node:net will not serve a named pipe without every permission.
  if (impl === "nodenet") return ["--allow-all"];
  // Deno asks for net access to each named endpoint ("unix:<path>") on both systems.
  const net = [...SCALE_HOSTS, ...[0, 1].map((k) => `unix:${pipePath(k, tmp)}`)];
  // A named pipe also wants write access to its name; on Linux the socket lives in tmp.
  const write = [tmp, ...(os === "windows" ? WINDOWS_PIPES : [])];
  const flags = ["--allow-read", `--allow-write=${write.join(",")}`, `--allow-net=${net.join(",")}`];
  if (impl === "ours") flags.push("--allow-ffi", "--allow-env");
  if (impl === "deno") flags.push(`--allow-run=${Deno.execPath()}`);
  return flags;
}

/** What identifies a peer's process by its command line (under Wine, where its Unix pid is not its Windows pid). */
function marker(impl: string, role: string, side: Side): string {
  return `${impl}.ts ${role} ${side.kind} `;
}

/** The command line of one peer process. */
function argv(impl: string, role: string, side: Side, extra: Record<string, number | string>, tmp: string): string[] {
  const params = { ...side.params, ...extra };
  switch (impl) {
    case "ours":
    case "deno":
    case "nodenet":
      return [
        Deno.execPath(),
        "run",
        "--quiet",
        ...denoFlags(impl, tmp),
        path(`peers/${impl}.ts`),
        role,
        side.kind,
        JSON.stringify(params),
      ];
    case "node":
      return ["node", path("peers/node.mjs"), role, side.kind, JSON.stringify(params)];
    case "c":
      // The C peer takes key=value arguments (no JSON parser in C).
      return [EPOLL_BIN, role, side.kind, ...Object.entries(params).map(([k, v]) => `${k}=${v}`)];
  }
  throw new Error(`unknown implementation ${impl}`);
}

/**
 * The Unix pids whose CPU a sample counts: the peers themselves on Linux;
 * under Wine their Unix processes (matched by command line) and the
 * wineserver.
 */
function unixPids(peers: Peer[]): number[] {
  if (os === "linux") return peers.map((p) => p.pid);
  const pids = new Set(wineUnixPids("wineserver"));
  for (const p of peers) for (const pid of wineUnixPids(p.marker)) pids.add(pid);
  return [...pids];
}

async function stats(server: Peer): Promise<Record<string, number>> {
  await server.send("STATS");
  return JSON.parse(await server.expect("STATS", 30_000));
}

async function runOne(w: Workload, impl: string, run: number, tmp: string): Promise<Sample> {
  const sample: Sample = { os, workload: w.name, impl, run, ok: false };
  const peers: Peer[] = [];
  const isPipe = w.server?.kind.startsWith("pipe") ?? false;
  try {
    let server: Peer | null = null;
    let addr: Record<string, number | string> = {};
    if (w.server) {
      const sImpl = w.fixedServer ?? impl;
      if (isPipe && os === "linux") await Deno.remove(w.server.params.path as string).catch(() => {});
      server = new Peer(`${sImpl} server`, argv(sImpl, "server", w.server, {}, tmp), marker(sImpl, "server", w.server));
      peers.push(server);
      const ready = await server.expect("READY", 60_000);
      addr = isPipe ? { path: ready } : { port: Number(ready) };
    }
    const base = w.measure === "memory" ? (await stats(server!)).rss : 0;
    const cImpl = w.fixedClient ?? impl;
    const clients = Array.from(
      { length: w.clients ?? 1 },
      (_, i) =>
        new Peer(`${cImpl} client ${i}`, argv(cImpl, "client", w.client, addr, tmp), marker(cImpl, "client", w.client)),
    );
    peers.push(...clients);
    await Promise.all(clients.map((c) => c.expect("READY", 180_000)));
    let after = 0;
    if (w.measure === "memory") {
      await sleep(1000); // let the server settle after the last connection's ping
      after = (await stats(server!)).rss;
    }
    const pids = unixPids(server ? [server, ...clients] : clients);
    const cpu0 = cpuSeconds(pids);
    await Promise.all(clients.map((c) => c.send("GO")));
    const results = (await Promise.all(clients.map((c) => c.expect("DONE", 300_000)))).map((s) => JSON.parse(s));
    const cpu = cpuSeconds(pids) - cpu0;
    const bad = results.find((r) => !r.ok);
    if (bad) throw new Error(`verification failed: ${bad.why}`);
    const units = results.reduce((s, r) => s + r.units, 0);
    const ms = Math.max(...results.map((r) => r.ms));
    sample.units = units;
    sample.ms = ms;
    if (w.server?.kind === "accept") {
      const accepted = (await stats(server!)).accepted;
      if (accepted !== units) throw new Error(`server accepted ${accepted} connections, client made ${units}`);
    }
    switch (w.measure) {
      case "rate":
        sample.value = units / (ms / 1000) * (w.rateScale ?? 1);
        sample.cpuPerUnit = cpu / units * (w.cpuScale ?? 1);
        break;
      case "memory":
        if (units !== w.client.params.conns) {
          throw new Error(`only ${units} of ${w.client.params.conns} connections held`);
        }
        sample.value = (after - base) / units;
        break;
      case "scale":
        sample.value = units;
        break;
      case "idlecpu": {
        // Traffic has stopped (the client holds its connections open, silent).
        await sleep(IDLE_DELAY_MS);
        const serverPids = unixPids([server!]);
        const c0 = cpuSeconds(serverPids);
        await sleep(IDLE_WINDOW_MS);
        // Whole ticks of CPU time (10 ms): no float noise in the percentage.
        const ticks = Math.round((cpuSeconds(serverPids) - c0) * 100);
        sample.value = ticks / 100 / (IDLE_WINDOW_MS / 1000) * 100;
        break;
      }
    }
    sample.ok = true;
  } catch (e) {
    sample.why = (e instanceof Error ? e.message : String(e)).slice(0, 600);
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
  return sample;
}

/** Named endpoint `k`: a pipe name on Windows, a socket in the run's temp dir on Linux. */
function pipePath(k: number, tmp: string): string {
  return os === "windows" ? WINDOWS_PIPES[k] : `${tmp}/p${k}.sock`;
}

/** Every selected workload, runs interleaved across implementations. */
export async function runSuite(opts: SuiteOptions, onSample: (s: Sample) => void): Promise<Sample[]> {
  const tmp = await Deno.makeTempDir({ prefix: "aio-bench-" });
  const out: Sample[] = [];
  try {
    for (const w of workloads(os, opts.quick, (k) => pipePath(k, tmp), tmp)) {
      if (opts.only && !opts.only.includes(w.name)) continue;
      for (let run = 1; run <= opts.runs; run++) {
        for (const impl of w.impls) {
          const s = await runOne(w, impl, run, tmp);
          out.push(s);
          onSample(s);
        }
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return out;
}

/** `--quick`, `--runs=N`, `--only=a,b` (shared with bench/run.ts). */
export function parseSuiteArgs(args: string[]): SuiteOptions {
  const quick = args.includes("--quick");
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? (quick ? 1 : 3));
  const only = args.find((a) => a.startsWith("--only="))?.slice(7).split(",") ?? null;
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new RangeError("--runs must be 1..20");
  return { quick, runs, only };
}

/** One progress line for a sample. */
export function describe(s: Sample): string {
  const head = `[${s.os}] ${s.workload} ${s.impl} run ${s.run}:`;
  if (!s.ok) return `${head} FAILED: ${s.why}`;
  const v = s.value! >= 100 ? Math.round(s.value!).toLocaleString("en-US") : s.value!.toFixed(2);
  return `${head} ${v}${s.cpuPerUnit !== undefined ? ` (cpu ${s.cpuPerUnit.toPrecision(3)}/unit)` : ""}`;
}

if (import.meta.main) {
  const opts = parseSuiteArgs(Deno.args);
  await runSuite(opts, (s) => {
    console.error(describe(s));
    console.log(`RESULT ${JSON.stringify(s)}`);
  });
}

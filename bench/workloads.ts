/**
 * The workloads of the suite (issue 17): what the server and client peers
 * do, with what sizes on each system, which implementations take part, how
 * a run's figure is computed and the target it is judged against.
 *
 * @module
 */

/** The systems the suite runs on: native Linux, and deno.exe under Wine. */
export type Os = "linux" | "windows";

/** How a workload's figure is taken. */
export type Measure =
  | "rate" // units per second; CPU per unit of work (server + client)
  | "memory" // bytes of server RSS per held connection
  | "scale" // connections held that all answered a ping
  | "idlecpu"; // server CPU, % of a core, over IDLE_WINDOW_MS after traffic stopped

/** One side's process: a peer kind and its parameters. */
export interface Side {
  kind: string;
  params: Record<string, number | string | string[]>;
}

export interface Workload {
  name: string;
  title: string;
  measure: Measure;
  /** Implementations compared; the first is ours, "deno" is the reference. */
  impls: string[];
  /** null: the client runs alone (the anonymous pipe). */
  server: Side | null;
  client: Side;
  /** Client processes (scale spreads its connections over several). */
  clients?: number;
  /** An implementation playing the other side for every row (accept: one side under test). */
  fixedServer?: string;
  fixedClient?: string;
  /** Units of `rate`, e.g. "MB/s", and of CPU per unit, e.g. "µs/rt". */
  unit: string;
  cpuUnit?: string;
  /** Scales a rate (units/s) to `unit`, and CPU seconds per unit to `cpuUnit`. */
  rateScale?: number;
  cpuScale?: number;
  /** ours/deno ratio to reach (>= for rate, <= for memory), or an absolute figure (scale, idle CPU). */
  target: { ratio?: number; atMost?: boolean; value?: number; text: string };
}

/** Pause after traffic stops before the idle CPU window, and the window. */
export const IDLE_DELAY_MS = 100;
export const IDLE_WINDOW_MS = 2000;

/** Named endpoints: Deno wants --allow-net=unix:<exact name> for each pipe on Windows. */
export const WINDOWS_PIPES = [0, 1].map((k) => `\\\\.\\pipe\\aio-bench-${k}`);

/** Loopback addresses the scale workload spreads connections over (each has its own ephemeral ports). */
export const SCALE_HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

const GiB = 1 << 30, MiB = 1 << 20;

/**
 * The workload list for one system; `quick` shrinks every size for a smoke
 * run. `tlsDir`: where a TLS server peer writes the CA its clients trust
 * (each server makes its own CA and certificate at start).
 */
export function workloads(os: Os, quick: boolean, pipePath: (k: number) => string, tlsDir = "."): Workload[] {
  const win = os === "windows";
  const pick = (linux: number, windows: number, quickLinux: number, quickWindows: number) =>
    quick ? (win ? quickWindows : quickLinux) : (win ? windows : linux);
  // Peers beside ours and Deno's: Node and a C epoll program on Linux; on
  // Windows only deno.exe runs (its node:net for named pipes).
  const tcpPeers = win ? ["ours", "deno"] : ["ours", "deno", "node", "c"];
  const pipePeers = win ? ["ours", "nodenet"] : ["ours", "deno", "node", "c"];
  const fixed = win ? "deno" : "c";
  const bulkBytes = pick(GiB, GiB, 128 * MiB, 32 * MiB);
  const pipeBytes = pick(256 * MiB, 64 * MiB, 32 * MiB, 16 * MiB);
  const rounds = pick(20_000, 2_000, 4_000, 500);
  const tlsBytes = pick(256 * MiB, 64 * MiB, 32 * MiB, 16 * MiB);
  const acceptCount = pick(5_000, 500, 1_000, 200);
  const many = win
    ? { conns: quick ? 50 : 200, rounds: quick ? 20 : 100 }
    : { conns: quick ? 200 : 1000, rounds: quick ? 30 : 100 };
  // Under Wine, the scale aim: thousands of connections cost minutes there.
  const idleConns = pick(10_000, 2_000, 2_000, 100);
  const scaleConns = pick(19_000, 2_000, 4_000, 300);
  const rt = { unit: "rt/s", cpuUnit: "µs/rt", cpuScale: 1e6 };
  const bytes = { unit: "MB/s", rateScale: 1e-6, cpuUnit: "s/GiB", cpuScale: GiB };
  return [
    {
      name: "bulk",
      title: `bulk: 1 connection, ${bulkBytes / MiB} MiB in 64 KiB writes`,
      measure: "rate",
      impls: tcpPeers,
      server: { kind: "sink", params: { bytes: bulkBytes } },
      client: { kind: "bulk", params: { bytes: bulkBytes } },
      ...bytes,
      target: win ? { ratio: 1.0, text: ">= 1.0x" } : { ratio: 1.1, text: ">= 1.1x" },
    },
    {
      name: "ping-pong",
      title: `ping-pong: 1 connection, 64 B, ${rounds} round trips`,
      measure: "rate",
      impls: tcpPeers,
      server: { kind: "echo", params: {} },
      client: { kind: "ping", params: { conns: 1, rounds } },
      ...rt,
      target: win
        ? { ratio: 1.2, text: ">= 1.2x" }
        : { ratio: 1.2, text: ">= 1.2x, CPU per round trip <= 1.2x Deno's" },
    },
    {
      name: "many",
      title: `many: ${many.conns} connections x ${many.rounds} ping-pongs`,
      measure: "rate",
      impls: tcpPeers,
      server: { kind: "echo", params: {} },
      client: { kind: "ping", params: many },
      ...rt,
      target: win ? { ratio: 2.5, text: ">= 2.5x" } : { ratio: 1.5, text: ">= 1.5x" },
    },
    {
      name: "accept-server",
      title: `accept, server side: ${acceptCount} sequential connect+close from a ${fixed} client`,
      measure: "rate",
      impls: tcpPeers,
      fixedClient: fixed,
      server: { kind: "accept", params: {} },
      client: { kind: "accept", params: { count: acceptCount } },
      unit: "conn/s",
      cpuUnit: "µs/conn",
      cpuScale: 1e6,
      target: { ratio: 1.5, text: ">= 1.5x" },
    },
    {
      name: "accept-client",
      title: `accept, client side: ${acceptCount} sequential connect+close to a ${fixed} server`,
      measure: "rate",
      impls: tcpPeers,
      fixedServer: fixed,
      server: { kind: "accept", params: {} },
      client: { kind: "accept", params: { count: acceptCount } },
      unit: "conn/s",
      cpuUnit: "µs/conn",
      cpuScale: 1e6,
      target: { ratio: 1.5, text: ">= 1.5x" },
    },
    {
      name: "idle-memory",
      title: `idle memory: server RSS per connection, ${idleConns} idle connections`,
      measure: "memory",
      impls: ["ours", "deno"],
      fixedClient: "deno",
      // Spread over several addresses as scale is: under Wine, 2,000
      // connections to one address often fail to open in time.
      server: { kind: "echo", params: { hosts: SCALE_HOSTS } },
      client: { kind: "hold", params: { conns: idleConns, hosts: SCALE_HOSTS } },
      unit: "B/conn",
      target: { ratio: 0.5, atMost: true, text: "<= 0.5x" },
    },
    {
      name: "scale",
      title: `scale: connections one server holds, each answering a ping (aim ${scaleConns})`,
      measure: "scale",
      impls: ["ours", "deno"],
      fixedClient: "deno",
      clients: scaleConns > 9_000 ? 2 : 1,
      server: { kind: "echo", params: { hosts: SCALE_HOSTS } },
      client: {
        kind: "hold",
        params: { conns: Math.ceil(scaleConns / (scaleConns > 9_000 ? 2 : 1)), hosts: SCALE_HOSTS },
      },
      unit: "conns",
      target: { value: win ? 2_000 : 19_000, text: `${win ? "2,000" : "19,000"} held` },
    },
    {
      name: "pipe-ping",
      title: `named endpoint ping-pong: 64 B, ${rounds} round trips`,
      measure: "rate",
      impls: pipePeers,
      server: { kind: "pipe-echo", params: { path: pipePath(0) } },
      client: { kind: "pipe-ping", params: { path: pipePath(0), rounds } },
      ...rt,
      target: win ? { ratio: 2, text: ">= 2x node:net" } : { ratio: 1.2, text: ">= 1.2x Unix sockets" },
    },
    {
      name: "pipe-bulk",
      title: `named endpoint throughput: ${pipeBytes / MiB} MiB in 64 KiB writes`,
      measure: "rate",
      impls: pipePeers,
      server: { kind: "pipe-sink", params: { path: pipePath(1), bytes: pipeBytes } },
      client: { kind: "pipe-bulk", params: { path: pipePath(1), bytes: pipeBytes } },
      ...bytes,
      target: win ? { ratio: 2, text: ">= 2x node:net" } : { ratio: 1.2, text: ">= 1.2x Unix sockets" },
    },
    {
      name: "pipe-anon",
      title: `anonymous pipe pair: ${pipeBytes / MiB} MiB (ours: both ends in one process; Deno: a child's stdout)`,
      measure: "rate",
      impls: ["ours", "deno"],
      server: null,
      client: { kind: "anon", params: { bytes: pipeBytes } },
      ...bytes,
      target: { text: "(no target)" },
    },
    {
      name: "tls-bulk",
      title: `TLS bulk: 1 connection, ${tlsBytes / MiB} MiB in 64 KiB writes (TLS 1.3)`,
      measure: "rate",
      impls: ["ours", "deno"],
      server: { kind: "tls-sink", params: { bytes: tlsBytes, dir: tlsDir } },
      client: { kind: "tls-bulk", params: { bytes: tlsBytes, dir: tlsDir } },
      ...bytes,
      target: { ratio: 0.8, text: ">= 0.8x Deno.connectTls/listenTls" },
    },
    {
      name: "tls-ping",
      title: `TLS ping-pong: 1 connection, 64 B, ${rounds} round trips (TLS 1.3)`,
      measure: "rate",
      impls: ["ours", "deno"],
      server: { kind: "tls-echo", params: { dir: tlsDir } },
      client: { kind: "tls-ping", params: { conns: 1, rounds, dir: tlsDir } },
      ...rt,
      target: { ratio: 1.0, text: ">= 1.0x Deno.connectTls/listenTls" },
    },
    {
      name: "idle-cpu",
      title: `idle CPU: echo server, ${IDLE_WINDOW_MS} ms from ${IDLE_DELAY_MS} ms after 10 connections stop`,
      measure: "idlecpu",
      impls: ["ours", "deno"],
      fixedClient: "deno",
      server: { kind: "echo", params: {} },
      client: { kind: "ping", params: { conns: 10, rounds: pick(1_000, 100, 200, 20) } },
      unit: "% of a core",
      target: { value: 1, atMost: true, text: "< 1% of a core" },
    },
  ];
}

/** The reference implementation a ratio is taken against: Deno's built-in, or node:net for Windows named pipes. */
export function referenceOf(w: Workload): string {
  return w.impls.includes("deno") ? "deno" : "nodenet";
}

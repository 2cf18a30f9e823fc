/**
 * The benchmark suite (`deno task bench`): builds what it needs, runs every
 * workload on Linux, then under Wine when the Wine environment can run
 * here, and writes RESULTS.md and results.svg.
 *
 *   deno task bench [--quick] [--runs=N] [--only=bulk,many] [--linux|--windows] [--out=DIR]
 *   deno task bench --report=.cache/bench/last-run.json [--out=DIR]   (the report again, from a saved run)
 *
 * It runs with --allow-all: Deno grants reads of /proc (CPU times, machine
 * facts) only to --allow-all, and --allow-run to start the peers amounts
 * to as much. The peers it starts get narrow permissions (loopback only).
 *
 * A full run (no --quick/--only) writes bench/RESULTS.md and
 * bench/results.svg; a partial one writes them to .cache/bench/ unless
 * --out says where.
 *
 * @module
 */
import { describe, EPOLL_BIN, parseSuiteArgs, runSuite, type Sample } from "./driver.ts";
import { forEachLine } from "./proc.ts";
import { markdown, svg, verdicts } from "./report.ts";
import { type Os, WINDOWS_PIPES, workloads } from "./workloads.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const args = Deno.args;
const opts = parseSuiteArgs(args);
const wantLinux = !args.includes("--windows") || args.includes("--linux");
const wantWindows = !args.includes("--linux") || args.includes("--windows");
const full = !opts.quick && !opts.only;
const outDir = args.find((a) => a.startsWith("--out="))?.slice(6) ?? (full ? `${REPO}/bench` : `${REPO}/.cache/bench`);
// The Wine part is bounded as a whole; its driver bounds each step too.
const WINE_TIMEOUT = "30m";

async function output(cmd: string, cmdArgs: string[]): Promise<{ code: number; text: string }> {
  try {
    const o = await new Deno.Command(cmd, { args: cmdArgs, cwd: REPO, stdin: "null" }).output();
    const dec = new TextDecoder();
    return { code: o.code, text: (dec.decode(o.stdout) + dec.decode(o.stderr)).trim() };
  } catch (e) {
    return { code: -1, text: String(e) };
  }
}

async function must(what: string, cmd: string, cmdArgs: string[]): Promise<void> {
  const r = await output(cmd, cmdArgs);
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.text}`);
}

function log(line: string): void {
  console.error(line);
}

/** The Windows part: the driver as a deno.exe script under Wine, its samples read from `RESULT` lines. */
async function runWine(samples: Sample[], notes: string[]): Promise<void> {
  const setup = await output("bash", ["tools/wine_env.sh", "setup"]);
  if (setup.code !== 0) {
    notes.push(`Windows part not run: the Wine environment is not available (${setup.text.split("\n").pop()})`);
    log(`wine: not available: ${setup.text.split("\n").pop()}`);
    return;
  }
  const passArgs = args.filter((a) => /^--(quick|runs=|only=)/.test(a));
  const child = new Deno.Command("timeout", {
    args: [
      "--kill-after=30s",
      WINE_TIMEOUT,
      "bash",
      "tools/wine_env.sh",
      "run",
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-run=Z:\\opt\\deno-win\\deno.exe",
      "bench/driver.ts",
      ...passArgs,
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const got = samples.length;
  const stderrTail: string[] = [];
  // `timeout` runs in its own process group, out of reach of the terminal's
  // Ctrl-C: hand it the signal (it relays it to the whole Wine run).
  const relay = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", relay);
  Deno.addSignalListener("SIGTERM", relay);
  try {
    await Promise.all([
      forEachLine(child.stdout, (l) => {
        if (l.startsWith("RESULT ")) samples.push(JSON.parse(l.slice(7)));
      }),
      forEachLine(child.stderr, (l) => {
        log(l);
        stderrTail.push(l);
        if (stderrTail.length > 20) stderrTail.shift();
      }),
    ]);
  } finally {
    const status = await child.status;
    Deno.removeSignalListener("SIGINT", relay);
    Deno.removeSignalListener("SIGTERM", relay);
    if (status.code !== 0) {
      notes.push(
        `The Windows driver exited with status ${status.code}${
          status.code === 124 ? ` (timed out after ${WINE_TIMEOUT})` : ""
        }; ` +
          `${samples.length - got} samples came back. Last output: ${stderrTail.slice(-3).join(" / ")}`,
      );
    }
  }
}

/** What the report says about the machine and the tools. */
async function machine(): Promise<string[]> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const osName = (await Deno.readTextFile("/etc/os-release").catch(() => "")).match(/PRETTY_NAME="?([^"\n]*)/)?.[1];
  const mem = Math.round(Deno.systemMemoryInfo().total / 2 ** 30);
  const first = (t: string) => t.split("\n")[0];
  const wine = (await Deno.readTextFile(`${REPO}/.cache/wine/rootfs/var/lib/dpkg/status`).catch(() => ""))
    .match(/Package: wine64\n(?:.*\n)*?Version: (.*)/)?.[1];
  return [
    `${cpu}, ${navigator.hardwareConcurrency} CPUs, ${mem} GiB RAM; ${osName ?? "Linux"}, kernel ${Deno.osRelease()}`,
    `fd limit per process: ${first((await output("bash", ["-c", "ulimit -Hn"])).text)} (hard); ephemeral ports ${
      (await Deno.readTextFile("/proc/sys/net/ipv4/ip_local_port_range")).trim().replace(/\s+/, "-")
    }`,
    `deno ${Deno.version.deno} (Linux); node ${(await output("node", ["--version"])).text}; ${
      first((await output("gcc", ["--version"])).text)
    }`,
    `Windows: deno.exe 2.9.6 under Wine ${wine ?? "(not installed)"} in a Debian trixie chroot (tools/wine_env.sh)`,
    `load average at the start: ${
      (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")
    } (other work shares this machine; compare ratios within one run)`,
  ];
}

/** What a run produced; kept in .cache/bench/last-run.json so `--report=` can redo the report without rerunning. */
interface SavedRun {
  info: { date: string; machine: string[] };
  samples: Sample[];
  notes: string[];
  durations: string[];
}

async function runAll(): Promise<SavedRun> {
  const started = new Date();
  const t0 = performance.now();
  const samples: Sample[] = [];
  const notes: string[] = [
    "Sizes: as issue 17 asks on Linux (bulk 1 GiB, many 1,000 x 100, idle memory 10,000 connections, scale 19,000). Under Wine every socket call is a wineserver request and a process start costs seconds, so some Windows sizes are smaller (see each table's title: ping-pong 2,000 round trips, many 200 x 100, accept 500, idle memory and scale 2,000 connections, pipes 64 MiB) to keep the whole run within ~25 minutes on this 2-core machine.",
    "Accept: the side under test faces a fixed peer (the C program on Linux, deno.exe's built-in under Wine), so each row times one implementation's accept (server side) or connect (client side).",
  ];
  const durations: string[] = [];
  const info = { date: started.toISOString(), machine: await machine() };

  log("build: deno task build, gcc bench/peers/epoll.c");
  await must("deno task build", Deno.execPath(), ["task", "build"]);
  await Deno.mkdir(`${REPO}/.cache/bench`, { recursive: true });
  await must("gcc", "gcc", ["-O2", "-o", EPOLL_BIN, `${REPO}/bench/peers/epoll.c`]);

  if (wantLinux) {
    const t = performance.now();
    await runSuite(opts, (s) => {
      samples.push(s);
      log(describe(s));
    });
    durations.push(`Linux part: ${Math.round((performance.now() - t) / 1000)} s`);
  }
  if (wantWindows) {
    const t = performance.now();
    await runWine(samples, notes);
    durations.push(`Windows part (Wine): ${Math.round((performance.now() - t) / 1000)} s, Wine start included`);
  }
  durations.push(`whole run: ${Math.round((performance.now() - t0) / 1000)} s, build included`);
  const run = { info, samples, notes, durations };
  await Deno.writeTextFile(LAST_RUN, JSON.stringify(run));
  return run;
}

const LAST_RUN = `${REPO}/.cache/bench/last-run.json`;
const from = args.find((a) => a.startsWith("--report="))?.slice(9);
const { info, samples, notes, durations }: SavedRun = from ? JSON.parse(await Deno.readTextFile(from)) : await runAll();

const tmpPipe = (k: number) => `<tmp>/p${k}.sock`;
const list: Record<Os, ReturnType<typeof workloads>> = {
  linux: workloads("linux", opts.quick, tmpPipe),
  windows: workloads("windows", opts.quick, (k) => WINDOWS_PIPES[k]),
};
const md = markdown(samples, list, {
  ...info,
  commands: [
    `deno task bench ${args.filter((a) => !a.startsWith("--report=")).join(" ")}`.trim(),
    "(= deno run --allow-all bench/run.ts; Deno reads /proc only with --allow-all)",
    "Windows part: bash tools/wine_env.sh run run --quiet --allow-read --allow-write --allow-run=Z:\\opt\\deno-win\\deno.exe bench/driver.ts",
    "peers: deno run --quiet --allow-read --allow-write=<tmp> --allow-net=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,unix:<endpoints> [--allow-ffi --allow-env] bench/peers/<impl>.ts <role> <kind> <json>",
  ],
  durations,
  notes,
  gaps: await Deno.readTextFile(new URL("./GAPS.md", import.meta.url)).catch(() => undefined),
  quick: opts.quick,
  runs: opts.runs,
});
await Deno.mkdir(outDir, { recursive: true });
await Deno.writeTextFile(`${outDir}/RESULTS.md`, md);
await Deno.writeTextFile(`${outDir}/results.svg`, svg(verdicts(samples, list)));
log(`wrote ${outDir}/RESULTS.md and ${outDir}/results.svg`);
console.log(md.slice(md.indexOf("## Targets"), md.indexOf("\n## ", md.indexOf("## Targets") + 5)));

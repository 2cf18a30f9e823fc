/**
 * Turns the samples of a suite run into bench/RESULTS.md (every figure,
 * each target beside its figure, met or missed) and bench/results.svg (the
 * ratio to the reference per workload, both backends).
 *
 * @module
 */
import type { Sample } from "./driver.ts";
import { CPU_SCOPE } from "./cpu.ts";
import { IDLE_DELAY_MS, IDLE_WINDOW_MS, type Os, referenceOf, type Workload } from "./workloads.ts";

/** One implementation's figures in one workload on one system. */
interface Row {
  impl: string;
  ok: number;
  failed: Sample[];
  median?: number;
  min?: number;
  max?: number;
  cpu?: number;
}

/** Everything the report says besides the samples. */
export interface RunInfo {
  date: string;
  machine: string[];
  commands: string[];
  durations: string[];
  notes: string[];
  /** Why the missed targets are missed (bench/GAPS.md), included as written. */
  gaps?: string;
  quick: boolean;
  runs: number;
}

const OS_TITLE: Record<Os, string> = { linux: "Linux (epoll)", windows: "Windows under Wine (IOCP)" };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function rows(samples: Sample[], os: Os, w: Workload): Row[] {
  return w.impls.map((impl) => {
    const mine = samples.filter((s) => s.os === os && s.workload === w.name && s.impl === impl);
    const good = mine.filter((s) => s.ok);
    const vals = good.map((s) => s.value!);
    const cpus = good.filter((s) => s.cpuPerUnit !== undefined).map((s) => s.cpuPerUnit!);
    return {
      impl,
      ok: good.length,
      failed: mine.filter((s) => !s.ok),
      ...(vals.length ? { median: median(vals), min: Math.min(...vals), max: Math.max(...vals) } : {}),
      ...(cpus.length ? { cpu: median(cpus) } : {}),
    };
  });
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** The verdict of one workload on one system. */
export interface Verdict {
  workload: Workload;
  os: Os;
  figure: string;
  ratio?: number;
  met: boolean | null;
}

function verdict(samples: Sample[], os: Os, w: Workload): Verdict {
  const rs = rows(samples, os, w);
  const ours = rs.find((r) => r.impl === "ours")!, ref = rs.find((r) => r.impl === referenceOf(w))!;
  const refName = referenceOf(w) === "deno" ? "Deno" : "node:net";
  if (ours.median === undefined) {
    return { workload: w, os, figure: "no successful run", met: w.target.text.startsWith("(") ? null : false };
  }
  switch (w.measure) {
    case "rate":
    case "memory": {
      if (ref.median === undefined) {
        return { workload: w, os, figure: `${fmt(ours.median)} ${w.unit}; ${refName}: no successful run`, met: null };
      }
      const ratio = ours.median / ref.median;
      let figure = `${ratio.toFixed(2)}x (${fmt(ours.median)} vs ${fmt(ref.median)} ${w.unit})`;
      let met: boolean | null = w.target.ratio === undefined
        ? null
        : w.target.atMost
        ? ratio <= w.target.ratio
        : ratio >= w.target.ratio;
      if (ours.cpu !== undefined && ref.cpu !== undefined) {
        const cpuRatio = ours.cpu / ref.cpu;
        figure += `; CPU ${cpuRatio.toFixed(2)}x (${fmt(ours.cpu)} vs ${fmt(ref.cpu)} ${w.cpuUnit})`;
        if (os === "linux" && w.name === "ping-pong" && met !== null) met = met && cpuRatio <= 1.2;
      }
      return { workload: w, os, figure, ratio, met };
    }
    case "scale":
      return {
        workload: w,
        os,
        figure: `${fmt(ours.median)} held (${refName}: ${fmt(ref.median)})`,
        ratio: ref.median ? ours.median / ref.median : undefined,
        met: ours.median >= w.target.value!,
      };
    case "idlecpu":
      return {
        workload: w,
        os,
        figure: `${ours.median.toFixed(2)}% (max ${ours.max!.toFixed(2)}%; ${refName}: ${fmt(ref.median)}%)`,
        // CPU times come in 10 ms ticks: drop float noise before comparing.
        met: Number(ours.max!.toFixed(6)) < w.target.value!,
      };
  }
}

function table(samples: Sample[], os: Os, w: Workload): string[] {
  const rs = rows(samples, os, w), ref = rs.find((r) => r.impl === referenceOf(w));
  const out = [
    `| implementation | median [min-max] ${w.unit} | ${w.cpuUnit ? `CPU ${w.cpuUnit}` : ""} | ratio to ${
      referenceOf(w)
    } | runs ok |`,
    "|---|---|---|---|---|",
  ];
  for (const r of rs) {
    const ratio = r.median !== undefined && ref?.median ? `${(r.median / ref.median).toFixed(2)}x` : "-";
    const range = r.median === undefined ? "-" : `${fmt(r.median)} [${fmt(r.min)}-${fmt(r.max)}]`;
    out.push(`| ${r.impl} | ${range} | ${fmt(r.cpu)} | ${ratio} | ${r.ok}/${r.ok + r.failed.length} |`);
  }
  for (const r of rs) {
    for (const f of r.failed) out.push(``, `- ${r.impl} run ${f.run} failed: ${f.why?.replace(/\s+/g, " ")}`);
  }
  return out;
}

const IMPLS = [
  "- ours: @eve/aio through mod.ts (bench/peers/ours.ts)",
  "- deno: Deno's built-in Deno.listen/Deno.connect, Unix sockets for named endpoints, a child's stdout for the anonymous pipe (bench/peers/deno.ts)",
  "- node: Node 20 `net` (bench/peers/node.mjs), Linux only",
  "- c: a C epoll program, the machine's limit (bench/peers/epoll.c, built with gcc -O2), Linux only",
  "- nodenet: Deno's node:net named pipes (bench/peers/nodenet.ts), Windows only",
];

/** RESULTS.md. */
export function markdown(samples: Sample[], list: Record<Os, Workload[]>, info: RunInfo): string {
  const oses = (["linux", "windows"] as Os[]).filter((os) => samples.some((s) => s.os === os));
  const out = [
    "# @eve/aio benchmark results",
    "",
    `Generated by \`deno task bench\` (bench/run.ts) on ${info.date}.${
      info.quick ? " **Quick run: small sizes, not for judging.**" : ""
    }`,
    "",
    "## Machine",
    "",
    ...info.machine.map((m) => `- ${m}`),
    "",
    "## Commands",
    "",
    ...info.commands.map((c) => `    ${c}`),
    "",
    ...info.durations.map((d) => `- ${d}`),
    "",
    "## Method",
    "",
    `Each workload runs every implementation in a fresh server process and fresh client process(es), interleaved (A B C D A B C D ...), ${info.runs} run(s) each; figures are medians with [min-max] over the runs. Only the client's work after GO is timed (process start and connection setup are not). Every run verifies what it moved: byte counts and block-index/content checks of bulk streams (reported back by the receiver), every echo compared byte for byte, accepted-connection counts from the server; a run that fails verification counts as failed, never as a figure.`,
    "",
    `CPU per unit: user+system seconds over the timed part, divided by the units of work. Linux: ${CPU_SCOPE.linux}. Windows: ${CPU_SCOPE.windows}.`,
    "",
    `Idle memory: the server's RSS growth (its own Deno.memoryUsage().rss) from before the first connection to 1 s after the last one was opened (over 127.0.0.1-4, as for scale) and pinged, per connection. Scale: connections the server holds at once that all answer a ping, opened by separate client processes over ${"127.0.0.1-4"} (each address has its own ephemeral ports). Idle CPU: the server process's CPU (under Wine plus the wineserver's) over ${IDLE_WINDOW_MS} ms starting ${IDLE_DELAY_MS} ms after the client stopped sending (connections kept open), in % of one core (the kernel counts CPU in 10 ms ticks: one tick is 0.5% here); met when the highest run is below the target.`,
    "",
    "Implementations:",
    "",
    ...IMPLS,
    "",
    ...info.notes.map((n) => `- ${n}`),
    "",
    "![ratios](results.svg)",
    "",
    "## Targets",
    "",
    "| workload | system | figure: ours vs reference (medians) | target | met |",
    "|---|---|---|---|---|",
  ];
  for (const os of oses) {
    for (const w of list[os]) {
      if (!samples.some((s) => s.os === os && s.workload === w.name)) continue;
      const v = verdict(samples, os, w);
      const met = v.met === null ? "-" : v.met ? "met" : "**missed**";
      out.push(`| ${w.name} | ${os} | ${v.figure} | ${w.target.text} | ${met} |`);
    }
  }
  if (info.gaps) out.push("", "## Where a target is missed, and why", "", info.gaps.trim());
  for (const os of oses) {
    out.push("", `## ${OS_TITLE[os]}`);
    for (const w of list[os]) {
      if (!samples.some((s) => s.os === os && s.workload === w.name)) continue;
      out.push("", `### ${w.title}`, "", ...table(samples, os, w));
    }
  }
  return out.join("\n") + "\n";
}

/** The verdicts with a ratio, for the chart. */
export function verdicts(samples: Sample[], list: Record<Os, Workload[]>): Verdict[] {
  const out: Verdict[] = [];
  for (const os of ["linux", "windows"] as Os[]) {
    for (const w of list[os]) {
      if (samples.some((s) => s.os === os && s.workload === w.name)) out.push(verdict(samples, os, w));
    }
  }
  return out;
}

/** results.svg: horizontal bars of ours/reference per workload, one bar per system, targets marked. */
export function svg(vs: Verdict[]): string {
  const names = [...new Set(vs.filter((v) => v.ratio !== undefined).map((v) => v.workload.name))];
  const rowH = 44, left = 230, width = 520, top = 56;
  const maxRatio = Math.max(2, ...vs.map((v) => v.ratio ?? 0), ...vs.map((v) => v.workload.target.ratio ?? 0)) * 1.05;
  const x = (r: number) => Math.round(left + (r / maxRatio) * width);
  const h = top + names.length * rowH + 40;
  const color: Record<Os, string> = { linux: "#3b7dd8", windows: "#e08a2c" };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + width + 120
    }" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">@eve/aio / reference (Deno built-in; node:net for Windows pipes), medians</text>`,
    `<rect x="10" y="30" width="12" height="12" fill="${color.linux}"/><text x="26" y="40">Linux (epoll)</text>`,
    `<rect x="120" y="30" width="12" height="12" fill="${color.windows}"/><text x="136" y="40">Windows under Wine (IOCP)</text>`,
    `<line x1="320" x2="320" y1="29" y2="43" stroke="black" stroke-width="2"/><text x="326" y="40">target</text>`,
  ];
  names.forEach((name, i) => {
    const y = top + i * rowH;
    const lowerBetter = vs.find((v) => v.workload.name === name)?.workload.target.atMost;
    parts.push(
      `<text x="${left - 8}" y="${y + 22}" text-anchor="end">${name}${lowerBetter ? " (lower is better)" : ""}</text>`,
    );
    (["linux", "windows"] as Os[]).forEach((os, j) => {
      const v = vs.find((v) => v.workload.name === name && v.os === os);
      if (!v || v.ratio === undefined) return;
      const by = y + 4 + j * 18;
      parts.push(
        `<rect x="${left}" y="${by}" width="${Math.max(1, x(v.ratio) - left)}" height="14" fill="${color[os]}"/>`,
      );
      parts.push(
        `<text x="${x(v.ratio) + 4}" y="${by + 11}">${v.ratio.toFixed(2)}x${v.met === false ? " (missed)" : ""}</text>`,
      );
      if (v.workload.target.ratio !== undefined) {
        const tx = x(v.workload.target.ratio);
        parts.push(`<line x1="${tx}" x2="${tx}" y1="${by - 1}" y2="${by + 15}" stroke="black" stroke-width="2"/>`);
      }
    });
  });
  parts.push(
    `<line x1="${x(1)}" x2="${x(1)}" y1="${top - 4}" y2="${
      top + names.length * rowH
    }" stroke="#888" stroke-dasharray="4 3"/>`,
  );
  parts.push(`<text x="${x(1)}" y="${top + names.length * rowH + 14}" text-anchor="middle">1.0x</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

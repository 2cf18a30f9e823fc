/**
 * CPU seconds (user + system) from /proc, the same source on both systems.
 *
 * Linux: the server's and the client's processes, all threads, plus their
 * reaped children (the anonymous-pipe writer of Deno's peer).
 * Windows under Wine: a Wine process's work is split between the process
 * and the wineserver (every socket call is a request to it), so the figure
 * is the whole pid namespace the run lives in (tools/wine_env.sh gives each
 * run its own): server, client, wineserver, Wine's services and the driver
 * (waiting, nearly idle). Only one pair of peers runs at a time. Reaped
 * children are left out there: a process of an earlier run reaped late
 * would land in the window; so a child that ends inside the window (Deno's
 * anonymous-pipe writer) is missed.
 *
 * @module
 */

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux x86-64 kernel

/** The proc file system: `/proc` on Linux, `Z:\proc` for deno.exe under Wine (Z: is the chroot's root). */
const PROC = Deno.build.os === "windows" ? "Z:\\proc" : "/proc";
const SEP = Deno.build.os === "windows" ? "\\" : "/";

/**
 * utime+stime of one process in seconds, plus cutime+cstime (its reaped
 * children) when `children`; 0 when it is gone.
 */
function processCpu(pid: string, children: boolean): number {
  try {
    const s = Deno.readTextFileSync(`${PROC}${SEP}${pid}${SEP}stat`);
    // Fields after "(comm)": state is field 3, utime field 14 ... cstime field 17.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU seconds used so far by `pids` (Linux), or by the whole Wine namespace (Windows: `pids` ignored). */
export function cpuSeconds(pids: number[]): number {
  if (Deno.build.os !== "windows") return pids.reduce((sum, pid) => sum + processCpu(String(pid), true), 0);
  let sum = 0;
  for (const e of Deno.readDirSync(PROC)) if (/^\d+$/.test(e.name)) sum += processCpu(e.name, false);
  return sum;
}

/** What `cpuSeconds` covers, for the report. */
export const CPU_SCOPE = {
  linux: "server + client processes (all threads, reaped children), from /proc/<pid>/stat",
  windows:
    "the whole Wine pid namespace (server, client, wineserver, Wine services, idle driver; live processes only), from /proc",
};

/**
 * CPU seconds (user + system) from /proc, the same source on both systems.
 *
 * Linux: the server's and the client's processes, all threads, plus their
 * reaped children (the anonymous-pipe writer of Deno's peer).
 * Windows under Wine: the peers' Unix processes (found by their command
 * lines in the run's own pid namespace, see tools/wine_env.sh) plus the
 * wineserver, which does the socket work of every Wine process (each
 * socket call is a request to it); only one pair of peers runs at a time.
 * Reaped children are left out there (a child that ends inside the window,
 * Deno's anonymous-pipe writer, is missed).
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

/** CPU seconds used so far by the processes `pids` (Unix pids). */
export function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processCpu(String(pid), Deno.build.os !== "windows"), 0);
}

/** Under Wine: the Unix pids of the processes whose command line contains `part`. */
export function wineUnixPids(part: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync(PROC)) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`${PROC}${SEP}${e.name}${SEP}cmdline`).replaceAll("\0", " ");
      if (cmd.includes(part)) out.push(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What `cpuSeconds` covers, for the report. */
export const CPU_SCOPE = {
  linux: "server + client processes (all threads, reaped children), from /proc/<pid>/stat",
  windows:
    "the server's and client's Wine processes plus the wineserver (which does every socket call's work), from the /proc of the run's pid namespace",
};

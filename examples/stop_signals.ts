/**
 * The signals that ask a server to stop: ctrl-C everywhere; SIGTERM (what
 * `kill`, systemd and container runtimes send) on Unix; ctrl-Break on
 * Windows, which has no SIGTERM a process could catch.
 */
export const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];

/** Calls `stop` once, on the first of the stop signals. */
export function onStopSignal(stop: (signal: Deno.Signal) => void): void {
  let stopping = false;
  for (const signal of STOP_SIGNALS) {
    Deno.addSignalListener(signal, () => {
      if (stopping) return;
      stopping = true;
      stop(signal);
    });
  }
}

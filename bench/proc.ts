/**
 * A peer process under the driver: started with piped stdio, read line by
 * line for the control protocol (bench/peers/protocol.ts), every wait
 * bounded, and always reaped: `stop()` asks it to exit, then kills it.
 *
 * @module
 */

/** Calls `onLine` for each line of a byte stream (CR LF or LF; a last unterminated line too). */
export async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ""));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

export class Peer {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  /** A part of its command line that tells it from the other processes (bench/cpu.ts wineUnixPids). */
  readonly marker: string;
  #lines: string[] = [];
  #waiter: (() => void) | null = null;
  #ended = false;
  #stderr = "";
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #status: Promise<Deno.CommandStatus>;

  constructor(name: string, argv: string[], marker: string) {
    this.name = name;
    this.marker = marker;
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#status = this.child.status;
    this.#pump(this.child.stdout, (line) => {
      this.#lines.push(line);
      this.#wake();
    }).finally(() => {
      this.#ended = true;
      this.#wake();
    });
    this.#pump(this.child.stderr, (line) => {
      this.#stderr = (this.#stderr + line + "\n").slice(-2000);
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  async #pump(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
    try {
      await forEachLine(stream, onLine);
    } catch {
      // the process is gone
    }
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  /** The rest of the first stdout line starting with `prefix` (other lines are skipped); throws after `ms`. */
  async expect(prefix: string, ms: number): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.#lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.#lines.splice(0, i + 1)[i].slice(prefix.length).trim();
      if (this.#ended) throw new Error(`${this.name}: exited before "${prefix}"; stderr: ${this.#stderr.trim()}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${prefix}" within ${ms} ms; stderr: ${this.#stderr.trim()}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#waiter = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  /** Writes one control line. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Asks the process to exit (EXIT, end of stdin), then kills it after `graceMs`; always reaps it. */
  async stop(graceMs = 3000): Promise<void> {
    try {
      await this.send("EXIT");
      await this.#stdin.close();
    } catch {
      // already gone
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      this.#status.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
      await this.#status;
    }
  }
}

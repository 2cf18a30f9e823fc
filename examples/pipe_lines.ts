/** Line framing and the default endpoint shared by the pipe examples. */

/** The demo endpoint for this OS. */
export function defaultPath(): string {
  return Deno.build.os === "windows" ? "\\\\.\\pipe\\aio-demo" : "/tmp/aio-demo.sock";
}

/** Splits a byte stream into UTF-8 lines. */
export class LineSplitter {
  #rest = "";
  #decoder = new TextDecoder();

  /** Adds bytes; returns the complete lines they finish. */
  push(data: Uint8Array): string[] {
    const text = this.#rest + this.#decoder.decode(data, { stream: true });
    const lines = text.split("\n");
    this.#rest = lines.pop()!;
    return lines;
  }
}

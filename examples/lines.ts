/** Line framing shared by the examples: bytes in, complete UTF-8 lines out. */

/** Splits a byte stream into UTF-8 lines. */
export class LineSplitter {
  #rest = "";
  #decoder = new TextDecoder();

  /** Adds bytes; returns the complete lines they finish. */
  push(data: Uint8Array): string[] {
    const text = this.#rest + this.#decoder.decode(data, { stream: true });
    const lines = text.split("\n");
    this.#rest = lines.pop()!;
    return lines.map((l) => l.replace(/\r$/, ""));
  }

  /** Whether bytes of an unfinished line are held. */
  get pending(): boolean {
    return this.#rest.length > 0;
  }
}

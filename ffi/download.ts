/**
 * A synchronous, verified download into the cache. The loader runs inside
 * the first `EventLoop` constructor (and `createPipe`), which are
 * synchronous, but `fetch` is not: a worker does the download while this
 * thread waits on a shared flag with `Atomics.wait`. The worker's code is a
 * blob: URL, not a file of the package: a worker module that first has to be
 * fetched over the network would be fetched through this (blocked) thread,
 * and the two would wait for each other.
 *
 * The worker checks the SHA-256 of the bytes before it writes anything, and
 * writes through a temporary file renamed into place, so a reader never sees
 * a partial or unverified library.
 *
 * @module
 */

/** What to download and where to put it. */
export interface DownloadRequest {
  /** The URL of the library. */
  url: string;
  /** The hex SHA-256 it must have. */
  digest: string;
  /** The cache folder (created when missing). */
  folder: string;
  /** The file name inside `folder`. */
  file: string;
  /** Path separator of the OS. */
  sep: string;
  /** Time allowed for the whole download. */
  timeoutMs: number;
}

/** The bytes did not have the published digest: refused, nothing written. */
export class DigestMismatch extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DigestMismatch";
  }
}

const WAITING = 0, DONE = 1, MISMATCH = 2, FAILED = 3;
const MESSAGE_BYTES = 4096;

// Runs in the worker (its source text is what the worker gets, so it must
// not refer to anything outside itself). The four states above, inlined.
function workerMain(event: MessageEvent): void {
  const { url, digest, folder, file, sep, timeoutMs, shared } = event.data;
  const head = new Int32Array(shared, 0, 2);
  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
  const finish = (state: number, message: string) => {
    const text = new TextEncoder().encode(message).subarray(0, shared.byteLength - 8);
    new Uint8Array(shared, 8).set(text);
    head[1] = text.length;
    Atomics.store(head, 0, state);
    Atomics.notify(head, 0);
  };
  const run = async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      return finish(3, `HTTP ${response.status} ${response.statusText}`.trim());
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const got = hex(await crypto.subtle.digest("SHA-256", bytes));
    if (got !== digest) {
      return finish(2, `SHA-256 of the ${bytes.length} bytes received is ${got}, the module publishes ${digest}`);
    }
    await Deno.mkdir(folder, { recursive: true });
    const final = `${folder}${sep}${file}`;
    const tmp = `${folder}${sep}.${file}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, bytes, { mode: 0o755 });
    try {
      await Deno.rename(tmp, final);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      // Windows refuses to replace a DLL another process has loaded; that
      // one is fine when it is the same file.
      const existing = await Deno.readFile(final).catch(() => null);
      if (!existing || hex(await crypto.subtle.digest("SHA-256", existing)) !== digest) throw err;
    }
    finish(1, final);
  };
  run().catch((err) => finish(3, err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
}

/**
 * Downloads `request.url`, checks its SHA-256 and writes it atomically to
 * `<folder>/<file>`. Blocks the calling thread until done. Throws
 * `DigestMismatch` when the bytes differ from `request.digest` (nothing is
 * written then), an `Error` naming the reason for any other failure.
 */
export function downloadSync(request: DownloadRequest): void {
  const shared = new SharedArrayBuffer(8 + MESSAGE_BYTES);
  const head = new Int32Array(shared, 0, 2);
  const source = URL.createObjectURL(
    new Blob([`self.onmessage = ${workerMain.toString()};`], { type: "text/javascript" }),
  );
  const worker = new Worker(source, { type: "module" });
  try {
    worker.postMessage({ ...request, shared });
    // The worker's fetch has its own timeout; this one only bounds a worker
    // that never answers at all.
    Atomics.wait(head, 0, WAITING, request.timeoutMs + 5_000);
  } finally {
    worker.terminate();
    URL.revokeObjectURL(source);
  }
  const state = Atomics.load(head, 0);
  const message = new TextDecoder().decode(new Uint8Array(shared, 8, head[1]));
  if (state === DONE) return;
  if (state === MISMATCH) throw new DigestMismatch(message);
  if (state === FAILED) throw new Error(message);
  throw new Error(`no answer within ${request.timeoutMs + 5_000} ms`);
}

/**
 * The ABI fuzzer (native/test/fuzz.c) with its sanitizers: builds the
 * ASan+UBSan flavour when it is out of date, runs the fuzzer and counts
 * what the sanitizers reported. Linux only.
 *
 *   deno task fuzz                      10^6 operations over 10 seeds
 *   deno task fuzz --ops 100000 --seeds 4 --seed0 7
 *
 * Ends with exactly one line `fuzz: <N> operations, <S> seeds, <R>
 * sanitizer reports` (tools/test.sh shows it), then, only when the
 * fuzzer's own invariants failed, `fuzz: <V> invariant violations`. Exit
 * status 1 on any report, violation or crash. A seed that fails can be
 * replayed alone: `--ops <its operations> --seeds 1 --seed0 <seed>`.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const rel = (p: string) => new URL(p, root).pathname;

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(Deno.args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`fuzz: ${name} wants a non-negative integer, got ${Deno.args[i + 1]}`);
    Deno.exit(64);
  }
  return v;
}

const ops = arg("--ops", 1_000_000);
const seeds = Math.max(1, arg("--seeds", 10));
const seed0 = arg("--seed0", 1);

if (Deno.build.os !== "linux") {
  console.error("fuzz: Linux only (the sanitizers are gcc's)");
  Deno.exit(1);
}

const build = await new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-read=.", "--allow-write=native/build", "--allow-run", "--allow-env", "tools/build.ts", "asan"],
  cwd: rel("."),
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!build.success) {
  console.error("fuzz: the sanitized build failed");
  Deno.exit(1);
}

// Every report is fatal (-fno-sanitize-recover=all); LeakSanitizer runs at
// exit, so a handle or buffer the library forgot is a report too.
const env = {
  ASAN_OPTIONS:
    "detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1",
  UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
  LSAN_OPTIONS: "exitcode=23",
};
const child = new Deno.Command(rel("native/build/linux-x64-asan/fuzz"), {
  args: ["--ops", String(ops), "--seeds", String(seeds), "--seed0", String(seed0)],
  env,
  stdout: "piped",
  stderr: "piped",
}).spawn();

// Pass the output through as it comes, and keep it for counting.
const decoder = new TextDecoder();
let text = "";
async function relay(stream: ReadableStream<Uint8Array>, to: typeof Deno.stdout) {
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    await to.write(chunk);
  }
}
const [status] = await Promise.all([child.status, relay(child.stdout, Deno.stdout), relay(child.stderr, Deno.stderr)]);

// One report per sanitizer error block, UBSan finding, or failed assertion.
const REPORT = /^(==\d+==ERROR: \w+Sanitizer|.*: runtime error: |.*Assertion `.*' failed)/gm;
let reports = [...text.matchAll(REPORT)].length;
const run = /^fuzz-run: (\d+) operations, (\d+) seeds, (\d+) violations$/m.exec(text);
const done = run ? Number(run[1]) : 0;
const violations = run ? Number(run[3]) : 0;
if (!status.success && reports === 0 && violations === 0) {
  // Died without saying why (a signal, an exit without the summary).
  reports = 1;
  console.log(`fuzz: the fuzzer ended with status ${status.code}${status.signal ? ` (${status.signal})` : ""}`);
}
console.log(`fuzz: ${done} operations, ${seeds} seeds, ${reports} sanitizer reports`);
if (violations > 0) console.log(`fuzz: ${violations} invariant violations`);
Deno.exit(reports === 0 && violations === 0 && status.success && done === ops ? 0 : 1);

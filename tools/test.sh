#!/usr/bin/env bash
# The project's test command: build, then the test suite on Linux (native
# deno) and on Windows (deno.exe under Wine, see tools/wine_env.sh).
#
#   bash tools/test.sh                       build + both suites
#   bash tools/test.sh --linux|--windows     one suite only
#   bash tools/test.sh --linux -- tests/loop_test.ts   files/flags for deno test
#   bash tools/test.sh --repeat 3            the flake check: everything 3 times in a row
#
# The full Linux run adds the reliability machinery (docs/DESIGN.md,
# "Reliability machinery"): the ABI fuzzer with ASan+UBSan (FUZZ_OPS,
# default 100000), the Deno suite against the sanitized libaio.so, and a
# short soak (SOAK_CYCLES per phase, default 5000); each prints its line.
#
# Output ends with exactly one line "N passed, N failed" (sums of both
# suites); exit status 1 when anything failed. A suite that crashes, times
# out or cannot be set up counts as at least one failure, so a broken
# environment can never look green. Logs: .cache/logs/{build,linux,windows-setup,windows}.log
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
TEST_FLAGS="--allow-ffi --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1,[::1],localhost --allow-sys"
# Windows: Deno also wants net permission for each exact pipe name
# (`unix:\\.\pipe\<name>`); the tests draw theirs from this pool
# (tests/helpers.ts pipePath). Linux deno rejects such names, so only the
# Windows suite gets them.
WINDOWS_PIPES=$(for k in $(seq 0 15); do printf ',unix:\\\\.\\pipe\\aio-test-%d' "$k"; done)
SUITE_TIMEOUT=${SUITE_TIMEOUT:-25m}   # override only to test the tooling
LOGS=$REPO/.cache/logs
# NO_COLOR keeps Deno's summary line parseable; no update check offline.
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1

usage() {
  sed -n '5,8s/^# \{0,3\}//p' "${BASH_SOURCE[0]}"
}

want_linux=0 want_windows=0 targets=() repeat=1 pass_args=()
while (($#)); do
  case $1 in
    --repeat)
      repeat=${2:-}
      if [[ ! $repeat =~ ^[1-9][0-9]*$ ]]; then echo "test.sh: --repeat wants a count" >&2; exit 64; fi
      shift 2
      continue
      ;;
    --linux) want_linux=1 pass_args+=("$1") ;;
    --windows) want_windows=1 pass_args+=("$1") ;;
    --) pass_args+=("$@"); shift; targets=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
  shift
done
# The flake check: the same run N times in a row, each in its own process;
# the counts add up, and one failure anywhere fails the whole.
if ((repeat > 1)); then
  all_passed=0 all_failed=0
  for ((i = 1; i <= repeat; i++)); do
    echo "=== repeat $i of $repeat"
    # Each line to stderr through the inherited descriptor: `tee /dev/stderr`
    # reopened it, truncating a log file that stderr was redirected to, so
    # only the last run (and the sum, written at the start) was left in it.
    line=$(bash "${BASH_SOURCE[0]}" "${pass_args[@]}" | while IFS= read -r l || [[ -n $l ]]; do
      printf '%s\n' "$l" >&2
      printf '%s\n' "$l"
    done | tail -n 1) || true
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
      all_passed=$((all_passed + BASH_REMATCH[1])) all_failed=$((all_failed + BASH_REMATCH[2]))
    else
      all_failed=$((all_failed + 1))
    fi
  done 2>&1
  echo "$all_passed passed, $all_failed failed"
  ((all_failed == 0))
  exit
fi
if ((want_linux + want_windows == 0)); then want_linux=1 want_windows=1; fi
if ((${#targets[@]} == 0)); then targets=(tests/); fi
# read -a splits without glob expansion ("[::1]" is a glob pattern).
read -r -a flags <<<"$TEST_FLAGS"
win_flags=()
for f in "${flags[@]}"; do
  if [[ $f == --allow-net=* ]]; then f=$f$WINDOWS_PIPES; fi
  win_flags+=("$f")
done

total_passed=0 total_failed=0 child_pid=""
mkdir -p "$LOGS"

summary() { echo "$total_passed passed, $total_failed failed"; }

# Ctrl-C/TERM: `timeout` runs in its own process group, out of reach of the
# terminal's SIGINT; hand the signal to it (it relays it to the whole group).
on_signal() {
  trap - INT TERM
  if [[ -n $child_pid ]]; then kill -TERM "$child_pid" 2>/dev/null || true; fi
  wait || true
  printf '\ntest.sh: interrupted\n'
  total_failed=$((total_failed + 1))
  summary
  exit 130
}
trap on_signal INT TERM

# bounded LOG CMD...: run CMD under `timeout` with output to the terminal and
# LOG; sets $rc (124 = timed out). Runs in the background and `wait`s so the
# signal trap above can fire while it runs.
bounded() {
  local log=$1 pidfile=$1.pid rcfile=$1.rc
  shift
  rm -f "$pidfile" "$rcfile"
  {
    timeout --kill-after=30s "$SUITE_TIMEOUT" "$@" 2>&1 &
    echo "$!" >"$pidfile"
    rc=0; wait "$!" || rc=$?
    echo "$rc" >"$rcfile"
  } | tee "$log" &
  local tee_pid=$!
  while [[ ! -s $pidfile ]] && kill -0 "$tee_pid" 2>/dev/null; do sleep 0.05; done
  child_pid=$(cat "$pidfile" 2>/dev/null || true)
  wait "$tee_pid" || true
  child_pid=""
  rc=$(cat "$rcfile" 2>/dev/null || echo 1)
  rm -f "$pidfile" "$rcfile"
}

# What a faulting, panicking or aborting process prints (Wine, Deno, V8);
# tests/helpers.ts FAULT_PATTERN is the same list for subprocesses.
FAULT_RE='Unhandled (page fault|exception)|starting debugger|Deno has panicked|panicked at|Fatal process|# Fatal error|Segmentation fault|Access violation|ERROR: (Address|Leak)Sanitizer|: runtime error: '

# account NAME LOG SECONDS: add the suite's counts from Deno's closing line
# ("ok | 12 passed (3 steps) | 0 failed (2s)") to the totals.
account() {
  local name=$1 log=$2 secs=$3 line passed=0 failed=0 why="" fault
  line=$(tr -d '\r' <"$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1 || true)
  if [[ $line =~ ^(ok|FAILED)\ \|\ ([0-9]+)\ passed.*\|\ ([0-9]+)\ failed ]]; then
    passed=${BASH_REMATCH[2]} failed=${BASH_REMATCH[3]}
  else
    why="no test summary"
  fi
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then why="timed out after $SUITE_TIMEOUT"
  elif [[ $rc -ne 0 && $failed -eq 0 ]]; then why="${why:+$why, }exit status $rc"
  fi
  if [[ -n $why && $failed -eq 0 ]]; then failed=1; fi
  # A process that faults after its tests passed is a failure all the same.
  # (Output that a test prints on purpose is never in this form.)
  fault=$(tr -d '\r' <"$log" | grep -E -m 1 "$FAULT_RE" || true)
  if [[ -n $fault ]]; then
    why="${why:+$why, }fault printed: ${fault:0:160}"
    failed=$((failed + 1))
  fi
  # A killed run leaves its last line unterminated.
  if [[ -n $(tail -c 1 "$log") ]]; then echo; fi
  echo "--- $name: $passed passed, $failed failed (${secs}s)${why:+; $why}; log: ${log#"$REPO"/}"
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
}

# check NAME CMD...: one of the static checks CI runs (format, lint, types,
# docs, doc examples, publishing); counts as one test, passed when CMD exits 0.
check() {
  local name=$1 log=$LOGS/check-$1.log t0=$SECONDS
  shift
  bounded "$log" "$@" >/dev/null
  if [[ $rc -eq 0 ]]; then
    total_passed=$((total_passed + 1))
    echo "--- check $name: ok ($((SECONDS - t0))s)"
  else
    total_failed=$((total_failed + 1))
    echo "--- check $name: FAILED (exit $rc, $((SECONDS - t0))s); log: ${log#"$REPO"/}"
    tail -n 20 "$log" | sed 's/^/    /'
  fi
}

# account_program NAME LOG SECONDS: the C tests (native/test, one program
# per backend) print "ok NAME" / "not ok NAME" per test and end with
# "ctest: N passed, N failed"; each C test counts as one test. A program
# that crashes or aborts (an AIO_ASSERT) before its summary counts the
# tests it finished plus one failure.
account_program() {
  local name=$1 log=$2 secs=$3 line passed=0 failed=0 why=""
  line=$(tr -d '\r' <"$log" | grep -E '^ctest: [0-9]+ passed, [0-9]+ failed' | tail -n 1 || true)
  if [[ $line =~ ^ctest:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
  else
    passed=$(tr -d '\r' <"$log" | grep -c -E '^ok ' || true)
    failed=$(tr -d '\r' <"$log" | grep -c -E '^not ok ' || true)
    why="no summary"
  fi
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1 why="${why:+$why, }exit status $rc"; fi
  echo "--- $name: $passed passed, $failed failed (${secs}s)${why:+; $why}; log: ${log#"$REPO"/}"
  total_passed=$((total_passed + passed)) total_failed=$((total_failed + failed))
}

if ! DENO=$(bash tools/ensure_deno.sh); then
  echo "--- could not get a Linux deno (see the npm error above)"
  total_failed=1
  summary
  exit 1
fi
export DENO

# A fresh machine has gcc but not the Windows cross compiler: install it
# when root (debootstrap, for the Wine environment, is wine_env.sh's job).
if ! command -v x86_64-w64-mingw32-gcc >/dev/null && ((want_windows)); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "=== installing gcc-mingw-w64-x86-64 (the Windows build)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >"$LOGS/apt.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends gcc-mingw-w64-x86-64 </dev/null >>"$LOGS/apt.log" 2>&1 ||
      echo "--- could not install mingw-w64 (see .cache/logs/apt.log): the Windows suite will fail"
  else
    echo "--- no x86_64-w64-mingw32-gcc and not root: the Windows suite will fail"
  fi
fi

if [[ -f deno.json || -f deno.jsonc ]]; then
  echo "=== build: deno task build"
  bounded "$LOGS/build.log" "$DENO" task build
  if [[ $rc -ne 0 ]]; then
    echo "--- build failed (status $rc); log: .cache/logs/build.log"
    total_failed=1
    summary
    exit 1
  fi
else
  echo "=== build: skipped (no deno.json yet)"
fi

if ((want_linux)); then
  echo "=== Linux suite: deno test ${targets[*]}"
  t0=$SECONDS
  bounded "$LOGS/linux.log" "$DENO" test "${flags[@]}" "${targets[@]}"
  account Linux "$LOGS/linux.log" $((SECONDS - t0))
  if [[ ${targets[*]} == tests/ && -x native/build/linux-x64/ctest ]]; then
    echo "=== Linux C tests: native/build/linux-x64/ctest"
    t0=$SECONDS
    bounded "$LOGS/ctest-linux.log" native/build/linux-x64/ctest
    account_program "Linux C tests" "$LOGS/ctest-linux.log" $((SECONDS - t0))
  fi
fi

# The reliability machinery, with the full Linux suite (docs/DESIGN.md,
# "Reliability machinery"). Each prints its own line and counts: the fuzzer
# and the soak as one test each, the sanitized suite test by test.
if ((want_linux)) && [[ ${targets[*]} == tests/ ]]; then
  echo "=== ABI fuzzer (ASan+UBSan): deno task fuzz --ops ${FUZZ_OPS:-100000}"
  t0=$SECONDS
  bounded "$LOGS/fuzz.log" "$DENO" run --allow-read --allow-write=native/build --allow-run --allow-env tools/fuzz.ts \
    --ops "${FUZZ_OPS:-100000}" --seeds 4 >/dev/null
  tr -d '\r' <"$LOGS/fuzz.log" | grep -E '^fuzz: [0-9]+ operations|^fuzz: .*(violations|status)' || echo "fuzz: no summary"
  if [[ $rc -eq 0 ]]; then
    total_passed=$((total_passed + 1))
    echo "--- fuzz: ok ($((SECONDS - t0))s); log: .cache/logs/fuzz.log"
  else
    total_failed=$((total_failed + 1))
    echo "--- fuzz: FAILED (exit $rc, $((SECONDS - t0))s); log: .cache/logs/fuzz.log"
  fi

  # The same Deno suite against the ASan+UBSan libaio.so (built by the
  # fuzzer's step). A dlopen'ed ASan library needs the runtime loaded
  # first (LD_PRELOAD); leak checking is off for deno itself (V8 and Rust
  # keep memory to exit by design) and stays on in the C fuzzer. The
  # loader's own tests are left out: AIO_LIBRARY overrides what they test.
  asan_rt=$(gcc -print-file-name=libasan.so 2>/dev/null || true)
  if [[ -f native/build/linux-x64-asan/libaio.so && -f $asan_rt ]]; then
    echo "=== Linux suite against the ASan+UBSan libaio.so"
    t0=$SECONDS
    bounded "$LOGS/linux-sanitized.log" env LD_PRELOAD="$asan_rt" \
      ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      AIO_LIBRARY="$REPO/native/build/linux-x64-asan/libaio.so" \
      "$DENO" test "${flags[@]}" --ignore=tests/library_load_test.ts,tests/library_paths_test.ts,tests/remote_import_test.ts \
      tests/ >/dev/null
    account "Linux sanitized (ASan+UBSan)" "$LOGS/linux-sanitized.log" $((SECONDS - t0))
  else
    echo "--- Linux sanitized: no sanitized build or no libasan ($asan_rt), counted as 1 failure"
    total_failed=$((total_failed + 1))
  fi

  echo "=== soak: deno task soak --cycles ${SOAK_CYCLES:-5000}"
  t0=$SECONDS
  bounded "$LOGS/soak.log" "$DENO" run --v8-flags=--expose-gc,--max-semi-space-size=1 --allow-all tools/soak.ts \
    --cycles "${SOAK_CYCLES:-5000}" >/dev/null
  tr -d '\r' <"$LOGS/soak.log" | grep -E '^soak: [0-9]+ cycles' || echo "soak: no summary"
  if [[ $rc -eq 0 ]]; then
    total_passed=$((total_passed + 1))
    echo "--- soak: ok ($((SECONDS - t0))s); log: .cache/logs/soak.log"
  else
    total_failed=$((total_failed + 1))
    echo "--- soak: FAILED (exit $rc, $((SECONDS - t0))s); log: .cache/logs/soak.log"
    tail -n 8 "$LOGS/soak.log" | sed 's/^/    /'
  fi
fi

# The static checks, with the full Linux suite: formatting, lint, types,
# the public API's docs, the runnable examples in them, and publishing (the
# package staged as `deno task publish` stages it; --allow-dirty because this
# checks what would be published, not whether the work tree is committed,
# which the real `deno task publish` does check). All offline.
if ((want_linux)) && [[ ${targets[*]} == tests/ ]]; then
  echo "=== static checks"
  check fmt "$DENO" fmt --check
  check lint "$DENO" lint
  check types "$DENO" check
  check doc-lint "$DENO" doc --lint mod.ts
  t0=$SECONDS
  bounded "$LOGS/doc-test.log" "$DENO" test --doc "${flags[@]}" mod.ts src/ ffi/ >/dev/null
  account "doc examples (deno test --doc)" "$LOGS/doc-test.log" $((SECONDS - t0))
  check publish "$DENO" run --allow-read --allow-write --allow-run --allow-env tools/dist.ts --publish --dry-run --allow-dirty
fi

if ((want_windows)); then
  echo "=== Windows suite (deno.exe under Wine): deno test ${targets[*]}"
  t0=$SECONDS
  bounded "$LOGS/windows-setup.log" bash tools/wine_env.sh setup
  if [[ $rc -ne 0 ]]; then
    echo "--- Windows: setup failed (status $rc), counted as 1 failure; log: .cache/logs/windows-setup.log"
    total_failed=$((total_failed + 1))
  else
    bounded "$LOGS/windows.log" bash tools/wine_env.sh run test "${win_flags[@]}" "${targets[@]}"
    account Windows "$LOGS/windows.log" $((SECONDS - t0))
    if [[ ${targets[*]} == tests/ && -f native/build/windows-x64/ctest.exe ]]; then
      echo "=== Windows C tests under Wine: native/build/windows-x64/ctest.exe"
      t0=$SECONDS
      bounded "$LOGS/ctest-windows.log" bash tools/wine_env.sh exec native/build/windows-x64/ctest.exe
      account_program "Windows C tests" "$LOGS/ctest-windows.log" $((SECONDS - t0))
    fi
  fi
fi

summary
((total_failed == 0))

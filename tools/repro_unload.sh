#!/usr/bin/env bash
# Issue 16 without @eve/aio: Deno unloads a dlopen'ed library at teardown
# while a nonblocking FFI call is still inside it (native/test/unload_repro.c).
#
#   bash tools/repro_unload.sh [--linux|--windows] [RUNS]
#
# Runs native/test/unload_repro_test.ts RUNS times (default 3) in each role
# (C server + node:net client, C client + node:net server), unpinned and
# pinned, with Linux deno and with deno.exe under Wine, and prints each exit
# status. Expected: unpinned runs crash after their test passed, most of
# the time (the process may also end before the blocked read returns):
# deno.exe exits with status 5 here ("Exception frame is not in stack
# limits": the frames were in the unmapped DLL; our aio.dll's case goes
# through deno's handler to the fast-fail c0000409 instead), Linux deno with
# SIGSEGV (139). Pinned runs exit 0.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
OUT=native/build/unload-repro
want_linux=1 want_windows=1 runs=3
case ${1:-} in
  --linux) want_windows=0; shift ;;
  --windows) want_linux=0; shift ;;
esac
runs=${1:-$runs}
mkdir -p "$OUT"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1

# One line per run: mode, exit status, and the test's own verdict.
report() {
  local mode=$1 rc=$2 log=$3 verdict
  verdict=$(tr -d '\r' <"$log" | grep -E -o '(ok|FAILED) \| [0-9]+ passed \| [0-9]+ failed' | tail -n 1 || true)
  echo "$mode: exit status $rc; test summary: ${verdict:-none printed}$(tr -d '\r' <"$log" |
    grep -a -E -o -m 1 'Unhandled exception code [0-9a-f]+|unable to dispatch exception' | sed 's/^/; wine: /' || true)"
}

if ((want_linux)); then
  DENO=$(bash tools/ensure_deno.sh)
  gcc -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -o "$OUT/libunload_repro.so" native/test/unload_repro.c -ldl
  for i in $(seq 1 "$runs"); do
    for role in server client; do
      for mode in unpinned pinned; do
        log=$OUT/linux-$role-$mode.log rc=0 args=(-- "$role")
        if [[ $mode == pinned ]]; then args+=(pin); fi
        "$DENO" test -A native/test/unload_repro_test.ts "${args[@]}" >"$log" 2>&1 || rc=$?
        report "linux C $role $mode run $i" "$rc" "$log"
      done
    done
  done
fi

if ((want_windows)); then
  x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O2 -shared -static-libgcc \
    -o "$OUT/unload_repro.dll" native/test/unload_repro.c
  for i in $(seq 1 "$runs"); do
    for role in server client; do
      for mode in unpinned pinned; do
        log=$OUT/windows-$role-$mode.log rc=0 args=(-- "$role")
        if [[ $mode == pinned ]]; then args+=(pin); fi
        # err+seh prints Wine's "Unhandled exception code c0000409" line.
        WINEDEBUG=err+seh WINE_PASS_ENV=WINEDEBUG bash tools/wine_env.sh run test -A \
          native/test/unload_repro_test.ts "${args[@]}" >"$log" 2>&1 || rc=$?
        report "windows C $role $mode run $i" "$rc" "$log"
      done
    done
  done
fi

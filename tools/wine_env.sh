#!/usr/bin/env bash
# A cached Windows test environment: Windows deno.exe under Wine 10.
#
#   bash tools/wine_env.sh setup            build/verify .cache/wine (idempotent)
#   bash tools/wine_env.sh run ARGS...      deno.exe ARGS... under Wine, exit code passed on
#   bash tools/wine_env.sh exec PROG ARGS   a repo-relative Windows program under Wine
#   source tools/wine_env.sh                the wine_env_* functions, nothing runs
#                                           (also turns on set -euo pipefail)
#
# Why a chroot: Debian 12's Wine 8 cannot run deno 2.x (V8 aborts while
# reserving memory); Wine 10 from Debian trixie can. A debootstrapped trixie
# chroot brings Wine 10 without touching the host's packages.
# Why root: debootstrap, chroot and mount namespaces need it.
# Why a private mount+pid namespace per run: mounts (/proc, /dev, the repo)
# vanish with it, and the kernel kills every Wine process left inside when it
# ends, so nothing leaks onto the host even after a timeout or a crash.
# Why a lock: `wineserver -k` at the end of one run would kill another run.
# Layout: .cache/wine/rootfs (the chroot, ~1.3 GB with the prefix) holds
#   /opt/wineprefix (WINEPREFIX), /opt/deno-win/deno.exe, /var/cache/deno-win
#   (DENO_DIR), and .stamps/ (one file per finished setup step; it lives in
#   the rootfs so deleting the rootfs forgets every step).
set -euo pipefail

WINE_DENO_VERSION=2.9.6
WINE_SUITE=trixie                     # first Debian suite with Wine 10
WINE_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")
WINE_REPO=$(cd "$(dirname "$WINE_SELF")/.." && pwd -P)
WINE_CACHE=$WINE_REPO/.cache/wine
WINE_ROOT=$WINE_CACHE/rootfs
WINE_STAMPS=$WINE_ROOT/.stamps
WINE_LOG=$WINE_REPO/.cache/logs/wine-setup.log
# Paths inside the chroot. The repo is Z:\aio for Windows.
C_REPO=/aio
C_PREFIX=/opt/wineprefix
C_DENO=/opt/deno-win/deno.exe
C_WINE=/usr/lib/wine/wine64
C_WINESERVER=/usr/lib/wine/wineserver

# Exit 2 with one clear sentence when this machine cannot host the suite.
wine_env_require() {
  local why="" c
  if [[ $(id -u) -ne 0 ]]; then
    why="it needs root (debootstrap, chroot, mount namespaces) but runs as $(id -un)"
  else
    for c in chroot unshare mount flock npm tar; do
      command -v "$c" >/dev/null || { why="the command '$c' is missing"; break; }
    done
    if [[ -z $why ]] && ! unshare --mount --propagation private --pid --fork \
        mount -t tmpfs tmpfs /tmp >/dev/null 2>&1; then
      why="mount namespaces are not permitted here (unshare/mount failed; a container without CAP_SYS_ADMIN?)"
    fi
  fi
  if [[ -n $why ]]; then
    echo "wine_env: the Windows test suite cannot run: $why. Run 'bash tools/test.sh --linux' for the Linux suite only." >&2
    exit 2
  fi
}

# Serialise all users of .cache/wine. fd 9 is inherited by children; they all
# die with the run's pid namespace, which releases the lock.
wine_env_lock() {
  mkdir -p "$WINE_CACHE"
  exec 9>"$WINE_CACHE/lock"
  if ! flock -n 9; then
    echo "wine_env: waiting for another user of $WINE_CACHE ..." >&2
    flock 9
  fi
}

# The Debian archive the host already uses (so proxies/mirrors configured for
# apt keep working); deb.debian.org when none can be derived. Override:
# DEBIAN_MIRROR=http://host/debian.
wine_env_mirror() {
  local id="" codename="" f uri=""
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    read -r id codename < <(. /etc/os-release && echo "${ID:-none} ${VERSION_CODENAME:-}")
  fi
  if [[ $id == debian && -n $codename ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -r $f && -z $uri ]] || continue
      # one-line format: deb [options] URI SUITE COMPONENTS...
      uri=$(sed -E 's/\[[^]]*\]//' "$f" |
        awk -v c="$codename" '$1 == "deb" && $3 == c && $2 ~ /^https?:/ { print $2; exit }')
    done
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -r $f && -z $uri ]] || continue
      # deb822 format: paragraphs with Types:, URIs:, Suites:, Enabled:
      uri=$(awk -v c="$codename" 'BEGIN { RS = "" }
        { t = ""; u = ""; s = ""; e = "yes"; n = split($0, L, "\n")
          for (i = 1; i <= n; i++) {
            if (L[i] ~ /^[ \t]*#/) continue
            k = tolower(L[i]); sub(/:.*/, "", k); v = L[i]; sub(/^[^:]*:[ \t]*/, "", v)
            if (k == "types") t = v; else if (k == "uris") u = v
            else if (k == "suites") s = v; else if (k == "enabled") e = tolower(v)
          }
          split(u, U, /[ \t]+/)
          if (e != "no" && (" " t " ") ~ / deb / && (" " s " ") ~ (" " c " ") && U[1] ~ /^https?:/) { print U[1]; exit }
        }' "$f")
    done
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# Install host packages that a fresh machine lacks (root only; `apt-get
# update` once per process).
wine_env_apt_install() {
  if [[ -z ${WINE_APT_UPDATED:-} ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null; WINE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# Run a host command in a throw-away mount+pid namespace (for debootstrap,
# which mounts /proc and /sys inside the target).
wine_env_ns_host() {
  unshare --mount --propagation private --pid --fork --kill-child \
    -- bash "$WINE_SELF" __ns host "$@"
}

# Run a command inside the chroot, in a throw-away namespace. The caller's
# directory maps to the same place under /aio when it is inside the repo.
wine_env_chroot() {
  local cwd here
  here=$(pwd -P)
  cwd=$C_REPO
  if [[ $here == "$WINE_REPO"/* ]]; then cwd=$C_REPO${here#"$WINE_REPO"}; fi
  WINE_ENV_CWD=$cwd unshare --mount --propagation private --pid --fork --kill-child \
    -- bash "$WINE_SELF" __ns chroot "$@"
}

# Pid 1 of the new namespaces. unshare's parent blocks SIGINT/SIGTERM and a
# namespace's init only gets signals it handles, so the traps here are what
# makes Ctrl-C and `timeout` work: init exits, and the kernel then kills every
# process left in the namespace (Wine's services included). The command runs
# in the background (stdin kept) so a trap fires at once, not after it ends.
wine_env__ns() {
  local mode=$1 rc=0 v
  shift
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [[ $mode == host ]]; then
    "$@" <&0 &
    wait "$!" || rc=$?
    return "$rc"
  fi
  mount -t proc proc "$WINE_ROOT/proc"        # without it: "could not load ntdll.so"
  mount --rbind /dev "$WINE_ROOT/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$WINE_ROOT/tmp"   # fresh wineserver socket dir
  mkdir -p "$WINE_ROOT$C_REPO"
  mount --bind "$WINE_REPO" "$WINE_ROOT$C_REPO"
  local -a env=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root USER=root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
    "WINEPREFIX=$C_PREFIX" WINEDEBUG=-all
    'DENO_DIR=Z:\var\cache\deno-win' NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
  )
  # CI plus names listed in WINE_PASS_ENV reach the Windows process.
  for v in CI http_proxy https_proxy no_proxy ${WINE_PASS_ENV:-}; do
    if [[ -n ${!v:-} ]]; then env+=("$v=${!v}"); fi
  done
  chroot "$WINE_ROOT" /usr/bin/env -i -C "${WINE_ENV_CWD:-$C_REPO}" "${env[@]}" "$@" <&0 &
  wait "$!" || rc=$?
  # Stop this prefix's wineserver and services cleanly (saves the registry).
  if [[ -x $WINE_ROOT$C_WINESERVER ]]; then
    chroot "$WINE_ROOT" /usr/bin/env -i "${env[@]}" "$C_WINESERVER" -k >/dev/null 2>&1 || true
  fi
  return "$rc"
}

# ---- setup steps; each runs in its own bash (so `set -e` holds inside) ----

step_rootfs() {
  if grep -qF " $WINE_ROOT" /proc/self/mounts; then
    echo "something is mounted under $WINE_ROOT; refusing to delete it" >&2; return 1
  fi
  rm -rf "$WINE_ROOT"
  command -v debootstrap >/dev/null || wine_env_apt_install debootstrap
  local mirror; mirror=$(wine_env_mirror)
  echo "debootstrap $WINE_SUITE from $mirror"
  wine_env_ns_host debootstrap --variant=minbase "$WINE_SUITE" "$WINE_ROOT" "$mirror"
}

step_packages() {
  # dpkg --configure -a repairs a dpkg run that an earlier attempt interrupted.
  wine_env_chroot dpkg --configure -a
  wine_env_chroot apt-get update -q
  wine_env_chroot apt-get install -y -q --no-install-recommends wine64 ca-certificates
  wine_env_chroot apt-get clean
  test -x "$WINE_ROOT$C_WINE"
}

step_config() {
  # Without these getaddrinfo("localhost") fails with WSAHOST_NOT_FOUND.
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$WINE_ROOT/etc/hosts"
  mkdir -p "$WINE_ROOT$C_REPO" "$WINE_ROOT/var/cache/deno-win"
}

step_prefix() {
  rm -rf "$WINE_ROOT$C_PREFIX"
  # "failed to open ...syswow64\rundll32.exe" here is harmless (no 32-bit Wine).
  # Graphics=null silences "XDG_RUNTIME_DIR is invalid", which WINEDEBUG misses.
  wine_env_chroot sh -c "$C_WINE wineboot --init &&
    $C_WINE reg add 'HKCU\\Software\\Wine\\Drivers' /v Graphics /d null /f"
  grep -q '"Graphics"="null"' "$WINE_ROOT$C_PREFIX/user.reg"
  # wineboot copies ~700 MB of DLLs that are identical to Wine's own files.
  local src f n=0
  src=$(dirname "$(find "$WINE_ROOT/usr/lib" -path '*/wine/x86_64-windows/kernel32.dll' | head -n 1)")
  while IFS= read -r -d '' f; do
    if [[ -f $src/${f##*/} ]] && cmp -s "$f" "$src/${f##*/}"; then
      ln -f "$src/${f##*/}" "$f"; n=$((n + 1))
    fi
  done < <(find "$WINE_ROOT$C_PREFIX/drive_c/windows" -type f -links 1 -print0)
  echo "hard-linked $n prefix files to Wine's own copies in $src"
}

step_nodebugger() {
  # Wine's default AeDebug entry starts winedbg on an unhandled exception,
  # which can wait forever for a debugger session: a crash then hangs a test
  # run instead of failing it. Without a debugger the process ends with its
  # exception code, and the fault message is still printed.
  wine_env_chroot "$C_WINE" reg delete 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /f ||
    true
  wine_env_chroot "$C_WINE" reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Auto /d 0 /f
}

step_deno() {
  local tmp=$WINE_CACHE/npm-pack tgz
  rm -rf "$tmp"; mkdir -p "$tmp"
  tgz=$(cd "$tmp" && npm pack --silent --loglevel=error "@deno/win32-x64@$WINE_DENO_VERSION" | tail -n 1)
  tar -xzf "$tmp/$tgz" -C "$tmp" package/deno.exe
  mkdir -p "$(dirname "$WINE_ROOT$C_DENO")"
  mv -f "$tmp/package/deno.exe" "$WINE_ROOT$C_DENO"
  rm -rf "$tmp"
}

step_check() {
  # End-to-end proof that the environment works; also warms Wine's caches.
  local out
  out=$(wine_env_chroot "$C_WINE" "$C_DENO" --version)
  echo "$out"
  grep -q "^deno $WINE_DENO_VERSION " <<<"$out"
}

# wine_env_step STAMP DESCRIPTION FUNCTION PRODUCT: run FUNCTION unless its
# stamp exists and its main PRODUCT is still there (cheap guard against a
# half-deleted cache). Once any step runs, all later ones run too (they build
# on it). Stamps are written only after success, so an interrupted step is
# redone from its start.
wine_env_step() {
  local stamp=$WINE_STAMPS/$1 desc=$2 t0=$SECONDS
  if [[ -z ${WINE_REDO:-} && -e $stamp && -e $4 ]]; then return 0; fi
  WINE_REDO=1
  echo "wine_env: $desc ..." >&2
  echo "=== $(date -u +%FT%TZ) $desc" >>"$WINE_LOG"
  if ! bash "$WINE_SELF" __step "$3" >>"$WINE_LOG" 2>&1 </dev/null; then
    echo "wine_env: FAILED: $desc. Last lines of $WINE_LOG:" >&2
    tail -n 20 "$WINE_LOG" >&2
    return 1
  fi
  mkdir -p "$WINE_STAMPS"; : >"$stamp"
  echo "wine_env:   done ($((SECONDS - t0)) s)" >&2
}

# Caller holds the lock.
wine_env_setup_locked() {
  mkdir -p "$(dirname "$WINE_LOG")"
  WINE_REDO=
  local r=$WINE_ROOT
  wine_env_step "rootfs-$WINE_SUITE" "debootstrap a $WINE_SUITE chroot (~25 s)" step_rootfs "$r/usr/bin/apt-get"
  wine_env_step packages "install wine64 in the chroot (~20 s)" step_packages "$r$C_WINE"
  wine_env_step config "write /etc/hosts" step_config "$r$C_REPO"
  wine_env_step prefix "create the Wine prefix (~10 s)" step_prefix "$r$C_PREFIX/system.reg"
  wine_env_step nodebugger "no debugger on a crash (a crash ends the process)" step_nodebugger \
    "$r$C_PREFIX/system.reg"
  wine_env_step "deno-$WINE_DENO_VERSION" "fetch deno.exe $WINE_DENO_VERSION (npm pack)" step_deno "$r$C_DENO"
  wine_env_step "check-$WINE_DENO_VERSION" "check deno.exe --version under Wine" step_check "$r$C_DENO"
}

# Public entry points run in subshells: a sourcing script keeps its shell
# when they `exit 2`, and the lock is released when they return.
wine_env_setup() (
  wine_env_require
  wine_env_lock
  wine_env_setup_locked
)

# deno.exe ARGS... under Wine; returns deno.exe's exit code.
wine_env_run() (
  wine_env_require
  wine_env_lock
  wine_env_setup_locked   # milliseconds when everything is in place
  wine_env_chroot "$C_WINE" "$C_DENO" "$@"
)

# A Windows program of the repo (a path relative to it) under Wine.
wine_env_exec() (
  local prog=$1
  shift
  wine_env_require
  wine_env_lock
  wine_env_setup_locked
  wine_env_chroot "$C_WINE" "$C_REPO/$prog" "$@"
)

wine_env_main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    setup) wine_env_setup ;;
    run) wine_env_run "$@" ;;
    exec) wine_env_exec "$@" ;;
    __ns) wine_env__ns "$@" ;;
    __step) "$1" ;;
    *)
      echo "usage: bash tools/wine_env.sh setup | run <deno.exe args...> | exec <repo-relative .exe> [args...]" >&2
      exit 64 ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  wine_env_main "$@"
fi

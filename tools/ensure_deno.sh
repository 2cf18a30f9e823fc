#!/usr/bin/env bash
# Print the absolute path of a Linux `deno` of the project's pinned version.
#
# Order: $DENO if it names an executable (lets a developer use their own
# build), else a repo-local npm install under .cache/deno. npm is used because
# the npm registry is the only download source these machines can reach.
# stdout carries only the path; npm's chatter goes to stderr or nowhere.
set -euo pipefail

DENO_VERSION=2.9.6
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

if [[ -n "${DENO:-}" && -f "$DENO" && -x "$DENO" ]]; then
  # Normalise to an absolute path so callers may change directory.
  printf '%s\n' "$(cd "$(dirname "$DENO")" && pwd -P)/$(basename "$DENO")"
  exit 0
fi

prefix="$REPO/.cache/deno"
bin="$prefix/node_modules/.bin/deno"
manifest="$prefix/node_modules/deno/package.json"

installed() {
  # The version check (cheap: no process start) makes a version bump in this
  # file reinstall instead of silently running an old deno.
  [[ -x "$bin" && -f "$manifest" ]] &&
    grep -q "\"version\": *\"$DENO_VERSION\"" "$manifest"
}

if ! installed; then
  mkdir -p "$prefix"
  # Two concurrent first runs must not interleave two npm installs.
  exec 8>"$prefix/.lock"
  flock 8
  if ! installed; then
    echo "ensure_deno: installing deno@$DENO_VERSION from npm into $prefix" >&2
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
      "deno@$DENO_VERSION" >/dev/null
    installed || { echo "ensure_deno: npm did not produce $bin" >&2; exit 1; }
  fi
fi
printf '%s\n' "$bin"

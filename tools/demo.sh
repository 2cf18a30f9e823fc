#!/usr/bin/env bash
# The README's demo command: builds the library if needed, starts the echo
# server, talks to it with the example client, and leaves the server running
# in the foreground (ctrl-C stops it gracefully). With --once (used by the
# tests' smoke run) it stops the server itself after the client is done.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
deno=$(bash tools/ensure_deno.sh)
"$deno" task build linux >/dev/null
port=${PORT:-7007}
perms=(--allow-ffi --allow-read --allow-env --allow-net=127.0.0.1)
"$deno" run "${perms[@]}" examples/echo_server.ts "$port" &
server=$!
trap 'kill -INT $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done
"$deno" run "${perms[@]}" examples/echo_client.ts "$port"
if [ "${1:-}" = "--once" ]; then exit 0; fi
echo "server still running; press ctrl-C to stop it"
wait $server

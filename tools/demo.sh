#!/usr/bin/env bash
# The README's demo command: builds the library if needed, starts the echo
# server (examples/echo_server.ts), and shows it at work: the example client
# twice, three connections open at once, then one that is still connected
# when the server gets ctrl-C (SIGINT) and is drained gracefully: its echo
# flushed, then closed. The server prints each connection coming and going with the
# bytes it echoed, and the totals at the end. Ends by itself.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
deno=$(bash tools/ensure_deno.sh)
"$deno" task --quiet build linux >/dev/null
port=${PORT:-7007}
perms=(--allow-ffi --allow-read --allow-env --allow-net=127.0.0.1)
client() { "$deno" run "${perms[@]}" examples/echo_client.ts "$port" | sed -u "s/^/  [client $1] /"; }

"$deno" run "${perms[@]}" examples/echo_server.ts "$port" > >(sed -u 's/^/[server] /') &
server=$!
stop_server() { kill -INT "$server" 2>/dev/null || true; }
trap 'stop_server; wait $server 2>/dev/null || true' EXIT
# Ready when it accepts a connection (the first "+ ... / - ..." it prints).
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done
sleep 0.2

echo "== the example client, twice"
client 1
client 2
sleep 0.2
echo "== three connections open at once, each echoed, closed one by one"
exec 4<>/dev/tcp/127.0.0.1/"$port" 5<>/dev/tcp/127.0.0.1/"$port" 6<>/dev/tcp/127.0.0.1/"$port"
for fd in 4 5 6; do printf 'line on connection %s\n' "$fd" >&"$fd"; done
for fd in 4 5 6; do
  read -r -t 5 line <&"$fd" && echo "  [fd $fd] $line"
  exec {fd}>&-
  sleep 0.2
done
echo "== one client still connected, then ctrl-C to the server: the graceful drain"
exec 3<>/dev/tcp/127.0.0.1/"$port"
printf 'still here\n' >&3
sleep 0.5
stop_server
# The drain flushes our echo, then closes: cat ends at that FIN.
sed 's/^/  [client 6] /' <&3
exec 3>&-
wait "$server" 2>/dev/null || true
trap - EXIT

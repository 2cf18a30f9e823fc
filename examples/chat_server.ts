/**
 * A line-based chat server: every line a client sends goes to all the
 * others as `<name>: <line>`. `/nick <name>` renames, `/who` lists who is
 * here, `/quit` leaves. Try it with two terminals running
 * `nc 127.0.0.1 7008` (or `telnet`). Stops gracefully on ctrl-C or SIGTERM
 * (ctrl-Break on Windows), telling everyone first.
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-net=127.0.0.1 examples/chat_server.ts [port]
 */
import { ShutdownCoordinator, type TcpConnection, TcpListener } from "../mod.ts";
import { LineSplitter } from "./lines.ts";
import { onStopSignal } from "./stop_signals.ts";

const port = Number(Deno.args[0] ?? 7008);
const coordinator = new ShutdownCoordinator();
const listener = await TcpListener.listen("127.0.0.1", port);
listener.track(coordinator);
console.log(`chat server on 127.0.0.1:${listener.localPort}; ctrl-C to stop`);

const encoder = new TextEncoder();
const members = new Map<TcpConnection, string>();
let guests = 0;

function tell(conn: TcpConnection, text: string): void {
  // A member that does not read is dropped rather than buffered without bound.
  if (conn.send(encoder.encode(`${text}\n`)) === "pressure" && conn.sendQueueLen > 1 << 20) conn.abort();
}

function broadcast(text: string, except?: TcpConnection): void {
  console.log(text);
  for (const conn of members.keys()) if (conn !== except) tell(conn, text);
}

function command(conn: TcpConnection, line: string): void {
  const name = members.get(conn)!;
  const [cmd, ...rest] = line.split(" ");
  if (cmd === "/nick" && /^[\w-]{1,20}$/.test(rest.join(" "))) {
    const next = rest.join(" ");
    if ([...members.values()].includes(next)) return tell(conn, `* ${next} is taken`);
    members.set(conn, next);
    broadcast(`* ${name} is now ${next}`);
  } else if (cmd === "/who") {
    tell(conn, `* here: ${[...members.values()].join(", ")}`);
  } else if (cmd === "/quit") {
    tell(conn, "* bye");
    conn.close();
  } else {
    tell(conn, "* commands: /nick <name> (letters, digits, _ or -), /who, /quit");
  }
}

listener.onConnection = (_l, conn) => {
  conn.track(coordinator);
  const name = `guest${++guests}`;
  members.set(conn, name);
  tell(conn, `* welcome, ${name}; /nick <name> to rename, /who, /quit`);
  broadcast(`* ${name} joined`, conn);
  const lines = new LineSplitter();
  conn.onData = (c, data) => {
    for (const line of lines.push(data)) {
      if (line.startsWith("/")) command(c, line);
      else if (line.trim()) broadcast(`${members.get(c)}: ${line}`, c);
    }
  };
  conn.onClose = (c) => {
    const who = members.get(c);
    members.delete(c);
    if (who) broadcast(`* ${who} left`);
  };
};

onStopSignal(async (signal) => {
  broadcast(`* server stopping (${signal})`);
  const { drained, aborted } = await coordinator.shutdown({ signal: AbortSignal.timeout(2000) });
  console.log(`closed: ${drained} drained, ${aborted} aborted`);
  Deno.exit(0);
});

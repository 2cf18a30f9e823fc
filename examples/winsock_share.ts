/**
 * Sharing a listening socket with other processes on Windows, through
 * Winsock over FFI (examples/multicore_server.ts; the tests of adopted
 * listeners use it too). Windows has no SO_REUSEPORT: a parent makes one
 * listening socket, and for each worker process WSADuplicateSocketW
 * describes it in a WSAPROTOCOL_INFOW blob; the worker turns the blob into
 * a socket of its own with WSASocketW(FROM_PROTOCOL_INFO) and hands that
 * value to `TcpListener.adopt`. Every worker then accepts from the one
 * backlog.
 */
const AF_INET = 2, SOCK_STREAM = 1, IPPROTO_TCP = 6;
const WSA_FLAG_OVERLAPPED = 0x01, WSA_FLAG_NO_HANDLE_INHERIT = 0x80;
const FROM_PROTOCOL_INFO = -1;
/** sizeof(WSAPROTOCOL_INFOW) on x64. */
export const PROTOCOL_INFO_SIZE = 628;

/** Opens ws2_32.dll; `close()` when done. */
export function winsock() {
  const ws = Deno.dlopen("ws2_32.dll", {
    WSAStartup: { parameters: ["u16", "buffer"], result: "i32" },
    WSASocketW: { parameters: ["i32", "i32", "i32", "buffer", "u32", "u32"], result: "u64" },
    bind: { parameters: ["u64", "buffer", "i32"], result: "i32" },
    listen: { parameters: ["u64", "i32"], result: "i32" },
    getsockname: { parameters: ["u64", "buffer", "buffer"], result: "i32" },
    closesocket: { parameters: ["u64"], result: "i32" },
    WSADuplicateSocketW: { parameters: ["u64", "u32", "buffer"], result: "i32" },
    WSAGetLastError: { parameters: [], result: "i32" },
  });
  ws.symbols.WSAStartup(0x0202, new Uint8Array(512));
  const fail = (what: string) => new Error(`${what}: WSA error ${ws.symbols.WSAGetLastError()}`);
  return {
    /** A listening IPv4 socket on 127.0.0.1:`port` (overlapped, as IOCP wants); its value and port. */
    listen(port = 0): { sock: bigint; port: number } {
      const s = ws.symbols.WSASocketW(
        AF_INET,
        SOCK_STREAM,
        IPPROTO_TCP,
        null,
        0,
        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
      );
      if (s === 0xffffffffffffffffn) throw fail("WSASocketW");
      const sa = new Uint8Array(16);
      new DataView(sa.buffer).setUint16(0, AF_INET, true);
      new DataView(sa.buffer).setUint16(2, port, false);
      sa.set([127, 0, 0, 1], 4);
      if (ws.symbols.bind(s, sa, 16) !== 0) throw fail("bind");
      if (ws.symbols.listen(s, 64) !== 0) throw fail("listen");
      const len = new Int32Array([16]);
      if (ws.symbols.getsockname(s, sa, new Uint8Array(len.buffer)) !== 0) throw fail("getsockname");
      return { sock: s, port: (sa[2] << 8) | sa[3] };
    },
    /** WSADuplicateSocketW for process `pid`: the WSAPROTOCOL_INFOW blob to hand over. */
    duplicate(sock: bigint, pid: number): Uint8Array {
      const info = new Uint8Array(PROTOCOL_INFO_SIZE);
      if (ws.symbols.WSADuplicateSocketW(sock, pid, info) !== 0) throw fail("WSADuplicateSocketW");
      return info;
    },
    /** The receiving side: the socket a WSAPROTOCOL_INFOW describes, as a value of this process. */
    fromProtocolInfo(info: Uint8Array): bigint {
      const s = ws.symbols.WSASocketW(
        FROM_PROTOCOL_INFO,
        FROM_PROTOCOL_INFO,
        FROM_PROTOCOL_INFO,
        info as Uint8Array<ArrayBuffer>,
        0,
        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
      );
      if (s === 0xffffffffffffffffn) throw fail("WSASocketW(FROM_PROTOCOL_INFO)");
      return s;
    },
    /** Closes a socket this process holds. */
    closesocket(sock: bigint): void {
      ws.symbols.closesocket(sock);
    },
    /** Closes the library. */
    close(): void {
      ws.close();
    },
  };
}

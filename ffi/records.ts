/**
 * Layout of the records and addresses the shim writes, defined once on the
 * TypeScript side. tests/layout_test.ts reads the C side's sizes and offsets
 * back through `aio_layout` and compares.
 *
 * @module
 */

/** aio_record: eight 32-bit fields. */
export const RECORD = {
  size: 32,
  id: 0,
  kind: 4,
  status: 8,
  osError: 12,
  offset: 16,
  length: 20,
  handleLo: 24,
  handleHi: 28,
} as const;

/** aio_addr: family, port, scope id, 16 address bytes. */
export const ADDR = { size: 24, family: 0, port: 2, scopeId: 4, bytes: 8 } as const;

/** What a record reports (enum aio_record_kind). */
export const RecordKind = {
  DATA: 1,
  END: 2,
  WRITTEN: 3,
  CONNECTED: 4,
  ACCEPTED: 5,
  CLOSED: 6,
  ERROR: 7,
  SHUTDOWN: 8,
  ACCEPT_ERROR: 9,
} as const;

/** enum aio_close_mode. */
export const CloseMode = { GRACEFUL: 0, ABORT: 1, NOW: 2, EAGER: 3 } as const;

/** What `aio_backend` returns. */
export const Backend = { EPOLL: 1, IOCP: 2 } as const;

/** What `aio_os_close` closes: a socket or a pipe (a HANDLE on Windows). */
export const OsHandleKind = { SOCKET: 0, PIPE: 1 } as const;

/** Which address `aio_address` reads. */
export const AddressSide = { LOCAL: 0, REMOTE: 1 } as const;

/** Records are read as 32-bit words: a field's index is its offset / 4. */
export const RecordWord = {
  id: RECORD.id / 4,
  kind: RECORD.kind / 4,
  status: RECORD.status / 4,
  osError: RECORD.osError / 4,
  offset: RECORD.offset / 4,
  length: RECORD.length / 4,
  handleLo: RECORD.handleLo / 4,
  handleHi: RECORD.handleHi / 4,
  count: RECORD.size / 4,
} as const;

/** enum aio_flags. */
export const Flags = {
  V6ONLY: 1,
  NODELAY: 2,
  READABLE: 4,
  WRITABLE: 8,
  REUSEPORT: 16,
  EXCLUSIVE: 32,
  ACCEPTED: 64,
} as const;

/** enum aio_buffer: which socket buffer `aio_tcp_buffer_size` reads or sets. */
export const BufferKind = { RECV: 0, SEND: 1 } as const;

/** The order `aio_layout` writes its values in. */
export function expectedLayout(): number[] {
  return [
    RECORD.size,
    RECORD.id,
    RECORD.kind,
    RECORD.status,
    RECORD.osError,
    RECORD.offset,
    RECORD.length,
    RECORD.handleLo,
    RECORD.handleHi,
    ADDR.size,
    ADDR.family,
    ADDR.port,
    ADDR.scopeId,
    ADDR.bytes,
  ];
}

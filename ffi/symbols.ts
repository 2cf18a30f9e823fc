/**
 * The C ABI of native/include/aio.h, mirrored once. Every function returns
 * an i32: >= 0 a result, < 0 a negated library error code.
 *
 * `aio_loop_wait` is bound twice through `name:`: `loop_wait` is the
 * nonblocking binding that parks on a pool thread, `loop_poll` the
 * synchronous one the pump calls with a zero timeout first.
 *
 * @module
 */

/** The symbol table passed to `Deno.dlopen`. */
export const symbols = {
  aio_abi_version: { parameters: [], result: "i32" },
  aio_backend: { parameters: [], result: "i32" },
  /* (out: i32*, cap) -> count */
  aio_layout: { parameters: ["buffer", "i32"], result: "i32" },
  /* (code, out: char*, cap) -> length */
  aio_error_name: { parameters: ["i32", "buffer", "i32"], result: "i32" },

  /* (err_out: i32[2]) -> loop */
  aio_loop_new: { parameters: ["buffer"], result: "pointer" },
  aio_loop_free: { parameters: ["pointer"], result: "void" },
  /* (loop, timeout_ms) -> raw entries harvested */
  loop_wait: { name: "aio_loop_wait", parameters: ["pointer", "i32"], result: "i32", nonblocking: true },
  loop_poll: { name: "aio_loop_wait", parameters: ["pointer", "i32"], result: "i32" },
  /* (loop, busy_us, max_us) -> raw entries harvested; the bounded wait on the loop's thread */
  aio_loop_spin: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  /* (loop) -> records written */
  aio_loop_dispatch: { parameters: ["pointer"], result: "i32" },
  aio_loop_pending: { parameters: ["pointer"], result: "i32" },
  aio_loop_wake: { parameters: ["pointer"], result: "i32" },
  aio_loop_records: { parameters: ["pointer"], result: "pointer" },
  aio_loop_record_capacity: { parameters: ["pointer"], result: "i32" },
  aio_loop_arena: { parameters: ["pointer"], result: "pointer" },
  aio_loop_arena_size: { parameters: ["pointer"], result: "i32" },
  aio_loop_handle_count: { parameters: ["pointer"], result: "i32" },
  aio_loop_os_error: { parameters: ["pointer"], result: "i32" },

  /* (loop, id, mode) */
  aio_close: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  aio_read_start: { parameters: ["pointer", "u32"], result: "i32" },
  aio_read_stop: { parameters: ["pointer", "u32"], result: "i32" },
  /* (loop, id, bytes) */
  aio_read_budget: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  /* (loop, id, data, len) -> bytes the OS took at once */
  aio_send: { parameters: ["pointer", "u32", "buffer", "i32"], result: "i32" },
  aio_shutdown: { parameters: ["pointer", "u32"], result: "i32" },
  /* (loop, id, which: 0 local | 1 peer, out: aio_addr*) */
  aio_address: { parameters: ["pointer", "u32", "i32", "buffer"], result: "i32" },

  /* (loop, addr, backlog, flags, accepts) -> id */
  aio_tcp_listen: { parameters: ["pointer", "buffer", "i32", "i32", "i32"], result: "i32" },
  /* (loop, addr, flags) -> id */
  aio_tcp_connect: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  /* (loop, os_handle, flags) -> id */
  aio_tcp_adopt: { parameters: ["pointer", "u64", "i32"], result: "i32" },
  /* (loop, id, on): a stream's, or a listener's for what it accepts */
  aio_tcp_nodelay: { parameters: ["pointer", "u32", "i32"], result: "i32" },
  /* (loop, addr, local: aio_addr* | null, flags) -> id */
  aio_tcp_connect_from: { parameters: ["pointer", "buffer", "buffer", "i32"], result: "i32" },
  /* (loop, id, on, idle_ms, interval_ms, count) */
  aio_tcp_keepalive: { parameters: ["pointer", "u32", "i32", "i32", "i32", "i32"], result: "i32" },
  /* (loop, id, which: 0 recv | 1 send, size: 0 reads) -> the OS's value */
  aio_tcp_buffer_size: { parameters: ["pointer", "u32", "i32", "i32"], result: "i32" },
  /* (loop, id, level, name, out, cap) -> length */
  aio_sockopt_get: { parameters: ["pointer", "u32", "i32", "i32", "buffer", "i32"], result: "i32" },
  /* (loop, id, level, name, value, len) */
  aio_sockopt_set: { parameters: ["pointer", "u32", "i32", "i32", "buffer", "i32"], result: "i32" },
  /* (loop, os_handle, accepts) -> listener id */
  aio_tcp_adopt_listener: { parameters: ["pointer", "u64", "i32"], result: "i32" },
  /* (os_handle, kind: 0 socket | 1 pipe) */
  aio_os_close: { parameters: ["u64", "i32"], result: "i32" },

  /* (host: char*, family, out: aio_addr*, cap, err_out: i32[2]) -> count */
  aio_resolve: { parameters: ["buffer", "i32", "buffer", "i32", "buffer"], result: "i32", nonblocking: true },

  /* (out: u64[2], err_out: i32[2]) */
  aio_pipe_pair: { parameters: ["buffer", "buffer"], result: "i32" },
  /* (loop, os_handle, flags) -> id */
  aio_pipe_adopt: { parameters: ["pointer", "u64", "i32"], result: "i32" },
  /* (loop, path: char*, backlog, flags) -> id */
  aio_pipe_listen: { parameters: ["pointer", "buffer", "i32", "i32"], result: "i32" },
  /* (loop, path: char*) -> id */
  aio_pipe_connect: { parameters: ["pointer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The typed functions of the opened library. */
export type Native = Deno.DynamicLibrary<typeof symbols>["symbols"];

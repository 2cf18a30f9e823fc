/*
 * dispatch.c - the one place where the IOCP backend tells the kinds of
 * handle apart: each kind's operations (win_kind_ops) are defined by the
 * file whose job that kind is (stream.c, tcp.c, pipe.c), and the backend
 * verbs that apply to any handle look them up here.
 */
#include "win.h"

const win_kind_ops *win_ops(const aio_handle *h) {
  switch (h->kind) {
    case KIND_LISTENER: return &win_listener_ops;
    case KIND_PIPE_LISTENER: return &win_pipe_listener_ops;
    default: return &win_stream_ops; /* KIND_STREAM, KIND_PIPE */
  }
}

int backend_process(aio_loop *loop, aio_handle *h) {
  return win_ops(h)->process(loop, h);
}

int32_t backend_close(aio_loop *loop, aio_handle *h, int32_t mode) {
  return win_ops(h)->close(loop, h, mode);
}

int32_t backend_read_start(aio_loop *loop, aio_handle *h) {
  return win_ops(h)->read_start(loop, h);
}

int32_t backend_read_stop(aio_loop *loop, aio_handle *h) {
  AIO_UNUSED(loop);
  /* Nothing is cancelled, whatever the kind: an operation in flight
   * completes and its result waits on the handle (a zero-byte read pins no
   * memory, an accepted socket stays queued); only no new one is started
   * (docs/DESIGN.md, "The read path in C"). */
  h->flags &= ~(uint32_t)H_READING;
  return 0;
}

int backend_socket(const aio_handle *h, net_socket *out) {
  return win_ops(h)->socket(h, out);
}

int32_t backend_os_close(uint64_t os_handle, int32_t kind) {
  int32_t os_error = 0;
  if (kind == 0) {
    int32_t r = win_startup(&os_error);
    if (r < 0) return r;
    /* Never CloseHandle on a SOCKET. */
    if (closesocket((SOCKET)os_handle) != 0)
      return -(int32_t)error_from_os(WSAGetLastError());
    return 0;
  }
  if (!CloseHandle((HANDLE)(uintptr_t)os_handle))
    return -(int32_t)error_from_os((int32_t)GetLastError());
  return 0;
}

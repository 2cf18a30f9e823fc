/*
 * stream.c - reading, writing, half-closing and closing a connected socket
 * or pipe end on IOCP: the verbs that stream_process (../stream.c) drives.
 *
 * Reads on sockets pin no memory (docs/DESIGN.md, rules "The kernel never
 * holds JS memory" and "Read on readiness; pausing keeps data"): the only
 * operation in flight is a zero-byte overlapped WSARecv. Its completion
 * only says "data, EOF or an error is waiting" (H_READABLE); the bytes are
 * then taken with a non-blocking recv() straight into the loop's arena, in
 * dispatch, up to the read budget. So an idle connection holds no buffer,
 * no JS memory is ever in the kernel's hands, and pausing is simply not
 * re-posting the zero-byte read: unread data stays in the kernel's socket
 * buffer (and TCP flow control pushes back on the peer), never dropped.
 *
 * Pipe ends read with an overlapped ReadFile into their own 64 KiB buffer
 * (a zero-byte read is not a reliable readiness signal on pipes); dispatch
 * copies from it into the arena, and the next ReadFile is posted only once
 * it is empty, so a paused pipe holds at most one buffer.
 *
 * Writes copy into the handle's queue and keep exactly one WSASend (or
 * WriteFile) in flight over its head. One send at a time keeps the order
 * and makes the queue the only backpressure the JS side sees: under Wine
 * the kernel takes any amount at once, so "wait until it refuses" would
 * never push back (docs/DESIGN.md, rule "The library pushes back on
 * writes").
 */
#include <string.h>

#include "win.h"

#define WSABUF_BATCH 64
/* Unread bytes discarded before a graceful close: Windows answers the
 * close of a socket with unread data by RST, which could destroy data
 * still on its way to the peer. */
#define CLOSE_DISCARD_LIMIT (1024 * 1024)

/* The zero-byte read's buffer: never written, shared by all sockets. */
static char stream__zero[1];

static void stream__op_init(win_stream *s, win_op *op, win_op_type type) {
  op->type = type;
  op->owner = &s->w;
}

win_stream *win_stream_new(aio_loop *loop, handle_kind kind, uint32_t flags) {
  size_t size = sizeof(win_stream) + (kind == KIND_PIPE ? WIN_PIPE_BUFFER : 0);
  win_stream *s = (win_stream *)handle_new(loop, size, kind);
  if (!s) return NULL;
  s->sock = INVALID_SOCKET;
  s->file = INVALID_HANDLE_VALUE;
  stream__op_init(s, &s->read_op, OP_READ);
  stream__op_init(s, &s->write_op, OP_WRITE);
  stream__op_init(s, &s->connect_op, OP_CONNECT);
  s->w.base.flags |= flags;
  return s;
}

/* Posts the pipe's ReadFile into its own buffer; 0 when it pends or is
 * done now (then H_READABLE says so), else the error. */
static DWORD stream__file_read_post(win_stream *s) {
  DWORD e;
  win_op_post(&s->read_op);
  if (ReadFile(s->file, s->buf, WIN_PIPE_BUFFER, NULL, &s->read_op.ov)) {
    /* Done now, no packet: the bytes are in the buffer. */
    win_op_unpost(&s->read_op);
    s->buf_start = 0;
    s->buf_end = (uint32_t)s->read_op.ov.InternalHigh;
    s->w.base.flags |= H_READABLE;
    return 0;
  }
  e = GetLastError();
  if (e == ERROR_IO_PENDING) return 0;
  win_op_unpost(&s->read_op);
  if (e == ERROR_MORE_DATA) {
    /* A message-mode pipe: the buffer is full, the rest comes next. */
    s->buf_start = 0;
    s->buf_end = (uint32_t)s->read_op.ov.InternalHigh;
    s->w.base.flags |= H_READABLE;
    return 0;
  }
  if (win_is_pipe_eof(e)) {
    /* The writer is gone: END once the buffer is empty (it is). */
    handle_read_final_seen(&s->w.base);
    s->w.base.flags |= H_READABLE;
    return 0;
  }
  return e;
}

/* Posts one WriteFile over the queue head; bytes done at once go to
 * *done. 0 when it pends or all is done, else the error. */
static DWORD stream__file_write_post(win_stream *s, uint64_t *done) {
  aio_handle *h = &s->w.base;
  while (h->queue.bytes > 0 && !s->write_op.posted) {
    const uint8_t *p;
    uint32_t len;
    DWORD e;
    if (sendq_peek(&h->queue, &p, &len, 1) == 0) break;
    win_op_post(&s->write_op);
    if (WriteFile(s->file, p, len, NULL, &s->write_op.ov)) {
      /* Done now, no packet: the pipe took the bytes; go on. */
      uint64_t n = (uint64_t)s->write_op.ov.InternalHigh;
      win_op_unpost(&s->write_op);
      sendq_consume(&h->queue, n);
      *done += n;
      continue;
    }
    e = GetLastError();
    if (e == ERROR_IO_PENDING) return 0;
    win_op_unpost(&s->write_op);
    return e; /* ERROR_NO_DATA / ERROR_BROKEN_PIPE: EPIPE */
  }
  return 0;
}

/* Posts the zero-byte WSARecv; 0 when it pends or is done now. */
static DWORD stream__recv_post(win_stream *s) {
  WSABUF buf;
  DWORD flags = 0;
  DWORD e;
  buf.buf = stream__zero;
  buf.len = 0;
  win_op_post(&s->read_op);
  if (WSARecv(s->sock, &buf, 1, NULL, &flags, &s->read_op.ov, NULL) == 0) {
    /* Done now, no packet: something is waiting to be read. */
    win_op_unpost(&s->read_op);
    s->w.base.flags |= H_READABLE;
    return 0;
  }
  e = (DWORD)WSAGetLastError();
  if (e == WSA_IO_PENDING) return 0;
  win_op_unpost(&s->read_op);
  return e;
}

/* Starts waiting for readable data; returns nonzero when it is there at
 * once, so the caller may read again in this dispatch. */
static int stream__arm(win_stream *s) {
  aio_handle *h = &s->w.base;
  DWORD e;
  if (s->read_op.posted || (h->flags & H_READABLE) || h->read != READ_OPEN ||
      handle_failed(h))
    return (h->flags & H_READABLE) != 0;
  e = s->file != INVALID_HANDLE_VALUE ? stream__file_read_post(s)
                                      : stream__recv_post(s);
  if (e) {
    handle_fail(h, win_error_read(e), (int32_t)e);
    return 0;
  }
  return (h->flags & H_READABLE) != 0;
}

/* Posts one WSASend over up to WSABUF_BATCH queued chunks. The chunks do
 * not move while it is in flight (sendq.c appends behind them). */
static DWORD stream__send_post(win_stream *s, uint64_t *done) {
  aio_handle *h = &s->w.base;
  while (h->queue.bytes > 0 && !s->write_op.posted) {
    WSABUF bufs[WSABUF_BATCH];
    const uint8_t *ptrs[WSABUF_BATCH];
    uint32_t lens[WSABUF_BATCH];
    int i, n = sendq_peek(&h->queue, ptrs, lens, WSABUF_BATCH);
    DWORD sent = 0, e;
    for (i = 0; i < n; i++) {
      bufs[i].buf = (char *)ptrs[i];
      bufs[i].len = lens[i];
    }
    win_op_post(&s->write_op);
    if (WSASend(s->sock, bufs, (DWORD)n, &sent, 0, &s->write_op.ov, NULL) ==
        0) {
      /* Done now, no packet: the bytes are the kernel's; go on. */
      win_op_unpost(&s->write_op);
      sendq_consume(&h->queue, sent);
      *done += sent;
      continue;
    }
    e = (DWORD)WSAGetLastError();
    if (e == WSA_IO_PENDING) return 0;
    win_op_unpost(&s->write_op);
    return e;
  }
  return 0;
}

/* Starts the next write if none is in flight; bytes done at once are
 * added to *done. Returns 0 or the error of the start call. */
static DWORD stream__flush(win_stream *s, uint64_t *done) {
  aio_handle *h = &s->w.base;
  DWORD e = s->file != INVALID_HANDLE_VALUE
                ? stream__file_write_post(s, done)
                : stream__send_post(s, done);
  /* H_WRITABLE: no write in flight, the next one may start. */
  if (s->write_op.posted)
    h->flags &= ~(uint32_t)H_WRITABLE;
  else
    h->flags |= H_WRITABLE;
  return e;
}

void backend_stream_discard_unread(aio_handle *h) {
  win_stream *s = (win_stream *)h;
  size_t total = 0;
  char buf[16384];
  if (s->sock == INVALID_SOCKET) return;
  while (total < CLOSE_DISCARD_LIMIT) {
    int n = recv(s->sock, buf, (int)sizeof buf, 0);
    if (n <= 0) break;
    total += (size_t)n;
  }
}

int32_t backend_stream_shutdown(aio_handle *h, int32_t *os_error) {
  win_stream *s = (win_stream *)h;
  /* Pipes have no half-close (docs/DESIGN.md, rule "Named pipes admit only
   * their owner"). */
  if (s->sock != INVALID_SOCKET && shutdown(s->sock, SD_SEND) != 0) {
    DWORD e = (DWORD)WSAGetLastError();
    if (e != WSAENOTCONN) return error_out((int32_t)e, os_error);
  }
  return 0;
}

/* Pipes: hands the bytes of the last ReadFile to the arena. */
static int stream__read_pipe(aio_loop *loop, win_stream *s, uint32_t want) {
  aio_handle *h = &s->w.base;
  uint32_t n = s->buf_end - s->buf_start;
  if (n == 0) {
    h->flags &= ~(uint32_t)H_READABLE;
    /* The writer is gone and its last bytes are out: END. */
    if (h->read == READ_FINAL_SEEN) {
      handle_read_end(h);
      return 0;
    }
    return stream__arm(s);
  }
  if (n > want) n = want;
  memcpy(arena_tail(loop), s->buf + s->buf_start, n);
  records_push_data(loop, h, n);
  s->buf_start += n;
  if (s->buf_start < s->buf_end) return 1;
  /* The buffer is free again: the next ReadFile may use it. */
  s->buf_start = s->buf_end = 0;
  h->flags &= ~(uint32_t)H_READABLE;
  return stream__arm(s);
}

/* Reads once into the arena; returns nonzero when more may be waiting. */
static int stream__read(aio_loop *loop, win_stream *s) {
  aio_handle *h = &s->w.base;
  uint32_t room = arena_room(loop);
  uint32_t want = (uint32_t)h->read_budget < room ? (uint32_t)h->read_budget
                                                  : room;
  int n;
  if (h->read == READ_FINAL_SEEN && s->read_os_error) {
    DWORD e = (DWORD)s->read_os_error;
    s->read_os_error = 0;
    h->flags &= ~(uint32_t)H_READABLE;
    handle_fail(h, win_error_read(e), (int32_t)e);
    return 0;
  }
  if (want == 0) return 1;
  if (s->file != INVALID_HANDLE_VALUE) return stream__read_pipe(loop, s, want);
  n = recv(s->sock, (char *)arena_tail(loop), (int)want, 0);
  if (n > 0) {
    records_push_data(loop, h, (uint32_t)n);
    if ((uint32_t)n == want) return 1; /* maybe more: stay READABLE */
    /* A short read has probably drained the socket: the zero-byte read
     * says when more comes (or completes at once if it has already). */
    h->flags &= ~(uint32_t)H_READABLE;
    return stream__arm(s);
  }
  if (n == 0) {
    handle_read_end(h);
    return 0;
  }
  h->flags &= ~(uint32_t)H_READABLE;
  {
    DWORD e = (DWORD)WSAGetLastError();
    if (e == WSAEWOULDBLOCK) return stream__arm(s);
    handle_fail(h, win_error_read(e), (int32_t)e);
  }
  return 0;
}

void backend_stream_connected(aio_loop *loop, aio_handle *h) {
  win_stream *s = (win_stream *)h;
  DWORD err = (DWORD)s->connect_os_error;
  AIO_UNUSED(loop);
  /* Windows gives a ConnectEx socket its connected state (getpeername,
   * shutdown) only with this option; Wine works without it, so only the
   * check keeps a failure from being hidden. */
  if (!err &&
      setsockopt(s->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0) != 0)
    err = (DWORD)WSAGetLastError();
  if (!err && s->sock != INVALID_SOCKET &&
      net_self_connected(s->sock, h->connect_port))
    err = WSAECONNREFUSED;
  if (err) {
    /* The CONNECTED record carries the failure; JS closes the handle. */
    handle_connect_report(h, -(int32_t)error_from_os((int32_t)err),
                          (int32_t)err);
    return;
  }
  /* Connected: writes may start, and reads once JS asks for them. */
  h->flags |= H_WRITABLE;
  handle_connect_report(h, 0, 0);
}

static void stream__complete(aio_loop *loop, win_op *op, DWORD bytes,
                             DWORD err) {
  win_stream *s = (win_stream *)op->owner;
  aio_handle *h = &s->w.base;
  switch (op->type) {
    case OP_READ:
      if (s->file != INVALID_HANDLE_VALUE &&
          (!err || err == ERROR_MORE_DATA)) {
        /* The bytes are in the pipe's buffer (none: read again). */
        s->buf_start = 0;
        s->buf_end = bytes;
        h->flags |= H_READABLE;
      } else if (s->file != INVALID_HANDLE_VALUE && win_is_pipe_eof(err)) {
        handle_read_final_seen(h); /* the writer closed its end */
        h->flags |= H_READABLE;
      } else if (!err) {
        h->flags |= H_READABLE; /* the zero-byte read: data or EOF waits */
      } else if (!win_is_cancel(err)) {
        s->read_os_error = (int32_t)err;
        handle_read_final_seen(h);
        h->flags |= H_READABLE;
      }
      /* Cancelled on a live handle: nothing waits; re-armed if reading. */
      break;
    case OP_WRITE:
      /* The kernel took these bytes: they leave the queue and will be
       * reported by WRITTEN; the next write may start. */
      sendq_consume(&h->queue, bytes);
      h->written += bytes;
      h->flags |= H_WRITABLE;
      if (err) handle_fail(h, error_from_os((int32_t)err), (int32_t)err);
      break;
    case OP_CONNECT:
      s->connect_os_error = (int32_t)err;
      handle_connect_known(h);
      break;
    default:
      break;
  }
  loop_pend(loop, h);
}

static void stream__cancel(win_stream *s, HANDLE os) {
  /* Each op by its own OVERLAPPED (docs/DESIGN.md, rule "Close: cancel,
   * drain, then free"); its packet still comes, with
   * 995 (or 676 under Wine), and frees the handle when it is the last. */
  if (s->read_op.posted) CancelIoEx(os, &s->read_op.ov);
  if (s->write_op.posted) CancelIoEx(os, &s->write_op.ov);
  if (s->connect_op.posted) CancelIoEx(os, &s->connect_op.ov);
}

int32_t win_stream_close(aio_loop *loop, win_stream *s, int32_t mode) {
  AIO_UNUSED(loop);
  if (s->sock != INVALID_SOCKET) {
    if (mode == AIO_CLOSE_ABORT) {
      /* linger {1, 0}: the close sends RST and drops what is queued. */
      struct linger l;
      l.l_onoff = 1;
      l.l_linger = 0;
      setsockopt(s->sock, SOL_SOCKET, SO_LINGER, (const char *)&l, sizeof l);
    }
    stream__cancel(s, (HANDLE)s->sock);
    closesocket(s->sock); /* never CloseHandle on a SOCKET */
    s->sock = INVALID_SOCKET;
  }
  if (s->file != INVALID_HANDLE_VALUE) {
    stream__cancel(s, s->file);
    CloseHandle(s->file);
    s->file = INVALID_HANDLE_VALUE;
  }
  /* The id dies now; the memory when the last packet is in. */
  handle_release(&s->w.base);
  win_handle_free_if_drained(&s->w);
  return 0;
}

static int32_t stream__read_start(aio_loop *loop, aio_handle *h) {
  win_stream *s = (win_stream *)h;
  h->flags |= H_READING;
  /* The zero-byte read is posted once the connect is through. */
  if (handle_connecting(h)) return 0;
  /* A completion that came while paused is still waiting; otherwise
   * re-post the read that pausing did not (a failure pends by itself). */
  if (stream__arm(s)) loop_pend(loop, h);
  return 0;
}

int32_t backend_send(aio_loop *loop, aio_handle *h, const uint8_t *data,
                     uint32_t len) {
  win_stream *s = (win_stream *)h;
  int was_empty = h->queue.bytes == 0;
  uint64_t done = 0;
  DWORD e;
  int r = sendq_append(&h->queue, data, len);
  if (r < 0) return r;
  if (s->write_op.posted || handle_connecting(h)) return 0;
  if (!was_empty) {
    /* Older bytes wait for a dispatch to start their write (a completion
     * was harvested but not processed yet): keep the order. */
    loop_pend(loop, h);
    return 0;
  }
  /* The queue held only these bytes, so what completes at once is theirs
   * and goes back to the caller, not into WRITTEN. */
  e = stream__flush(s, &done);
  if (e) return win_fail(loop, e);
  return (int32_t)done;
}

int backend_stream_connect_done(aio_handle *h) {
  /* Connecting until the ConnectEx result is in. */
  return h->connect == CONNECT_DONE;
}

int backend_stream_can_flush(aio_handle *h) {
  /* One write in flight at a time. */
  return !((win_stream *)h)->write_op.posted;
}

int32_t backend_stream_flush(aio_handle *h, int32_t *os_error) {
  DWORD e = stream__flush((win_stream *)h, &h->written);
  return e ? error_out((int32_t)e, os_error) : 0;
}

int backend_stream_read(aio_loop *loop, aio_handle *h) {
  win_stream *s = (win_stream *)h;
  /* Nothing known to wait: post the zero-byte read (or the pipe read). */
  return (h->flags & H_READABLE) ? stream__read(loop, s) : stream__arm(s);
}

static int32_t stream__close(aio_loop *loop, aio_handle *h, int32_t mode) {
  return win_stream_close(loop, (win_stream *)h, mode);
}

static int stream__socket(const aio_handle *h, SOCKET *out) {
  const win_stream *s = (const win_stream *)h;
  *out = s->sock;
  return s->sock != INVALID_SOCKET;
}

const win_kind_ops win_stream_ops = {stream__complete, stream_process,
                                     stream__close, stream__read_start,
                                     stream__socket};

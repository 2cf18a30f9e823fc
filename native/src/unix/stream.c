/*
 * stream.c - an fd as a handle on epoll: opening it (wrap or adopt, the
 * one place an fd is registered, as libuv's uv__stream_open), then reading,
 * writing, half-closing and closing it. TCP sockets, Unix domain sockets,
 * pipe ends and the listeners of both go through here.
 *
 * Writes are eager: aio_send writes what the kernel takes at once straight
 * from the caller's buffer and queues only the rest natively; the queue
 * moves on EPOLLOUT edges. Reads happen in dispatch, into the loop's arena,
 * up to the handle's read budget.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../net.h"
#include "unix.h"

#define IOV_BATCH 64
/* Unread bytes discarded before a graceful close, so that closing does not
 * turn into an RST that could destroy data still on its way to the peer. */
#define CLOSE_DISCARD_LIMIT (1024 * 1024)

/* A handle for fd, registered with epoll; adopted fds (adopt != 0) are
 * made O_NONBLOCK and FD_CLOEXEC, as the library creates its own. On
 * failure the fd is neither closed nor changed (its flags are put back):
 * aio.h's ownership rule for every adopt. Nothing else touches the fd
 * before the registration succeeded, so only the flags need putting back. */
static int32_t stream__handle_new(aio_loop *loop, int fd, handle_kind kind,
                               uint32_t flags, int adopt, unix_handle **out) {
  int fl = 0, fdfl = 0;
  unix_handle *u;
  int32_t r, os_error = 0;
  if (adopt) {
    fl = fcntl(fd, F_GETFL);
    fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0) return unix_fail(loop, errno);
  }
  u = (unix_handle *)handle_new(loop, sizeof *u, kind);
  if (!u) return loop_fail(loop, AIO_ENOMEM, ENOMEM);
  u->fd = fd;
  u->base.flags |= flags;
  r = unix_register(loop, u,
                    kind == KIND_LISTENER ? EPOLLIN
                                          : EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                    &os_error);
  /* Accepted sockets have both flags already: no call for them. */
  if (r == 0 && adopt &&
      ((!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) ||
       (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0))) {
    os_error = errno;
    r = -(int32_t)error_from_os(os_error);
    unix_unregister(loop, u);
    fcntl(fd, F_SETFL, fl);
    fcntl(fd, F_SETFD, fdfl);
  }
  if (r < 0) {
    u->fd = -1; /* handle_destroy must not close it */
    handle_destroy(&u->base);
    return loop_fail(loop, (enum aio_error)-r, os_error);
  }
  if (out) *out = u;
  return (int32_t)u->base.id;
}

int32_t unix_handle_adopt(aio_loop *loop, int fd, handle_kind kind,
                          uint32_t flags, unix_handle **out) {
  return stream__handle_new(loop, fd, kind, flags, 1, out);
}

int32_t unix_handle_take(aio_loop *loop, int fd, handle_kind kind,
                         uint32_t flags, unix_handle **out) {
  return stream__handle_new(loop, fd, kind, flags, 0, out);
}

int32_t unix_handle_wrap(aio_loop *loop, int fd, handle_kind kind,
                         uint32_t flags, unix_handle **out) {
  int32_t r = stream__handle_new(loop, fd, kind, flags, 0, out);
  if (r < 0) close(fd);
  return r;
}

/* 0 when the queue is empty or the kernel is full, else the failure. */
int32_t backend_stream_flush(aio_handle *h, int32_t *os_error) {
  unix_handle *u = (unix_handle *)h;
  while (h->queue.bytes > 0) {
    struct iovec iov[IOV_BATCH];
    const uint8_t *bufs[IOV_BATCH];
    uint32_t lens[IOV_BATCH];
    int i, n = sendq_peek(&h->queue, bufs, lens, IOV_BATCH);
    ssize_t w;
    for (i = 0; i < n; i++) {
      iov[i].iov_base = (void *)bufs[i];
      iov[i].iov_len = lens[i];
    }
    if (u->is_socket) {
      struct msghdr m;
      memset(&m, 0, sizeof m);
      m.msg_iov = iov;
      m.msg_iovlen = (size_t)n;
      w = sendmsg(u->fd, &m, MSG_NOSIGNAL);
    } else {
      w = writev(u->fd, iov, n);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        h->flags &= ~(uint32_t)H_WRITABLE;
        return 0;
      }
      return error_out(errno, os_error);
    }
    sendq_consume(&h->queue, (uint64_t)w);
    h->written += (uint64_t)w;
  }
  return 0;
}

void backend_stream_discard_unread(aio_handle *h) {
  unix_handle *u = (unix_handle *)h;
  size_t total = 0;
  char buf[16384];
  while (total < CLOSE_DISCARD_LIMIT) {
    ssize_t n = read(u->fd, buf, sizeof buf);
    if (n <= 0) break;
    total += (size_t)n;
  }
}

int32_t backend_stream_shutdown(aio_handle *h, int32_t *os_error) {
  unix_handle *u = (unix_handle *)h;
  if (u->is_socket && shutdown(u->fd, SHUT_WR) < 0 && errno != ENOTCONN)
    return error_out(errno, os_error);
  return 0;
}

/* Reads once into the arena; returns nonzero when more may be waiting. */
static int stream__read(aio_loop *loop, unix_handle *u) {
  aio_handle *h = &u->base;
  uint32_t room = arena_room(loop);
  uint32_t want = (uint32_t)h->read_budget < room ? (uint32_t)h->read_budget
                                                  : room;
  ssize_t n;
  if (want == 0) return 1;
  do {
    n = read(u->fd, arena_tail(loop), want);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    records_push_data(loop, h, (uint32_t)n);
    /* A short read drained the socket: a new edge comes with new data.
     * Not so once EOF or an error was seen: its edge came already, so
     * read on until read() reports it. */
    if ((uint32_t)n < want && h->read != READ_FINAL_SEEN)
      h->flags &= ~(uint32_t)H_READABLE;
    return (h->flags & H_READABLE) != 0;
  }
  h->flags &= ~(uint32_t)H_READABLE;
  if (n == 0) {
    handle_read_end(h);
  } else if (errno != EAGAIN) {
    int e = errno;
    handle_fail(h, error_from_os(e), e);
  }
  return 0;
}

void backend_stream_connected(aio_loop *loop, aio_handle *h) {
  unix_handle *u = (unix_handle *)h;
  int err = 0;
  socklen_t len = sizeof err;
  AIO_UNUSED(loop);
  if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (!err && u->is_socket && net_self_connected(u->fd, h->connect_port))
    err = ECONNREFUSED;
  /* The CONNECTED record carries a failure; JS closes the handle. */
  handle_connect_report(h, err ? -(int32_t)error_from_os(err) : 0, err);
}

int32_t unix_stream_close(aio_loop *loop, unix_handle *u, int32_t mode) {
  AIO_UNUSED(loop);
  if (u->fd >= 0) {
    if (mode == AIO_CLOSE_ABORT && u->is_socket) {
      /* linger {1, 0}: close sends RST and drops what is queued. */
      struct linger l;
      l.l_onoff = 1;
      l.l_linger = 0;
      setsockopt(u->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    if (u->path && u->base.kind == KIND_LISTENER) unlink(u->path);
    close(u->fd); /* also removes it from the epoll set */
    u->fd = -1;
  }
  free(u->path);
  u->path = NULL;
  handle_destroy(&u->base);
  return 0;
}

int32_t backend_read_start(aio_loop *loop, aio_handle *h) {
  h->flags |= H_READING;
  /* A resumed listener tries accept() again whatever the edge state, as
   * libuv does: connections may wait in the backlog with no edge left to
   * announce them (one came before an EMFILE, or while paused, and was
   * spent). An empty backlog costs one EAGAIN. */
  if (h->kind == KIND_LISTENER) h->flags |= H_READABLE;
  /* The edge that announced waiting data may have come while paused. */
  if (h->flags & H_READABLE) loop_pend(loop, h);
  return 0;
}

int32_t backend_read_stop(aio_loop *loop, aio_handle *h) {
  AIO_UNUSED(loop);
  h->flags &= ~(uint32_t)H_READING;
  return 0;
}

/* A socket is written with MSG_NOSIGNAL: a peer that went away must be an
 * EPIPE for the caller, not a SIGPIPE that kills a C host (aio.h). A pipe
 * end has no such flag; aio.h says what the host must do. */
static ssize_t stream__write(unix_handle *u, const uint8_t *data,
                             uint32_t len) {
  if (u->is_socket) return send(u->fd, data, len, MSG_NOSIGNAL);
  return write(u->fd, data, len);
}

int32_t backend_send(aio_loop *loop, aio_handle *h, const uint8_t *data,
                     uint32_t len) {
  unix_handle *u = (unix_handle *)h;
  uint32_t done = 0;
  if (h->queue.bytes == 0 && !handle_connecting(h)) {
    ssize_t w;
    do {
      w = stream__write(u, data, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno != EAGAIN) return unix_fail(loop, errno);
      w = 0;
    }
    done = (uint32_t)w;
    if (done < len) h->flags &= ~(uint32_t)H_WRITABLE;
  }
  if (done < len) {
    int r = sendq_append(&h->queue, data + done, len - done);
    if (r < 0) return r;
    /* If the kernel has room again since the last edge, move the queue in
     * the next dispatch rather than wait for an edge that came already. */
    if (h->flags & H_WRITABLE) loop_pend(loop, h);
  }
  return (int32_t)done;
}

int backend_stream_connect_done(aio_handle *h) {
  /* Connecting until epoll says writable (or failed). */
  return (h->flags & H_WRITABLE) != 0;
}

int backend_stream_can_flush(aio_handle *h) {
  return (h->flags & H_WRITABLE) != 0;
}

int backend_stream_read(aio_loop *loop, aio_handle *h) {
  /* Edge-triggered: only an edge (or a hang-up seen before) says there is
   * something to read. */
  if (!(h->flags & H_READABLE)) return 0;
  return stream__read(loop, (unix_handle *)h);
}

int backend_socket(const aio_handle *h, net_socket *out) {
  const unix_handle *u = (const unix_handle *)h;
  if (!u->is_socket || u->fd < 0) return 0;
  *out = u->fd;
  return 1;
}

int32_t backend_os_close(uint64_t os_handle, int32_t kind) {
  AIO_UNUSED(kind);
  if (os_handle > INT32_MAX) return -AIO_EBADF;
  if (close((int)os_handle) < 0) return -(int32_t)error_from_os(errno);
  return 0;
}

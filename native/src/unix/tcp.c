/*
 * tcp.c - TCP listen, connect, adopt and accept on epoll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../net.h"
#include "unix.h"

/* At most this many accepts per dispatch turn, so a flood of connections
 * cannot starve established ones. */
#define ACCEPT_BATCH 128

int32_t backend_tcp_listen(aio_loop *loop, const aio_addr *addr,
                           int32_t backlog, int32_t flags, int32_t accepts) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)sockaddr_from_aio(addr, &ss);
  int on = 1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unix_handle *u;
  int32_t r;
  AIO_UNUSED(accepts); /* accept4 needs no outstanding requests */
  if (fd < 0) return unix_fail(loop, errno);
  /* Linux: SO_REUSEADDR only lets a new listener bind past TIME_WAIT; it
   * does not let two listeners share a port (docs/DESIGN.md, rule "Bind
   * without letting others take the port"). */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
    return unix_fail_fd(loop, fd, errno);
  /* Sharing the port is asked for, never implied: each listener of the
   * group binds with it (the kernel spreads connections over them). A
   * Linux socket binds exclusively without it, so AIO_F_EXCLUSIVE needs
   * nothing here. */
  if ((flags & AIO_F_REUSEPORT) &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
    return unix_fail_fd(loop, fd, errno);
  if (addr->family == 6) {
    /* Always explicit: the default differs between systems. */
    int v6only = (flags & AIO_F_V6ONLY) ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
      return unix_fail_fd(loop, fd, errno);
  }
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0)
    return unix_fail_fd(loop, fd, errno);
  r = unix_handle_wrap(loop, fd, KIND_LISTENER, H_READING, &u);
  if (r >= 0) u->is_socket = 1;
  return r;
}

/* SO_KEEPALIVE and its timing on fd; 0 or the errno. Linux counts the
 * times in seconds: a millisecond value is rounded up, never to 0 (which
 * the kernel refuses), in 64 bits (INT32_MAX + 999 overflowed; the
 * fuzzer's UBSan found it). */
static int tcp__keepalive(int fd, int on, int32_t idle_ms,
                          int32_t interval_ms, int32_t count) {
  int v = on ? 1 : 0;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) < 0) return errno;
  if (!on) return 0;
  if (idle_ms > 0) {
    v = (int)(((int64_t)idle_ms + 999) / 1000);
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v) < 0)
      return errno;
  }
  if (interval_ms > 0) {
    v = (int)(((int64_t)interval_ms + 999) / 1000);
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v) < 0)
      return errno;
  }
  if (count > 0) {
    v = (int)count;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v) < 0)
      return errno;
  }
  return 0;
}

/* What a listener gives each accepted socket. Best effort: the
 * connection is good without them, and JS cannot be told per socket. */
static void tcp__accept_opts(int fd, const tcp_opts *o) {
  if (o->send_buffer > 0) unix_socket_send_buffer(fd, o->send_buffer);
  if (o->set_nodelay) {
    int v = o->nodelay;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
  }
  if (o->set_keepalive)
    tcp__keepalive(fd, o->keepalive, o->idle_ms, o->interval_ms, o->count);
}

int32_t backend_tcp_keepalive(aio_loop *loop, aio_handle *h, int32_t on,
                              int32_t idle_ms, int32_t interval_ms,
                              int32_t count) {
  int e = tcp__keepalive(((unix_handle *)h)->fd, on, idle_ms, interval_ms,
                         count);
  return e ? unix_fail(loop, e) : 0;
}

int32_t backend_tcp_connect(aio_loop *loop, const aio_addr *addr,
                            const aio_addr *local, int32_t flags) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)sockaddr_from_aio(addr, &ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  unix_handle *u;
  int32_t r;
  if (fd < 0) return unix_fail(loop, errno);
  if (flags & AIO_F_NODELAY) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  if (local) {
    /* Bind before connecting: the source address (and port) is chosen. */
    struct sockaddr_storage ls;
    socklen_t llen = (socklen_t)sockaddr_from_aio(local, &ls);
    if (bind(fd, (struct sockaddr *)&ls, llen) < 0)
      return unix_fail_fd(loop, fd, errno);
  }
  if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
    return unix_fail_fd(loop, fd, errno);
  /* Done at once or in progress: either way the writable edge reports the
   * outcome, and SO_ERROR tells which it was. */
  r = unix_handle_wrap(loop, fd, KIND_STREAM, 0, &u);
  if (r < 0) return r;
  u->is_socket = 1;
  u->base.connect_port = addr->port;
  handle_connect_begin(&u->base);
  return r;
}

int32_t backend_tcp_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags) {
  int fd = (int)os_handle;
  int type = 0;
  socklen_t len = sizeof type;
  unix_handle *u;
  int32_t r;
  if (os_handle > INT32_MAX) return loop_fail(loop, AIO_EBADF, EBADF);
  /* Our own accept4 made it (SOCK_NONBLOCK | SOCK_CLOEXEC): three system
   * calls fewer on the path of every accepted connection. */
  if (flags & AIO_F_ACCEPTED) {
    r = unix_handle_take(loop, fd, KIND_STREAM, H_WRITABLE, &u);
  } else {
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
      return unix_fail(loop, errno); /* not a socket: EBADF / ENOTSOCK */
    if (type != SOCK_STREAM) return loop_fail(loop, AIO_EINVAL, 0);
    r = unix_handle_adopt(loop, fd, KIND_STREAM, H_WRITABLE, &u);
  }
  if (r < 0) return r;
  u->is_socket = 1;
  /* Only once the socket is ours: a refused adopt changes no option. */
  if (flags & AIO_F_NODELAY) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  return r;
}

int32_t backend_tcp_adopt_listener(aio_loop *loop, uint64_t os_handle,
                                   int32_t accepts) {
  int fd = (int)os_handle;
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  unix_handle *u;
  int32_t r;
  AIO_UNUSED(accepts); /* accept4 needs no outstanding requests */
  if (os_handle > INT32_MAX) return loop_fail(loop, AIO_EBADF, EBADF);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    return unix_fail(loop, errno); /* not a socket: EBADF / ENOTSOCK */
  len = sizeof listening;
  /* A TCP listener only: a Unix domain socket listens too, but has no
   * IP address or TCP options (PipeListener is its class). */
  if (type != SOCK_STREAM ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
      !listening || !net_is_ip(fd))
    return loop_fail(loop, AIO_EINVAL, 0);
  /* Registered edge-triggered: connections already in the backlog make
   * the first edge at once (epoll reports the ready state on ADD). */
  r = unix_handle_adopt(loop, fd, KIND_LISTENER, H_READING, &u);
  if (r >= 0) u->is_socket = 1;
  return r;
}

int32_t backend_tcp_nodelay(aio_loop *loop, aio_handle *h, int32_t on) {
  unix_handle *u = (unix_handle *)h;
  int v = on ? 1 : 0;
  if (setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0)
    return unix_fail(loop, errno);
  return 0;
}

int unix_listener_process(aio_loop *loop, unix_handle *u) {
  aio_handle *h = &u->base;
  int n;
  if ((h->flags & (H_READING | H_READABLE)) != (H_READING | H_READABLE))
    return 0;
  for (n = 0; n < ACCEPT_BATCH; n++) {
    int fd;
    if (records_room(loop) < RECORD_RESERVE) return 1;
    fd = accept4(u->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      tcp__accept_opts(fd, &h->accept_opts);
      records_push_handle(loop, h, (uint64_t)fd);
      continue;
    }
    switch (errno) {
      case EAGAIN:
        h->flags &= ~(uint32_t)H_READABLE;
        return 0;
      case EINTR:
      case ECONNABORTED: /* that connection died in the queue: next one */
      case EPROTO:
        continue;
      default:
        /* EMFILE and the like: report it and stop accepting until JS
         * resumes; the listener itself stays open. H_READABLE stays set:
         * the connections that could not be accepted are still queued,
         * and the edge that announced them will not come again. */
        h->flags &= ~(uint32_t)H_READING;
        records_push(loop, h, AIO_REC_ACCEPT_ERROR,
                     -(int32_t)error_from_os(errno), errno);
        return 0;
    }
  }
  return 1;
}

/*
 * api.c - the public entry points for handles: look the id up, check the
 * arguments and the handle's state, then hand over to the backend. No call
 * is half done when it is refused.
 */
#include <string.h>

#include "net.h"

static const char *const error__names[AIO_ERROR_COUNT] = {
    "OK",           "EBADID",        "EINVAL",      "ENOMEM",
    "ECLOSED",      "EAGAIN",        "EADDRINUSE",  "EADDRNOTAVAIL",
    "ECONNREFUSED", "ECONNRESET",    "ECONNABORTED", "ETIMEDOUT",
    "ENOENT",       "EACCES",        "EPIPE",       "ECANCELED",
    "ENETUNREACH",  "EHOSTUNREACH",  "EBUSY",       "ENOTSUP",
    "EMFILE",       "ENOTFOUND",     "EEXIST",      "ENOTCONN",
    "EBADF",        "EIO",           "ENAMETOOLONG", "EAFNOSUPPORT"};

#define STREAM_KIND(h) ((h)->kind == KIND_STREAM || (h)->kind == KIND_PIPE)

AIO_EXPORT int32_t aio_abi_version(void) { return AIO_ABI_VERSION; }

AIO_EXPORT int32_t aio_layout(int32_t *out, int32_t cap) {
  const int32_t v[] = {
      (int32_t)sizeof(aio_record),
      (int32_t)offsetof(aio_record, id),
      (int32_t)offsetof(aio_record, kind),
      (int32_t)offsetof(aio_record, status),
      (int32_t)offsetof(aio_record, os_error),
      (int32_t)offsetof(aio_record, offset),
      (int32_t)offsetof(aio_record, length),
      (int32_t)offsetof(aio_record, handle_lo),
      (int32_t)offsetof(aio_record, handle_hi),
      (int32_t)sizeof(aio_addr),
      (int32_t)offsetof(aio_addr, family),
      (int32_t)offsetof(aio_addr, port),
      (int32_t)offsetof(aio_addr, scope_id),
      (int32_t)offsetof(aio_addr, bytes)};
  int32_t n = (int32_t)(sizeof v / sizeof v[0]);
  int32_t i;
  RETURN_IF(!out || cap < n, AIO_EINVAL);
  for (i = 0; i < n; i++) out[i] = v[i];
  return n;
}

AIO_EXPORT int32_t aio_error_name(int32_t code, char *out, int32_t cap) {
  size_t len;
  /* Either sign names the same error; INT32_MIN has no positive twin (its
   * negation overflows), so it is refused before it is negated. */
  RETURN_IF(code == INT32_MIN, AIO_EINVAL);
  if (code < 0) code = -code;
  RETURN_IF(code >= AIO_ERROR_COUNT || !out || cap <= 0, AIO_EINVAL);
  len = strlen(error__names[code]);
  RETURN_IF(len + 1 > (size_t)cap, AIO_EINVAL);
  memcpy(out, error__names[code], len + 1);
  return (int32_t)len;
}

static aio_handle *api__get(aio_loop *loop, aio_id id) {
  return loop ? table_get(&loop->table, id) : NULL;
}

AIO_EXPORT int32_t aio_close(aio_loop *loop, aio_id id, int32_t mode) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(mode < AIO_CLOSE_GRACEFUL || mode > AIO_CLOSE_EAGER, AIO_EINVAL);
  if (mode == AIO_CLOSE_GRACEFUL || mode == AIO_CLOSE_EAGER) {
    /* A listener has nothing to flush: its graceful close is immediate. */
    if (!STREAM_KIND(h)) return backend_close(loop, h, AIO_CLOSE_NOW);
    /* A second graceful close while one runs is a no-op; an abort may cut
     * a graceful close short. */
    if (handle_closing(h)) return 0;
    /* Nothing queued, nothing in flight (bytes leave the queue only once
     * the OS took them) and nothing taken but unreported: the dispatch
     * turn that would finish the close has nothing to wait for, so it is
     * done here, and the FIN leaves a turn earlier (docs/DESIGN.md, "The
     * send path in C"). */
    if (mode == AIO_CLOSE_EAGER && h->life == LIFE_OPEN &&
        !handle_connecting(h) && h->queue.bytes == 0 && h->written == 0) {
      int32_t os_error = 0;
      handle_close_begin(h);
      stream_close_flushed(h, &os_error);
      backend_close(loop, h, AIO_CLOSE_NOW);
      return 1;
    }
    /* The rest happens in stream_process, which flushes the queue, sends
     * FIN and reports AIO_REC_CLOSED. */
    handle_close_begin(h);
    return 0;
  }
  return backend_close(loop, h, mode);
}

AIO_EXPORT int32_t aio_read_start(aio_loop *loop, aio_id id) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(h->kind == KIND_PIPE && !(h->flags & H_READ_END), AIO_EINVAL);
  /* Reading already, or no more I/O (closing or failed): nothing to do. */
  if ((h->flags & H_READING) || h->life != LIFE_OPEN) return 0;
  return backend_read_start(loop, h);
}

AIO_EXPORT int32_t aio_read_stop(aio_loop *loop, aio_id id) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  if (!(h->flags & H_READING)) return 0;
  return backend_read_stop(loop, h);
}

AIO_EXPORT int32_t aio_read_budget(aio_loop *loop, aio_id id, int32_t bytes) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(bytes < 1 || bytes > ARENA_SIZE, AIO_EINVAL);
  h->read_budget = bytes;
  return 0;
}

AIO_EXPORT int32_t aio_send(aio_loop *loop, aio_id id, const uint8_t *data,
                            int32_t len) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!STREAM_KIND(h), AIO_EINVAL);
  RETURN_IF(h->kind == KIND_PIPE && !(h->flags & H_WRITE_END), AIO_EINVAL);
  RETURN_IF(len < 0 || (len > 0 && !data), AIO_EINVAL);
  RETURN_IF(h->life != LIFE_OPEN || h->shut != SHUT_NONE, AIO_ECLOSED);
  if (len == 0) return 0;
  return backend_send(loop, h, data, (uint32_t)len);
}

AIO_EXPORT int32_t aio_shutdown(aio_loop *loop, aio_id id) {
  aio_handle *h = api__get(loop, id);
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(h->kind != KIND_STREAM, AIO_EINVAL);
  RETURN_IF(h->life != LIFE_OPEN, AIO_ECLOSED);
  if (h->shut != SHUT_NONE) return 0;
  /* stream_process sends FIN once the queue is flushed. */
  handle_shut_request(h);
  return 0;
}

AIO_EXPORT int32_t aio_address(aio_loop *loop, aio_id id, int32_t which,
                               aio_addr *out) {
  aio_handle *h = api__get(loop, id);
  net_socket s;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!out || which < 0 || which > 1, AIO_EINVAL);
  RETURN_IF(h->kind != KIND_STREAM && h->kind != KIND_LISTENER, AIO_EINVAL);
  memset(out, 0, sizeof *out);
  RETURN_IF(!backend_socket(h, &s), AIO_EINVAL);
  return net_address(loop, s, which, out);
}

static int api__valid_addr(const aio_addr *addr) {
  return addr && (addr->family == 4 || addr->family == 6);
}

AIO_EXPORT int32_t aio_tcp_listen(aio_loop *loop, const aio_addr *addr,
                                  int32_t backlog, int32_t flags,
                                  int32_t accepts) {
  RETURN_IF(!loop || !api__valid_addr(addr), AIO_EINVAL);
  RETURN_IF(backlog < 1 || accepts < 1 || accepts > 256, AIO_EINVAL);
  return backend_tcp_listen(loop, addr, backlog, flags, accepts);
}

AIO_EXPORT int32_t aio_tcp_connect(aio_loop *loop, const aio_addr *addr,
                                   int32_t flags) {
  return aio_tcp_connect_from(loop, addr, NULL, flags);
}

AIO_EXPORT int32_t aio_tcp_connect_from(aio_loop *loop, const aio_addr *addr,
                                        const aio_addr *local,
                                        int32_t flags) {
  RETURN_IF(!loop || !api__valid_addr(addr) || addr->port == 0, AIO_EINVAL);
  /* A socket has one family: the local address must be of the peer's. */
  RETURN_IF(local && (!api__valid_addr(local) ||
                      local->family != addr->family), AIO_EINVAL);
  return backend_tcp_connect(loop, addr, local, flags);
}

AIO_EXPORT int32_t aio_tcp_adopt(aio_loop *loop, uint64_t os_handle,
                                 int32_t flags) {
  RETURN_IF(!loop, AIO_EINVAL);
  return backend_tcp_adopt(loop, os_handle, flags);
}

/* A TCP stream or listener (not a Unix domain socket listener, which has
 * no TCP options). */
static int api__tcp(aio_handle *h) {
  net_socket s;
  if (h->kind == KIND_STREAM) return 1;
  /* A listener of either kind is KIND_LISTENER: only an IP one is TCP. */
  return h->kind == KIND_LISTENER && backend_socket(h, &s) && net_is_ip(s);
}

AIO_EXPORT int32_t aio_tcp_nodelay(aio_loop *loop, aio_id id, int32_t on) {
  aio_handle *h = api__get(loop, id);
  int32_t r;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!api__tcp(h), AIO_EINVAL);
  r = backend_tcp_nodelay(loop, h, on);
  if (r >= 0 && h->kind == KIND_LISTENER) {
    /* For every socket accepted from now on (docs/DESIGN.md, "Connection
     * control"): inheritance from the listener differs between systems. */
    h->accept_opts.set_nodelay = 1;
    h->accept_opts.nodelay = on ? 1 : 0;
  }
  return r;
}

AIO_EXPORT int32_t aio_tcp_keepalive(aio_loop *loop, aio_id id, int32_t on,
                                     int32_t idle_ms, int32_t interval_ms,
                                     int32_t count) {
  aio_handle *h = api__get(loop, id);
  int32_t r;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!api__tcp(h), AIO_EINVAL);
  RETURN_IF(idle_ms < 0 || interval_ms < 0 || count < 0 || count > 127,
            AIO_EINVAL);
  r = backend_tcp_keepalive(loop, h, on, idle_ms, interval_ms, count);
  if (r >= 0 && h->kind == KIND_LISTENER) {
    h->accept_opts.set_keepalive = 1;
    h->accept_opts.keepalive = on ? 1 : 0;
    h->accept_opts.idle_ms = idle_ms;
    h->accept_opts.interval_ms = interval_ms;
    h->accept_opts.count = count;
  }
  return r;
}

AIO_EXPORT int32_t aio_tcp_buffer_size(aio_loop *loop, aio_id id,
                                       int32_t which, int32_t size) {
  aio_handle *h = api__get(loop, id);
  net_socket s;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(which != AIO_BUF_RECV && which != AIO_BUF_SEND, AIO_EINVAL);
  RETURN_IF(size < 0, AIO_EINVAL);
  RETURN_IF(!api__tcp(h) || !backend_socket(h, &s), AIO_EINVAL);
  return net_buffer_size(loop, s, which == AIO_BUF_SEND, size);
}

AIO_EXPORT int32_t aio_sockopt_get(aio_loop *loop, aio_id id, int32_t level,
                                   int32_t name, uint8_t *out, int32_t cap) {
  aio_handle *h = api__get(loop, id);
  net_socket s;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!out || cap < 1 || cap > 1024, AIO_EINVAL);
  RETURN_IF(!backend_socket(h, &s), AIO_EINVAL); /* a pipe has none */
  return net_sockopt_get(loop, s, level, name, out, cap);
}

AIO_EXPORT int32_t aio_sockopt_set(aio_loop *loop, aio_id id, int32_t level,
                                   int32_t name, const uint8_t *value,
                                   int32_t len) {
  aio_handle *h = api__get(loop, id);
  net_socket s;
  RETURN_IF(!h, AIO_EBADID);
  RETURN_IF(!value || len < 1 || len > 1024, AIO_EINVAL);
  RETURN_IF(!backend_socket(h, &s), AIO_EINVAL);
  /* The loop's I/O needs non-blocking sockets (lori's rule too). */
  RETURN_IF(net_sockopt_blocking(level, name), AIO_EINVAL);
  return net_sockopt_set(loop, s, level, name, value, len);
}

AIO_EXPORT int32_t aio_tcp_adopt_listener(aio_loop *loop, uint64_t os_handle,
                                          int32_t accepts) {
  RETURN_IF(!loop || accepts < 1 || accepts > 256, AIO_EINVAL);
  return backend_tcp_adopt_listener(loop, os_handle, accepts);
}

AIO_EXPORT int32_t aio_os_close(uint64_t os_handle, int32_t kind) {
  RETURN_IF(kind != 0 && kind != 1, AIO_EINVAL);
  return backend_os_close(os_handle, kind);
}

AIO_EXPORT int32_t aio_resolve(const char *host, int32_t family, aio_addr *out,
                               int32_t cap, int32_t *err_out) {
  int32_t os_error = 0;
  int32_t r;
  if (!host || !out || cap < 1 || (family != 0 && family != 4 && family != 6))
    r = -AIO_EINVAL;
  else
    r = backend_resolve(host, family, out, cap, &os_error);
  if (err_out) {
    err_out[0] = r < 0 ? -r : 0;
    err_out[1] = r < 0 ? os_error : 0;
  }
  return r;
}

AIO_EXPORT int32_t aio_pipe_pair(uint64_t *out, int32_t *err_out) {
  int32_t os_error = 0;
  int32_t r = out ? backend_pipe_pair(out, &os_error) : -AIO_EINVAL;
  if (err_out) {
    err_out[0] = r < 0 ? -r : 0;
    err_out[1] = r < 0 ? os_error : 0;
  }
  return r;
}

AIO_EXPORT int32_t aio_pipe_adopt(aio_loop *loop, uint64_t os_handle,
                                  int32_t flags) {
  RETURN_IF(!loop, AIO_EINVAL);
  RETURN_IF(!(flags & (AIO_F_READABLE | AIO_F_WRITABLE)), AIO_EINVAL);
  return backend_pipe_adopt(loop, os_handle, flags);
}

AIO_EXPORT int32_t aio_pipe_listen(aio_loop *loop, const char *path,
                                   int32_t backlog, int32_t flags) {
  RETURN_IF(!loop || !path || !*path || backlog < 1, AIO_EINVAL);
  return backend_pipe_listen(loop, path, backlog, flags);
}

AIO_EXPORT int32_t aio_pipe_connect(aio_loop *loop, const char *path) {
  RETURN_IF(!loop || !path || !*path, AIO_EINVAL);
  return backend_pipe_connect(loop, path);
}

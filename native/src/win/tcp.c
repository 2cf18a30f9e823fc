/*
 * tcp.c - TCP listen (AcceptEx), connect (ConnectEx), adopt, options and
 * addresses on IOCP.
 *
 * A listener keeps up to `accepts` AcceptEx in flight, each with its own
 * pre-created socket and address buffer (docs/DESIGN.md, rule "Keep
 * several accepts outstanding"). Accepted sockets wait in
 * a FIFO until a dispatch reports them; an AcceptEx is only re-posted while
 * the listener accepts (H_READING) and while the sockets it owns (queued +
 * in flight) stay within `accepts`, so a paused listener holds at most that
 * many connections and leaves the rest in the kernel's backlog.
 */
#include <stddef.h>
#include <string.h>

#include "win.h"

#include <mstcpip.h>

/* Immediate per-connection failures re-posted in one go at most. */
#define ACCEPT_RETRIES 128

/* A new overlapped, non-inheritable, non-blocking TCP socket. */
static SOCKET tcp__socket(int family, DWORD *err) {
  u_long on = 1;
  SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    /* Windows 7 before SP1 does not know the flag. */
    s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                   WSA_FLAG_OVERLAPPED);
    if (s != INVALID_SOCKET)
      SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  }
  if (s == INVALID_SOCKET) {
    *err = (DWORD)WSAGetLastError();
    return INVALID_SOCKET;
  }
  if (ioctlsocket(s, FIONBIO, &on) != 0) {
    *err = (DWORD)WSAGetLastError();
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

static DWORD tcp__extension(SOCKET s, GUID guid, void *fn, DWORD size) {
  DWORD bytes = 0;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, fn,
               size, &bytes, NULL, NULL) != 0)
    return (DWORD)WSAGetLastError();
  return 0;
}

/* ConnectEx of the IPv4 and IPv6 providers, fetched once per process on
 * first use: the pointer is the provider's, the same for every socket of
 * a family. A failed fetch leaves the once open, so a later connect tries
 * again. */
static INIT_ONCE tcp__connectex_once[2] = {INIT_ONCE_STATIC_INIT,
                                           INIT_ONCE_STATIC_INIT};
static LPFN_CONNECTEX tcp__connectex_fn[2];

typedef struct tcp__connectex_req {
  SOCKET sock;
  int v6;
  DWORD err;
} tcp__connectex_req;

static BOOL CALLBACK tcp__connectex_load(PINIT_ONCE once, PVOID param,
                                         PVOID *ctx) {
  tcp__connectex_req *r = param;
  GUID guid = WSAID_CONNECTEX;
  AIO_UNUSED(once);
  AIO_UNUSED(ctx);
  r->err = tcp__extension(r->sock, guid, &tcp__connectex_fn[r->v6],
                          sizeof tcp__connectex_fn[r->v6]);
  return r->err == 0;
}

/* ConnectEx for s's family, or NULL with *err set. */
static LPFN_CONNECTEX tcp__connectex(SOCKET s, int v6, DWORD *err) {
  tcp__connectex_req r;
  r.sock = s;
  r.v6 = v6 ? 1 : 0;
  r.err = 0;
  if (!InitOnceExecuteOnce(&tcp__connectex_once[r.v6], tcp__connectex_load,
                           &r, NULL)) {
    *err = r.err ? r.err : GetLastError();
    return NULL;
  }
  return tcp__connectex_fn[r.v6];
}

static int32_t tcp__fail_socket(aio_loop *loop, SOCKET s, DWORD err) {
  if (s != INVALID_SOCKET) closesocket(s);
  return win_fail(loop, err);
}

static int tcp__is_v4_mapped(const aio_addr *a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a->family == 6 && memcmp(a->bytes, prefix, 12) == 0;
}

static int tcp__is_loopback(const aio_addr *a) {
  static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                      0, 0, 0, 0, 0, 0, 0, 1};
  if (a->family == 4) return a->bytes[0] == 127;
  return memcmp(a->bytes, v6_loop, 16) == 0 ||
         (tcp__is_v4_mapped(a) && a->bytes[12] == 127);
}

static int32_t listener__close(aio_loop *loop, win_listener *l);

/* Keepalive option numbers of Windows 10 1709 and later, which mingw-w64's
 * headers may lack (ws2ipdef.h). */
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE 3 /* TCP_KEEPALIVE */
#endif
#ifndef TCP_KEEPCNT
#define TCP_KEEPCNT 16
#endif
#ifndef TCP_KEEPINTVL
#define TCP_KEEPINTVL 17
#endif

static int tcp__int_opt(SOCKET s, int level, int name, int v) {
  return setsockopt(s, level, name, (const char *)&v, (int)sizeof v);
}

/* SO_KEEPALIVE and its timing on s; 0 or the Winsock error. The per-socket
 * options count seconds; where they are missing (before Windows 10 1709)
 * SIO_KEEPALIVE_VALS takes milliseconds but no probe count. */
static DWORD tcp__keepalive(SOCKET s, int on, int32_t idle_ms,
                            int32_t interval_ms, int32_t count) {
  int idle_s = (int)(((int64_t)idle_ms + 999) / 1000);
  int intvl_s = (int)(((int64_t)interval_ms + 999) / 1000);
  if (tcp__int_opt(s, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0) != 0)
    return (DWORD)WSAGetLastError();
  if (!on) return 0;
  if ((idle_ms <= 0 || tcp__int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE, idle_s) == 0) &&
      (interval_ms <= 0 ||
       tcp__int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL, intvl_s) == 0) &&
      (count <= 0 || tcp__int_opt(s, IPPROTO_TCP, TCP_KEEPCNT, count) == 0))
    return 0;
  {
    /* The older way: both times at once (0 is not "keep the OS's value"
     * here, so the documented defaults stand in: 2 h idle, 1 s apart). */
    struct tcp_keepalive ka;
    DWORD bytes = 0;
    ka.onoff = 1;
    ka.keepalivetime = idle_ms > 0 ? (ULONG)idle_ms : 7200000u;
    ka.keepaliveinterval = interval_ms > 0 ? (ULONG)interval_ms : 1000u;
    if (WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &bytes, NULL,
                 NULL) != 0)
      return (DWORD)WSAGetLastError();
  }
  return 0;
}

/* What a listener gives each accepted socket. Best effort: the
 * connection is good without them, and JS cannot be told per socket. */
static void tcp__accept_opts(SOCKET s, const tcp_opts *o) {
  if (o->set_nodelay) tcp__int_opt(s, IPPROTO_TCP, TCP_NODELAY, o->nodelay);
  if (o->set_keepalive)
    tcp__keepalive(s, o->keepalive, o->idle_ms, o->interval_ms, o->count);
}

int32_t backend_tcp_keepalive(aio_loop *loop, aio_handle *h, int32_t on,
                              int32_t idle_ms, int32_t interval_ms,
                              int32_t count) {
  SOCKET s = INVALID_SOCKET;
  DWORD e;
  backend_socket(h, &s);
  e = tcp__keepalive(s, on, idle_ms, interval_ms, count);
  return e ? win_fail(loop, e) : 0;
}

/* --- listening ---------------------------------------------------------- */

static int listener__per_connection(DWORD e) {
  /* The peer gave up while in the backlog: only that connection failed. */
  return e == WSAECONNRESET || e == ERROR_NETNAME_DELETED ||
         e == WSAECONNABORTED || e == ERROR_CONNECTION_ABORTED;
}

/* An AcceptEx finished (inline or by packet): queue its socket. */
static void listener__accepted(win_listener *l, win_accept *a, DWORD err) {
  SOCKET s = a->sock;
  a->sock = INVALID_SOCKET;
  /* Windows gives an AcceptEx socket its connected state (getpeername,
   * shutdown, the listener's options) only with this option. Wine works
   * without it, so only checking the result keeps a failure visible. */
  if (!err && setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                         (const char *)&l->sock, (int)sizeof l->sock) != 0)
    err = (DWORD)WSAGetLastError();
  if (err) {
    /* One connection failed, not the listener (libuv does the same): a
     * broken listener shows when the next AcceptEx is started. */
    closesocket(s);
    return;
  }
  tcp__accept_opts(s, &l->w.base.accept_opts);
  l->fifo[(l->fifo_head + l->fifo_count) % l->count] = s;
  l->fifo_count++;
}

/* Starts one AcceptEx with a fresh socket; returns 0 or the error. */
static DWORD listener__post(win_listener *l, win_accept *a) {
  int tries;
  for (tries = 0; tries < ACCEPT_RETRIES; tries++) {
    DWORD bytes = 0, e = 0;
    a->sock = tcp__socket(l->family, &e);
    if (a->sock == INVALID_SOCKET) return e;
    win_op_post(&a->op);
    if (l->acceptex(l->sock, a->sock, a->addrs, 0, WIN_ACCEPT_ADDR_LEN,
                    WIN_ACCEPT_ADDR_LEN, &bytes, &a->op.ov)) {
      /* Done now, no packet. */
      win_op_unpost(&a->op);
      listener__accepted(l, a, 0);
      return 0;
    }
    e = (DWORD)WSAGetLastError();
    if (e == ERROR_IO_PENDING) {
      l->posted++;
      return 0;
    }
    win_op_unpost(&a->op);
    closesocket(a->sock);
    a->sock = INVALID_SOCKET;
    if (!listener__per_connection(e)) return e;
  }
  return 0;
}

static void listener__post_all(aio_loop *loop, win_listener *l) {
  int32_t i;
  for (i = 0; i < l->count; i++) {
    win_accept *a = &l->ops[i];
    DWORD e;
    if (!(l->w.base.flags & H_READING) || l->accept_error) break;
    /* The sockets the listener owns stay within `accepts`. */
    if (l->fifo_count + l->posted >= l->count) break;
    if (a->op.posted) continue;
    e = listener__post(l, a);
    if (e) {
      l->accept_error = error_from_os((int32_t)e);
      l->accept_os_error = (int32_t)e;
    }
  }
  if (l->fifo_count > 0 || l->accept_error) loop_pend(loop, &l->w.base);
}

/* Makes a listener of s, a listening socket: its AcceptEx ops, the port
 * association, the first accepts. On failure s is closed unless adopted
 * (then it is untouched and still the caller's: aio.h's ownership rule). */
static int32_t listener__start(aio_loop *loop, SOCKET s, int family,
                               int32_t accepts, int adopted) {
  GUID guid = WSAID_ACCEPTEX;
  LPFN_ACCEPTEX acceptex = NULL;
  DWORD e = tcp__extension(s, guid, &acceptex, sizeof acceptex);
  win_listener *l;
  int32_t i;
  if (e) return adopted ? win_fail(loop, e) : tcp__fail_socket(loop, s, e);
  /* The FIFO lives in the same block, after the ops. */
  l = (win_listener *)handle_new(
      loop, sizeof *l + (size_t)accepts * (sizeof(win_accept) + sizeof(SOCKET)),
      KIND_LISTENER);
  if (!l) {
    if (adopted) return loop_fail(loop, AIO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY);
    return tcp__fail_socket(loop, s, ERROR_NOT_ENOUGH_MEMORY);
  }
  l->sock = s;
  l->family = family;
  l->acceptex = acceptex;
  l->count = accepts;
  l->fifo = (SOCKET *)(void *)&l->ops[accepts];
  for (i = 0; i < accepts; i++) {
    l->ops[i].op.type = OP_ACCEPT;
    l->ops[i].op.owner = &l->w;
    l->ops[i].sock = INVALID_SOCKET;
  }
  if (adopted) {
    int32_t r = win_adopt_associate(loop, (HANDLE)s);
    if (r < 0) {
      l->sock = INVALID_SOCKET; /* still the caller's */
      listener__close(loop, l);
      return r;
    }
  } else {
    e = win_associate(loop, (HANDLE)s);
    if (e) {
      listener__close(loop, l);
      return win_fail(loop, e);
    }
  }
  /* A listener accepts from the start, as on epoll. */
  l->w.base.flags |= H_READING;
  listener__post_all(loop, l);
  if (l->accept_error) {
    enum aio_error code = l->accept_error;
    int32_t os = l->accept_os_error;
    if (adopted) {
      /* The socket stays the caller's: cancel what was posted on it (the
       * packets still come, so the ops' memory waits for them), and leave
       * the association, which cannot be undone while packets are due. */
      for (i = 0; i < accepts; i++)
        if (l->ops[i].op.posted) CancelIoEx((HANDLE)s, &l->ops[i].op.ov);
      l->sock = INVALID_SOCKET;
    }
    listener__close(loop, l);
    return loop_fail(loop, code, os);
  }
  return (int32_t)l->w.base.id;
}

int32_t backend_tcp_listen(aio_loop *loop, const aio_addr *addr,
                           int32_t backlog, int32_t flags, int32_t accepts) {
  SOCKADDR_STORAGE ss;
  int len = sockaddr_from_aio(addr, &ss);
  DWORD e = 0;
  SOCKET s;

  /* Windows has no SO_REUSEPORT: SO_REUSEADDR there lets any socket take
   * the port over, which is not the balanced sharing asked for. */
  if (flags & AIO_F_REUSEPORT) return loop_fail(loop, AIO_ENOTSUP, 0);
  s = tcp__socket(ss.ss_family, &e);
  if (s == INVALID_SOCKET) return win_fail(loop, e);
  /* Not SO_REUSEADDR (on Windows it lets another socket take the port);
   * SO_EXCLUSIVEADDRUSE only when asked for (docs/DESIGN.md, rule "Bind
   * without letting others take the port"): it also keeps a later
   * listener out of the port while old connections linger. */
  if ((flags & AIO_F_EXCLUSIVE) &&
      tcp__int_opt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1) != 0)
    return tcp__fail_socket(loop, s, (DWORD)WSAGetLastError());
  if (addr->family == 6) {
    /* Always explicit: the default differs between systems. */
    DWORD v6only = (flags & AIO_F_V6ONLY) ? 1 : 0;
    if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only,
                   (int)sizeof v6only) != 0)
      return tcp__fail_socket(loop, s, (DWORD)WSAGetLastError());
  }
  if (bind(s, (const struct sockaddr *)&ss, len) != 0 ||
      listen(s, backlog) != 0)
    return tcp__fail_socket(loop, s, (DWORD)WSAGetLastError());
  return listener__start(loop, s, ss.ss_family, accepts, 0);
}

int32_t backend_tcp_adopt_listener(aio_loop *loop, uint64_t os_handle,
                                   int32_t accepts) {
  SOCKET s = (SOCKET)os_handle;
  SOCKADDR_STORAGE ss;
  int len = (int)sizeof ss;
  int type = 0, listening = 0; /* Wine writes fewer bytes for some */
  int olen = (int)sizeof type;
  u_long on = 1;
  int32_t r;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &olen) != 0)
    return win_fail(loop, (DWORD)WSAGetLastError()); /* not a socket */
  olen = (int)sizeof listening;
  if (type != SOCK_STREAM ||
      getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, (char *)&listening, &olen) != 0 ||
      !listening)
    return loop_fail(loop, AIO_EINVAL, 0);
  memset(&ss, 0, sizeof ss);
  if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
    return win_fail(loop, (DWORD)WSAGetLastError());
  r = listener__start(loop, s, ss.ss_family, accepts, 1);
  if (r < 0) return r;
  /* Non-blocking last, as for an adopted stream: Winsock cannot read the
   * mode back. A failure here leaves the listener working (AcceptEx does
   * not care) and the socket ours. */
  ioctlsocket(s, FIONBIO, &on);
  return r;
}

static void listener__complete(aio_loop *loop, win_op *op, DWORD bytes,
                               DWORD err) {
  win_listener *l = (win_listener *)op->owner;
  AIO_UNUSED(bytes);
  l->posted--;
  listener__accepted(l, (win_accept *)op, err);
  loop_pend(loop, &l->w.base);
}

static int listener__process(aio_loop *loop, aio_handle *h) {
  win_listener *l = (win_listener *)h;
  if (l->accept_error) {
    /* EMFILE and the like: report it and stop accepting until JS resumes;
     * the listener itself stays open (as on epoll). */
    h->flags &= ~(uint32_t)H_READING;
    records_push(loop, h, AIO_REC_ACCEPT_ERROR, -(int32_t)l->accept_error,
                 l->accept_os_error);
    l->accept_error = AIO_OK;
    l->accept_os_error = 0;
    return 0;
  }
  /* Paused: accepted sockets stay queued, no AcceptEx is re-posted. */
  if (!(h->flags & H_READING)) return 0;
  while (l->fifo_count > 0) {
    if (records_room(loop) < RECORD_RESERVE) return 1;
    records_push_handle(loop, h, (uint64_t)l->fifo[l->fifo_head]);
    l->fifo_head = (l->fifo_head + 1) % l->count;
    l->fifo_count--;
  }
  /* Room in the FIFO again: re-post; what completes at once pends the
   * listener for its next turn. */
  listener__post_all(loop, l);
  return 0;
}

static int32_t listener__read_start(aio_loop *loop, aio_handle *h) {
  win_listener *l = (win_listener *)h;
  h->flags |= H_READING;
  listener__post_all(loop, l);
  return 0;
}

static int32_t listener__close(aio_loop *loop, win_listener *l) {
  int32_t i;
  AIO_UNUSED(loop);
  for (i = 0; i < l->count; i++) {
    win_accept *a = &l->ops[i];
    if (a->op.posted) CancelIoEx((HANDLE)l->sock, &a->op.ov);
    /* The pending AcceptEx fails with it; its packet still comes. */
    if (a->sock != INVALID_SOCKET) closesocket(a->sock);
    a->sock = INVALID_SOCKET;
  }
  while (l->fifo_count > 0) {
    closesocket(l->fifo[l->fifo_head]);
    l->fifo_head = (l->fifo_head + 1) % l->count;
    l->fifo_count--;
  }
  if (l->sock != INVALID_SOCKET) closesocket(l->sock);
  l->sock = INVALID_SOCKET;
  handle_release(&l->w.base);
  win_handle_free_if_drained(&l->w);
  return 0;
}

static int32_t listener__close_h(aio_loop *loop, aio_handle *h,
                                 int32_t mode) {
  AIO_UNUSED(mode); /* nothing to flush: every mode closes at once */
  return listener__close(loop, (win_listener *)h);
}

static int listener__socket(const aio_handle *h, SOCKET *out) {
  *out = ((const win_listener *)h)->sock;
  return *out != INVALID_SOCKET;
}

const win_kind_ops win_listener_ops = {listener__complete, listener__process,
                                       listener__close_h, listener__read_start,
                                       listener__socket};

/* --- connecting and adopting ---------------------------------------------- */

static void tcp__fast_refusal(SOCKET s) {
  /* On loopback, Windows retries a refused SYN for ~2 s; this makes it
   * fail at once (docs/DESIGN.md, rule "Connect: one socket per address").
   * Not known everywhere: failure is harmless. */
  TCP_INITIAL_RTO_PARAMETERS p;
  DWORD bytes = 0;
  memset(&p, 0, sizeof p);
  p.Rtt = TCP_INITIAL_RTO_NO_SYN_RETRANSMISSIONS;
  p.MaxSynRetransmissions = TCP_INITIAL_RTO_NO_SYN_RETRANSMISSIONS;
  WSAIoctl(s, SIO_TCP_INITIAL_RTO, &p, sizeof p, NULL, 0, &bytes, NULL, NULL);
}

static void tcp__nodelay(SOCKET s) {
  int on = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, (int)sizeof on);
}

int32_t backend_tcp_connect(aio_loop *loop, const aio_addr *addr,
                            const aio_addr *local, int32_t flags) {
  SOCKADDR_STORAGE ss, any;
  int len = sockaddr_from_aio(addr, &ss);
  LPFN_CONNECTEX connectex;
  DWORD e = 0;
  SOCKET s = tcp__socket(ss.ss_family, &e);
  win_stream *st;

  if (s == INVALID_SOCKET) return win_fail(loop, e);
  /* ConnectEx wants a bound socket: the local address asked for, else the
   * family's wildcard, any port. */
  if (local) {
    sockaddr_from_aio(local, &any);
  } else {
    memset(&any, 0, sizeof any);
    any.ss_family = ss.ss_family;
  }
  if (bind(s, (const struct sockaddr *)&any, len) != 0)
    return tcp__fail_socket(loop, s, (DWORD)WSAGetLastError());
  connectex = tcp__connectex(s, addr->family == 6, &e);
  if (!connectex) return tcp__fail_socket(loop, s, e);
  if (flags & AIO_F_NODELAY) tcp__nodelay(s);
  if (tcp__is_loopback(addr)) tcp__fast_refusal(s);
  if (addr->family == 6 && tcp__is_v4_mapped(addr)) {
    /* Windows makes IPv6 sockets v6-only by default, Linux does not: a
     * v4-mapped destination needs a dual-stack socket on both. */
    DWORD off = 0;
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&off,
               (int)sizeof off);
  }

  st = win_stream_new(loop, KIND_STREAM, 0);
  if (!st) return tcp__fail_socket(loop, s, ERROR_NOT_ENOUGH_MEMORY);
  st->sock = s;
  st->w.base.connect_port = addr->port;
  handle_connect_begin(&st->w.base);
  e = win_associate(loop, (HANDLE)s);
  if (!e) {
    win_op_post(&st->connect_op);
    if (connectex(s, (const struct sockaddr *)&ss, len, NULL, 0, NULL,
                     &st->connect_op.ov)) {
      /* Done now, no packet: CONNECTED goes out in the next dispatch. */
      win_op_unpost(&st->connect_op);
      handle_connect_known(&st->w.base);
    } else {
      e = (DWORD)WSAGetLastError();
      if (e == ERROR_IO_PENDING)
        e = 0; /* the packet brings the result */
      else
        win_op_unpost(&st->connect_op);
    }
  }
  if (e) {
    win_stream_close(loop, st, AIO_CLOSE_NOW);
    return win_fail(loop, e);
  }
  return (int32_t)st->w.base.id;
}

int32_t backend_tcp_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags) {
  SOCKET s = (SOCKET)os_handle;
  int type = 0; /* Wine writes fewer bytes than an int for some options */
  int len = (int)sizeof type;
  u_long on = 1;
  win_stream *st;
  int32_t r;
  /* Our own AcceptEx socket (tcp__socket: a non-blocking TCP socket): no
   * check and no FIONBIO, two calls (Wine: server requests) fewer on the
   * path of every accepted connection. */
  int ours = (flags & AIO_F_ACCEPTED) != 0;
  if (!ours && getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0)
    return win_fail(loop, (DWORD)WSAGetLastError()); /* not a socket */
  if (!ours && type != SOCK_STREAM) return loop_fail(loop, AIO_EINVAL, 0);
  /* Allocated first: an association is not always undone (aio.h), so
   * nothing that can fail comes after it but FIONBIO. */
  st = win_stream_new(loop, KIND_STREAM, H_WRITABLE);
  if (!st) return loop_fail(loop, AIO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY);
  /* Sockets from our own AcceptEx were never associated with a port. */
  r = win_adopt_associate(loop, (HANDLE)s);
  /* Non-blocking last: Winsock cannot read the mode back, so it could not
   * be put back after a later failure. */
  if (r == 0 && !ours && ioctlsocket(s, FIONBIO, &on) != 0) {
    r = win_fail(loop, (DWORD)WSAGetLastError());
    win_dissociate((HANDLE)s);
  }
  if (r < 0) {
    handle_destroy(&st->w.base); /* owns no socket yet: closes nothing */
    return r;
  }
  if (flags & AIO_F_NODELAY) tcp__nodelay(s);
  st->sock = s;
  return (int32_t)st->w.base.id;
}

int32_t backend_tcp_nodelay(aio_loop *loop, aio_handle *h, int32_t on) {
  win_stream *st = (win_stream *)h;
  int v = on ? 1 : 0;
  if (setsockopt(st->sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&v,
                 (int)sizeof v) != 0)
    return win_fail(loop, (DWORD)WSAGetLastError());
  return 0;
}

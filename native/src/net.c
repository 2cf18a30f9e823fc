/*
 * net.c - IP address conversions between the OS's sockaddr structures and
 * the ABI's aio_addr, the same on both backends.
 */
#include <string.h>
#if !defined(_WIN32)
#include <errno.h>
#endif

#include "net.h"

/* The error of the last failed socket call, as error_from_os takes it. */
static int32_t net__last_error(void) {
#if defined(_WIN32)
  return (int32_t)WSAGetLastError();
#else
  return (int32_t)errno;
#endif
}

int32_t net_address(aio_loop *loop, net_socket s, int32_t which,
                    aio_addr *out) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)sizeof ss;
  int r;
  memset(&ss, 0, sizeof ss);
  r = which ? getpeername(s, (struct sockaddr *)&ss, &len)
            : getsockname(s, (struct sockaddr *)&ss, &len);
  if (r != 0) {
    int32_t e = net__last_error();
    return loop_fail(loop, error_from_os(e), e);
  }
  return sockaddr_to_aio((const struct sockaddr *)&ss, out);
}

int net_self_connected(net_socket s, uint16_t port) {
  aio_addr local, peer;
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(s, (struct sockaddr *)&ss, &len) != 0 ||
      sockaddr_to_aio((const struct sockaddr *)&ss, &local) != 0)
    return 0;
  /* Another local port: not itself, and no getpeername (under Wine each
   * is a wineserver request, on every connect). */
  if (local.port != port) return 0;
  len = (socklen_t)sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getpeername(s, (struct sockaddr *)&ss, &len) != 0 ||
      sockaddr_to_aio((const struct sockaddr *)&ss, &peer) != 0)
    return 0;
  return local.family == peer.family && local.port == peer.port &&
         memcmp(local.bytes, peer.bytes, local.family == 4 ? 4 : 16) == 0;
}

static int32_t net__fail(aio_loop *loop) {
  int32_t e = net__last_error();
  return loop_fail(loop, error_from_os(e), e);
}

int net_is_ip(net_socket s) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(s, (struct sockaddr *)&ss, &len) != 0) return 0;
  return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

int32_t net_buffer_size(aio_loop *loop, net_socket s, int send, int32_t size) {
  int name = send ? SO_SNDBUF : SO_RCVBUF;
  int v = (int)size;
  socklen_t len = (socklen_t)sizeof v;
  if (size > 0 &&
      setsockopt(s, SOL_SOCKET, name, (const char *)&v, (socklen_t)sizeof v))
    return net__fail(loop);
  /* Read back: the OS's value is what counts (Linux doubles the request
   * for its bookkeeping and clamps it to rmem_max/wmem_max). */
  v = 0;
  if (getsockopt(s, SOL_SOCKET, name, (char *)&v, &len) != 0)
    return net__fail(loop);
  return v < 0 ? 0 : (int32_t)v;
}

int32_t net_sockopt_get(aio_loop *loop, net_socket s, int32_t level,
                        int32_t name, uint8_t *out, int32_t cap) {
  socklen_t len = (socklen_t)cap;
  /* Zeroed first: Wine writes fewer bytes than asked for some options. */
  memset(out, 0, (size_t)cap);
  if (getsockopt(s, (int)level, (int)name, (char *)out, &len) != 0)
    return net__fail(loop);
  return (int32_t)len > cap ? cap : (int32_t)len;
}

int32_t net_sockopt_set(aio_loop *loop, net_socket s, int32_t level,
                        int32_t name, const uint8_t *value, int32_t len) {
  if (setsockopt(s, (int)level, (int)name, (const char *)value,
                 (socklen_t)len) != 0)
    return net__fail(loop);
  return 0;
}

int net_sockopt_blocking(int32_t level, int32_t name) {
  /* No socket option sets O_NONBLOCK or FIONBIO; these are the ones that
   * only mean something to blocking calls or make new sockets blocking
   * (Windows SO_OPENTYPE: synchronous, non-overlapped sockets, which the
   * completion port cannot serve). */
  if (level != SOL_SOCKET) return 0;
#if defined(_WIN32)
  if (name == 0x7008 /* SO_OPENTYPE (mswsock.h) */) return 1;
#endif
#if defined(SO_RCVTIMEO_NEW) && defined(SO_SNDTIMEO_NEW)
  /* Linux's 64-bit time_t spellings of the same two options. */
  if (name == SO_RCVTIMEO_NEW || name == SO_SNDTIMEO_NEW) return 1;
#endif
  return name == SO_RCVTIMEO || name == SO_SNDTIMEO;
}

int sockaddr_from_aio(const aio_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == 6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    s6->sin6_scope_id = a->scope_id;
    memcpy(&s6->sin6_addr, a->bytes, 16);
    return (int)sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->bytes, 4);
    return (int)sizeof *s4;
  }
}

int32_t sockaddr_to_aio(const struct sockaddr *sa, aio_addr *a) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    a->family = 6;
    a->port = ntohs(s6->sin6_port);
    a->scope_id = s6->sin6_scope_id;
    memcpy(a->bytes, &s6->sin6_addr, 16);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    a->family = 4;
    a->port = ntohs(s4->sin_port);
    memcpy(a->bytes, &s4->sin_addr, 4);
  } else {
    return -AIO_EAFNOSUPPORT; /* a Unix socket has no IP address */
  }
  return 0;
}

int32_t addrlist_add(aio_addr *out, int32_t n, int32_t cap,
                     const struct sockaddr *sa) {
  aio_addr a;
  int32_t i;
  if (n >= cap || sockaddr_to_aio(sa, &a) < 0) return n;
  a.port = 0;
  for (i = 0; i < n; i++)
    if (memcmp(&out[i], &a, sizeof a) == 0) return n;
  out[n] = a;
  return n + 1;
}

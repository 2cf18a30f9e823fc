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

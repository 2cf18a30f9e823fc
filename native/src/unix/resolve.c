/*
 * resolve.c - getaddrinfo. It blocks, so JS binds aio_resolve nonblocking
 * and it runs on a pool thread; it touches no loop.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../net.h"
#include "unix.h"

int32_t backend_resolve(const char *host, int32_t family, aio_addr *out,
                        int32_t cap, int32_t *os_error) {
  struct addrinfo hints, *res = NULL, *ai;
  int32_t n = 0;
  int r;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  r = getaddrinfo(host, NULL, &hints, &res);
  if (r == EAI_NONAME || r == EAI_ADDRFAMILY) {
    /* AI_ADDRCONFIG hides loopback-only families on hosts without other
     * addresses (network namespaces): ask once more without it. */
    hints.ai_flags = 0;
    r = getaddrinfo(host, NULL, &hints, &res);
  }
  if (r != 0) return unix_resolve_fail(r, os_error);
  for (ai = res; ai && n < cap; ai = ai->ai_next)
    n = addrlist_add(out, n, cap, ai->ai_addr);
  freeaddrinfo(res);
  if (n == 0) {
    *os_error = 0;
    return -AIO_ENOTFOUND;
  }
  return n;
}

/*
 * resolve.c - GetAddrInfoW. It blocks, so JS binds aio_resolve nonblocking
 * and it runs on a pool thread; it touches no loop. Output, order and
 * de-duplication are those of unix/resolve.c.
 */
#include <string.h>

#include "win.h"

#define HOST_MAX 1024

int32_t backend_resolve(const char *host, int32_t family, aio_addr *out,
                        int32_t cap, int32_t *os_error) {
  WCHAR whost[HOST_MAX];
  ADDRINFOW hints, *res = NULL, *ai;
  int32_t n = 0;
  int r = win_startup(os_error);
  if (r < 0) return r;
  /* The host is UTF-8: the ANSI getaddrinfo would read it in the ANSI
   * code page. */
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, host, -1, whost,
                          HOST_MAX) <= 0) {
    DWORD e = GetLastError();
    *os_error = (int32_t)e;
    return -(int32_t)win_error_name(e);
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  r = GetAddrInfoW(whost, NULL, &hints, &res);
  if (r == WSAHOST_NOT_FOUND || r == WSANO_DATA) {
    /* AI_ADDRCONFIG ignores loopback addresses on Windows, so a machine
     * with no other address resolves nothing: ask once more without. */
    hints.ai_flags = 0;
    r = GetAddrInfoW(whost, NULL, &hints, &res);
  }
  if (r != 0) {
    *os_error = r;
    return -(int32_t)win_error_resolve(r);
  }
  for (ai = res; ai && n < cap; ai = ai->ai_next)
    n = addrlist_add(out, n, cap, ai->ai_addr);
  FreeAddrInfoW(res);
  if (n == 0) {
    *os_error = 0;
    return -AIO_ENOTFOUND;
  }
  return n;
}

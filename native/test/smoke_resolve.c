/*
 * smoke_resolve.c - name resolution (aio_resolve): numeric, localhost,
 * and a name that does not exist. Needs no loop.
 */
#include "driver.h"

static void resolve_numeric_local_and_unknown_names(void) {
  aio_addr out[8];
  int32_t err[2] = {-1, -1};
  int32_t n = aio_resolve("127.0.0.1", 4, out, 8, err);
  CHECK_EQ(n, 1);
  CHECK(n == 1 && out[0].family == 4 && out[0].bytes[0] == 127 &&
        out[0].bytes[3] == 1);
  CHECK_EQ(err[0], 0);
  n = aio_resolve("localhost", 0, out, 8, err);
  CHECK(n >= 1);
  printf("resolve: localhost -> %d address(es)%s\n", (int)n,
         n < 0 ? " (needs a hosts file)" : "");
  n = aio_resolve("no-such-host.invalid", 0, out, 8, err);
  CHECK_EQ(n, -AIO_ENOTFOUND);
  CHECK_EQ(err[0], AIO_ENOTFOUND);
}

const test_case smoke_resolve_tests[] = {
    TEST_ENTRY(resolve_numeric_local_and_unknown_names), TEST_END};

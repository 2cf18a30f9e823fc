/*
 * regress.c - the defects of issue 13 (found adversarially), each kept as
 * the test that reproduced it, through aio.h only.
 */
#include "driver.h"

#if !defined(_WIN32)
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

/* aio_error_name negated its code before the range check: INT32_MIN has
 * no positive twin, stayed negative and was used as an index (a crash). */
static void error_name_refuses_codes_without_a_name(void) {
  char name[32];
  CHECK_EQ(aio_error_name(INT32_MIN, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(INT32_MIN + 1, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(INT32_MAX, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(-AIO_ERROR_COUNT, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(AIO_EPIPE, NULL, 32), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(AIO_EPIPE, name, INT32_MIN), -AIO_EINVAL);
  CHECK(aio_error_name(-AIO_EPIPE, name, sizeof name) == 5 &&
        strcmp(name, "EPIPE") == 0);
}

/* The free list was LIFO: a sequential workload took the same slot every
 * time and its 11-bit generation wrapped after 2,047 reuses, so an id
 * closed 2,047 handles ago named the live handle again and
 * aio_read_stop(stale) returned 0. 2,500 sequential handles cover a wrap
 * of the old layout (tests/abi_defects_test.ts does 5,000 through FFI). */
#define SEQUENTIAL_HANDLES 2500
static void stale_id_stays_dead_across_sequential_handles(void) {
  aio_addr any = addr4(127, 0, 0, 1, 0);
  int32_t first, id;
  int i, revived = 0, repeated = 0, failed = 0;
  if (!smoke_begin()) return;
  first = aio_tcp_listen(loop, &any, 1, 0, 1);
  CHECK(first > 0);
  if (first <= 0) return;
  CHECK_EQ(aio_close(loop, (aio_id)first, AIO_CLOSE_NOW), 0);
  for (i = 0; i < SEQUENTIAL_HANDLES; i++) {
    id = aio_tcp_listen(loop, &any, 1, 0, 1);
    if (id <= 0) {
      failed++;
      continue;
    }
    repeated += id == first;
    /* While a handle is live in the stale id's slot, the stale id must
     * still find nothing. */
    revived += aio_read_stop(loop, (aio_id)first) != -AIO_EBADID;
    revived += aio_close(loop, (aio_id)first, AIO_CLOSE_NOW) != -AIO_EBADID;
    CHECK_EQ(aio_close(loop, (aio_id)id, AIO_CLOSE_NOW), 0);
  }
  CHECK_EQ(failed, 0);
  CHECK_EQ(repeated, 0);
  CHECK_EQ(revived, 0);
  smoke_end();
}

/* Sends used write()/writev(): a send to a peer that has gone (its
 * socket closed, its RST seen once as ECONNRESET) made the kernel raise
 * SIGPIPE, which kills a C host that has not ignored it. */
static int sigpipe__scenario(void) {
  uint16_t port;
  peer *lp, *c, *s;
  static uint8_t bytes[100];
  int i, failed = 0;
  if (!smoke_begin()) return 1;
  lp = tcp_listen_local(&port, 1);
  if (!lp || !tcp_pair(lp, port, &c, &s)) return 2;
  /* The peer closes gracefully; our side sees END and stays writable. */
  if (aio_read_start(loop, c->id) != 0) return 8;
  if (aio_close(loop, s->id, AIO_CLOSE_GRACEFUL) != 0) return 3;
  if (!drive(c_closed, s, 5000)) return 4;
  if (!drive(c_end, c, 5000)) return 7;
  peer_drop(s);
  /* The first send reaches a closed socket, which answers RST; the next
   * reports ECONNRESET; every one after that is an EPIPE (SIGPIPE). */
  for (i = 0; i < 20; i++) {
    int32_t n = aio_send(loop, c->id, bytes, (int32_t)sizeof bytes);
    if (n < 0) failed++;
    sleep_ms(2);
  }
  aio_close(loop, c->id, AIO_CLOSE_NOW);
  peer_drop(c);
  aio_close(loop, lp->id, AIO_CLOSE_NOW);
  peer_drop(lp);
#if !defined(_WIN32)
  /* Windows (and Wine, whose kernel takes every send) may accept them
   * all; the point there is only that nothing crashes. */
  if (failed < 2) return 5;
#endif
  if (aio_loop_handle_count(loop) != 0) return 6;
  aio_loop_free(loop);
  loop = NULL;
  return 0;
}

static void sends_to_a_reset_peer_fail_without_sigpipe(void) {
#if defined(_WIN32)
  /* No SIGPIPE on Windows: the same sends must fail, not crash. */
  CHECK_EQ(sigpipe__scenario(), 0);
#else
  int status = 0;
  pid_t pid;
  fflush(stdout);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    /* The default disposition: what an ordinary C host has. */
    signal(SIGPIPE, SIG_DFL);
    {
      int r = sigpipe__scenario();
      if (r) printf("  scenario failed at step %d\n", r);
      _exit(r);
    }
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status))
    printf("  child killed by signal %d\n", (int)WTERMSIG(status));
  CHECK(WIFEXITED(status));
  CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
#endif
}

/* aio_tcp_keepalive rounded milliseconds up to seconds in 32 bits:
 * INT32_MAX + 999 overflowed (undefined behaviour, found by the fuzzer
 * under UBSan; the sanitized build is what would abort here). The call
 * must give a result, not a crash: 0, or the OS refusing a time that
 * long. */
static void keepalive_of_the_longest_times_does_not_overflow(void) {
  uint16_t port;
  peer *lp, *c, *s;
  int32_t r;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 1);
  if (!lp || !tcp_pair(lp, port, &c, &s)) return;
  r = aio_tcp_keepalive(loop, c->id, 1, INT32_MAX, INT32_MAX, 127);
  CHECK(r == 0 || r == -AIO_EINVAL);
  r = aio_tcp_keepalive(loop, lp->id, 1, INT32_MAX, 1, 1);
  CHECK(r == 0 || r == -AIO_EINVAL);
  CHECK_EQ(aio_tcp_keepalive(loop, c->id, 1, 1000, 1000, 3), 0);
  aio_close(loop, c->id, AIO_CLOSE_NOW);
  aio_close(loop, s->id, AIO_CLOSE_NOW);
  aio_close(loop, lp->id, AIO_CLOSE_NOW);
  peer_drop(c);
  peer_drop(s);
  peer_drop(lp);
  smoke_end();
}

const test_case regress_tests[] = {
    TEST_ENTRY(keepalive_of_the_longest_times_does_not_overflow),
    TEST_ENTRY(error_name_refuses_codes_without_a_name),
    TEST_ENTRY(stale_id_stays_dead_across_sequential_handles),
    TEST_ENTRY(sends_to_a_reset_peer_fail_without_sigpipe), TEST_END};

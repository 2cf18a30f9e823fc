/*
 * smoke_wake.c - aio_loop_wake ends a wait parked on another thread, and
 * the bounded wait on the loop's thread (aio_loop_spin) keeps its time,
 * sleeps after its busy part where the OS can, and ends when work comes.
 */
#include <time.h>

#include "driver.h"

#if !defined(_WIN32)
#include <pthread.h>
#endif

#if defined(_WIN32)
static DWORD WINAPI waiter_main(LPVOID arg) {
  *(int32_t *)arg = aio_loop_wait(loop, -1);
  return 0;
}
#else
static void *waiter_main(void *arg) {
  *(int32_t *)arg = aio_loop_wait(loop, -1);
  return NULL;
}
#endif

static void wake_ends_a_parked_wait(void) {
  if (!smoke_begin()) return;
  int32_t result = -1000;
  double t0, t1;
  /* Nothing may be waiting in the loop, or the wait returns at once. */
  drive_for(50);
#if defined(_WIN32)
  HANDLE th = CreateThread(NULL, 0, waiter_main, &result, 0, NULL);
  CHECK(th != NULL);
  if (!th) {
    smoke_end();
    return;
  }
  sleep_ms(150);
  CHECK(WaitForSingleObject(th, 0) == WAIT_TIMEOUT); /* really parked */
  t0 = now_ms();
  CHECK_EQ(aio_loop_wake(loop), 0);
  CHECK(WaitForSingleObject(th, 5000) == WAIT_OBJECT_0);
  t1 = now_ms();
  CloseHandle(th);
#else
  pthread_t th;
  CHECK(pthread_create(&th, NULL, waiter_main, &result) == 0);
  sleep_ms(150);
  CHECK_EQ(result, -1000); /* really parked */
  t0 = now_ms();
  CHECK_EQ(aio_loop_wake(loop), 0);
  pthread_join(th, NULL);
  t1 = now_ms();
#endif
  CHECK(result >= 0);
  CHECK(t1 - t0 < 1000);
  printf("wake: parked wait returned %d after %.1f ms\n", (int)result, t1 - t0);
  round_once(0); /* the wake entry is dispatched like any other */
  smoke_end();
}

static void spin_reports_nothing_after_its_time_and_a_wake_at_once(void) {
  double t0;
  if (!smoke_begin()) return;
  /* The bounded busy-poll: nothing comes, so it reports 0 once its time
   * is up (not before); a pending wake-up is found at once. */
  CHECK_EQ(aio_loop_spin(loop, 0, -1), -AIO_EINVAL);
  CHECK_EQ(aio_loop_spin(loop, -1, 10), -AIO_EINVAL);
  CHECK_EQ(aio_loop_spin(NULL, 0, 10), -AIO_EINVAL);
  {
    double t1;
    t0 = now_ms();
    CHECK_EQ(aio_loop_spin(loop, 20000, 20000), 0);
    t1 = now_ms();
    CHECK(t1 - t0 >= 15 && t1 - t0 < 1000);
    /* The same with a sleep after a short busy part. */
    t0 = now_ms();
    CHECK_EQ(aio_loop_spin(loop, 100, 20000), 0);
    t1 = now_ms();
    CHECK(t1 - t0 >= 15 && t1 - t0 < 1000);
  }
  CHECK_EQ(aio_loop_wake(loop), 0);
  t0 = now_ms();
  CHECK(aio_loop_spin(loop, 0, 1000000) > 0);
  CHECK(now_ms() - t0 < 500);
  round_once(0);
  smoke_end();
}

#if !defined(_WIN32)
static void *waker_main(void *arg) {
  (void)arg;
  sleep_ms(100);
  aio_loop_wake(loop);
  return NULL;
}

/* Linux: after its busy part the spin sleeps in epoll (CPU far below the
 * time it waits), and the kernel ends the sleep when work comes. Windows
 * polls to the end (win/loop.c, backend_loop_nap). */
static void spin_sleeps_after_its_busy_part_and_wakes_for_work(void) {
  pthread_t th;
  double t0, t1;
  clock_t c0, c1;
  int32_t n;
  if (!smoke_begin()) return;
  drive_for(50);
  c0 = clock();
  t0 = now_ms();
  CHECK_EQ(aio_loop_spin(loop, 0, 200000), 0);
  t1 = now_ms();
  c1 = clock();
  CHECK(t1 - t0 >= 150);
  /* 200 ms of waiting; a busy-poll would take as much CPU. */
  CHECK((double)(c1 - c0) * 1000.0 / CLOCKS_PER_SEC < 50);
  printf("spin: slept %.1f ms on %.1f ms of CPU\n", t1 - t0,
         (double)(c1 - c0) * 1000.0 / CLOCKS_PER_SEC);
  CHECK(pthread_create(&th, NULL, waker_main, NULL) == 0);
  t0 = now_ms();
  n = aio_loop_spin(loop, 0, 5000000);
  t1 = now_ms();
  pthread_join(th, NULL);
  CHECK(n > 0);
  CHECK(t1 - t0 >= 50 && t1 - t0 < 2000);
  round_once(0);
  smoke_end();
}
#endif

const test_case smoke_wake_tests[] = {
    TEST_ENTRY(wake_ends_a_parked_wait),
    TEST_ENTRY(spin_reports_nothing_after_its_time_and_a_wake_at_once),
#if !defined(_WIN32)
    TEST_ENTRY(spin_sleeps_after_its_busy_part_and_wakes_for_work),
#endif
    TEST_END};

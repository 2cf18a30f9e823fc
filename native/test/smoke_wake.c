/*
 * smoke_wake.c - aio_loop_wake ends a wait parked on another thread, and
 * the bounded busy-poll (aio_loop_spin) keeps its time.
 */
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
  CHECK_EQ(aio_loop_spin(loop, -1), -AIO_EINVAL);
  CHECK_EQ(aio_loop_spin(NULL, 10), -AIO_EINVAL);
  {
    double t1;
    t0 = now_ms();
    CHECK_EQ(aio_loop_spin(loop, 20000), 0);
    t1 = now_ms();
    CHECK(t1 - t0 >= 15 && t1 - t0 < 1000);
  }
  CHECK_EQ(aio_loop_wake(loop), 0);
  t0 = now_ms();
  CHECK(aio_loop_spin(loop, 1000000) > 0);
  CHECK(now_ms() - t0 < 500);
  round_once(0);
  smoke_end();
}

const test_case smoke_wake_tests[] = {
    TEST_ENTRY(wake_ends_a_parked_wait),
    TEST_ENTRY(spin_reports_nothing_after_its_time_and_a_wake_at_once),
    TEST_END};

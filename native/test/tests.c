/*
 * tests.c - runs the C tests (test.h): the unit tests of the common
 * modules, the tests of internals per backend, and the end-to-end tests
 * through the public ABI (smoke_*.c).
 */
#include "test.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
static double test__now_ms(void) { return (double)GetTickCount64(); }
#else
#include <time.h>
static double test__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
#endif

extern const test_case unit_table_tests[];
extern const test_case unit_sendq_tests[];
extern const test_case unit_records_tests[];
extern const test_case unit_state_tests[];
extern const test_case unit_pipe_modes_tests[];
extern const test_case smoke_abi_tests[];
extern const test_case smoke_wake_tests[];
extern const test_case smoke_tcp_tests[];
extern const test_case smoke_close_tests[];
extern const test_case smoke_resolve_tests[];
extern const test_case smoke_pipe_tests[];
extern const test_case regress_tests[];

static const test_case *const test__lists[] = {
    unit_table_tests,  unit_sendq_tests,    unit_records_tests,
    unit_state_tests,  unit_pipe_modes_tests, smoke_abi_tests,
    smoke_wake_tests,  smoke_tcp_tests,     smoke_close_tests,
    smoke_resolve_tests, smoke_pipe_tests, regress_tests};

static int test__checks, test__failed_checks;

void test_check(int ok, const char *file, int line, const char *what) {
  test__checks++;
  if (ok) return;
  test__failed_checks++;
  printf("  FAIL %s:%d: %s\n", file, line, what);
  fflush(stdout);
}

static int test__wanted(const char *name, int argc, char **argv) {
  int i;
  if (argc < 2) return 1;
  for (i = 1; i < argc; i++)
    if (strstr(name, argv[i])) return 1;
  return 0;
}

int main(int argc, char **argv) {
  size_t l;
  int passed = 0, failed = 0;
  double t0 = test__now_ms();
  setvbuf(stdout, NULL, _IONBF, 0);
  for (l = 0; l < sizeof test__lists / sizeof test__lists[0]; l++) {
    const test_case *t;
    for (t = test__lists[l]; t->name; t++) {
      int before;
      double t1;
      if (!test__wanted(t->name, argc, argv)) continue;
      before = test__failed_checks;
      t1 = test__now_ms();
      t->fn();
      if (test__failed_checks == before) {
        passed++;
        printf("ok %s (%.0f ms)\n", t->name, test__now_ms() - t1);
      } else {
        failed++;
        printf("not ok %s\n", t->name);
      }
    }
  }
  printf("ctest: %d passed, %d failed (%d checks, %.0f ms)\n", passed, failed,
         test__checks, test__now_ms() - t0);
  return failed ? 1 : 0;
}

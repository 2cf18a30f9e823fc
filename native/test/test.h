/*
 * test.h - the C tests' harness: checks, and the list every test file
 * adds its tests to (tests.c names them all).
 *
 * The tests are one program per platform, native/build/<target>/ctest,
 * built by tools/build.ts from these files and the library's own sources
 * with assertions on (no -DNDEBUG), so the state-machine asserts of
 * native/src run too, and a unit test can link an internal module
 * (table.c, sendq.c, records.c) and read internal headers, as wepoll's
 * tests do. Each test is one behaviour, named after it; the program prints
 * "ok NAME" or "not ok NAME" per test and ends with
 * "ctest: N passed, N failed", which tools/test.sh adds to the suite's
 * count. `ctest NAME...` runs only the tests whose names contain one of
 * the arguments.
 */
#ifndef AIO_TEST_H
#define AIO_TEST_H

#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/aio.h"

/* Counts a failed check against the running test. */
void test_check(int ok, const char *file, int line, const char *what);
#define CHECK(cond) test_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
#define CHECK_EQ(a, b)                                                     \
  do {                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                    \
    if (a_ != b_) printf("  %s = %lld, %s = %lld\n", #a, a_, #b, b_);      \
    test_check(a_ == b_, __FILE__, __LINE__, #a " == " #b);                \
  } while (0)

typedef void (*test_fn)(void);

/* Each test file's list; tests.c runs them in this order. */
typedef struct test_case {
  const char *name;
  test_fn fn;
} test_case;

#define TEST_LIST(var) const test_case var[]
#define TEST_ENTRY(fn) {#fn, fn}
#define TEST_END {NULL, NULL}

#endif /* AIO_TEST_H */

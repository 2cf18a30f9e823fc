/*
 * smoke_abi.c - the library describes itself: version, backend, record
 * and address layout, error names.
 */
#include "test.h"

static void abi_layout_matches_the_header(void) {
  int32_t v[32];
  CHECK_EQ(aio_abi_version(), AIO_ABI_VERSION);
#if defined(_WIN32)
  CHECK_EQ(aio_backend(), AIO_BACKEND_IOCP);
#else
  CHECK_EQ(aio_backend(), AIO_BACKEND_EPOLL);
#endif
  CHECK_EQ(aio_layout(v, 32), 14);
  CHECK_EQ(v[0], sizeof(aio_record));
  CHECK_EQ(v[0], 32);
  CHECK_EQ(v[1], offsetof(aio_record, id));
  CHECK_EQ(v[2], offsetof(aio_record, kind));
  CHECK_EQ(v[3], offsetof(aio_record, status));
  CHECK_EQ(v[4], offsetof(aio_record, os_error));
  CHECK_EQ(v[5], offsetof(aio_record, offset));
  CHECK_EQ(v[6], offsetof(aio_record, length));
  CHECK_EQ(v[7], offsetof(aio_record, handle_lo));
  CHECK_EQ(v[8], offsetof(aio_record, handle_hi));
  CHECK_EQ(v[9], sizeof(aio_addr));
  CHECK_EQ(v[9], 24);
  CHECK_EQ(v[10], offsetof(aio_addr, family));
  CHECK_EQ(v[11], offsetof(aio_addr, port));
  CHECK_EQ(v[12], offsetof(aio_addr, scope_id));
  CHECK_EQ(v[13], offsetof(aio_addr, bytes));
  CHECK_EQ(aio_layout(v, 3), -AIO_EINVAL);
}

static void abi_error_names_are_posix_style(void) {
  char name[32];
  CHECK(aio_error_name(AIO_ECONNREFUSED, name, sizeof name) > 0 &&
        strcmp(name, "ECONNREFUSED") == 0);
  CHECK(aio_error_name(-AIO_EBADID, name, sizeof name) > 0 &&
        strcmp(name, "EBADID") == 0);
  CHECK(aio_error_name(AIO_EAFNOSUPPORT, name, sizeof name) > 0 &&
        strcmp(name, "EAFNOSUPPORT") == 0);
  CHECK_EQ(aio_error_name(AIO_ERROR_COUNT, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(AIO_ECONNREFUSED, name, 4), -AIO_EINVAL);
}

static void abi_new_loop_is_empty(void) {
  int32_t err[2] = {-1, -1};
  aio_loop *l = aio_loop_new(err);
  CHECK(l != NULL);
  if (!l) return;
  CHECK_EQ(err[0], 0);
  CHECK_EQ(err[1], 0);
  CHECK_EQ(aio_loop_record_capacity(l), 1024);
  CHECK(aio_loop_arena_size(l) > 0);
  CHECK_EQ(aio_loop_handle_count(l), 0);
  CHECK_EQ(aio_loop_pending(l), 0);
  aio_loop_free(l);
}

const test_case smoke_abi_tests[] = {
    TEST_ENTRY(abi_layout_matches_the_header),
    TEST_ENTRY(abi_error_names_are_posix_style),
    TEST_ENTRY(abi_new_loop_is_empty), TEST_END};

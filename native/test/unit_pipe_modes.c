/*
 * unit_pipe_modes.c - how a named pipe endpoint is protected, read from
 * the internals (no API reads a pipe's creation modes back):
 *  Windows: the first instance is created overlapped, with
 *    FILE_FLAG_FIRST_PIPE_INSTANCE (squatting defence) and
 *    PIPE_REJECT_REMOTE_CLIENTS, with an explicit DACL;
 *  Linux: the Unix socket file is the owner's only (0600).
 */
#include "test.h"

#if defined(_WIN32)
#include "../src/win/win.h"
#else
#include <sys/stat.h>
#include <unistd.h>

#include "../src/internal.h"
#endif

#if defined(_WIN32)
static void pipe_listener_first_instance_is_local_first_and_overlapped(void) {
  int32_t err[2];
  aio_loop *l = aio_loop_new(err);
  char path[96];
  int32_t id;
  win_pipe_listener *p;
  CHECK(l != NULL);
  if (!l) return;
  snprintf(path, sizeof path, "\\\\.\\pipe\\aio-ctest-modes-%lu",
           (unsigned long)GetCurrentProcessId());
  id = aio_pipe_listen(l, path, 4, 0);
  CHECK(id > 0);
  if (id > 0) {
    p = (win_pipe_listener *)table_get(&l->table, (aio_id)id);
    CHECK(p != NULL && p->w.base.kind == KIND_PIPE_LISTENER);
    if (p) {
      CHECK(p->pipe_mode & PIPE_REJECT_REMOTE_CLIENTS);
      CHECK((p->pipe_mode & PIPE_TYPE_MESSAGE) == 0); /* byte mode */
      CHECK(p->open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE);
      CHECK(p->open_mode & FILE_FLAG_OVERLAPPED);
      CHECK((p->open_mode & PIPE_ACCESS_DUPLEX) == PIPE_ACCESS_DUPLEX);
      /* An explicit descriptor, never a NULL (everyone) one. */
      CHECK(p->sd.sa.lpSecurityDescriptor == &p->sd.sd);
    }
    CHECK_EQ(aio_close(l, (aio_id)id, AIO_CLOSE_NOW), 0);
  }
  aio_loop_free(l);
}
#else
static void pipe_listener_socket_file_is_the_owners_only(void) {
  int32_t err[2];
  aio_loop *l = aio_loop_new(err);
  char path[96];
  struct stat st;
  int32_t id;
  CHECK(l != NULL);
  if (!l) return;
  snprintf(path, sizeof path, "/tmp/aio-ctest-modes-%lu.sock",
           (unsigned long)getpid());
  id = aio_pipe_listen(l, path, 4, 0);
  CHECK(id > 0);
  if (id > 0) {
    CHECK_EQ(lstat(path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK(table_get(&l->table, (aio_id)id) != NULL);
    CHECK_EQ(aio_close(l, (aio_id)id, AIO_CLOSE_NOW), 0);
    /* The listener's close removes its file. */
    CHECK(lstat(path, &st) != 0);
  }
  aio_loop_free(l);
}
#endif

const test_case unit_pipe_modes_tests[] = {
#if defined(_WIN32)
    TEST_ENTRY(pipe_listener_first_instance_is_local_first_and_overlapped),
#else
    TEST_ENTRY(pipe_listener_socket_file_is_the_owners_only),
#endif
    TEST_END};

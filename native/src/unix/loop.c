/*
 * loop.c - the epoll half of a loop: one epoll set, one eventfd to wake a
 * parked wait, and the raw entries the wait harvested.
 *
 * Every fd is registered once, edge-triggered, for both directions
 * (docs/DESIGN.md, rule "One registration per fd"): pausing, resuming and
 * queueing writes never touch epoll. The flags a handle keeps (H_READABLE, H_WRITABLE) remember
 * an edge until the work it announced is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"

#define RAW_CAPACITY 1024
#define WAKE_TOKEN 0 /* no handle id is 0 */

struct backend_loop {
  int epfd;
  int wakefd;
  int raw_count;
  struct epoll_event raw[RAW_CAPACITY];
};

AIO_EXPORT int32_t aio_backend(void) { return AIO_BACKEND_EPOLL; }

int32_t backend_loop_init(aio_loop *loop, int32_t *os_error) {
  struct epoll_event ev;
  backend_loop *b = calloc(1, sizeof *b);
  if (!b) return -AIO_ENOMEM;
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  b->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = WAKE_TOKEN;
  if (b->epfd < 0 || b->wakefd < 0 ||
      epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wakefd, &ev) < 0) {
    int e = errno;
    if (b->epfd >= 0) close(b->epfd);
    if (b->wakefd >= 0) close(b->wakefd);
    free(b);
    return error_out(e, os_error);
  }
  loop->backend = b;
  return 0;
}

void backend_loop_free(aio_loop *loop) {
  backend_loop *b = loop->backend;
  close(b->epfd);
  close(b->wakefd);
  free(b);
  loop->backend = NULL;
}

int32_t backend_loop_wait(aio_loop *loop, int32_t timeout_ms) {
  backend_loop *b = loop->backend;
  int n;
  /* Entries not yet harvested must not be overwritten. */
  if (b->raw_count > 0) return b->raw_count;
  n = epoll_wait(b->epfd, b->raw, RAW_CAPACITY, timeout_ms < 0 ? -1 : timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    /* On the wait's thread: the loop is not written (no os_error). */
    return -(int32_t)error_from_os(errno);
  }
  b->raw_count = n;
  return n;
}

int32_t backend_loop_nap(aio_loop *loop, int32_t us) {
#ifdef SYS_epoll_pwait2
  static atomic_int missing; /* kernels before 5.11; loops on any thread */
  backend_loop *b = loop->backend;
  struct timespec ts;
  long n;
  if (b->raw_count > 0) return b->raw_count;
  if (missing) return -AIO_ENOTSUP;
  ts.tv_sec = us / 1000000;
  ts.tv_nsec = (long)(us % 1000000) * 1000;
  /* epoll_wait counts in milliseconds; epoll_pwait2 in nanoseconds. By
   * number, so that a library built here loads with an older C library. */
  n = syscall(SYS_epoll_pwait2, b->epfd, b->raw, RAW_CAPACITY, &ts, NULL, 0);
  if (n < 0) {
    if (errno == ENOSYS) {
      missing = 1;
      return -AIO_ENOTSUP;
    }
    if (errno == EINTR) return 0;
    return unix_fail(loop, errno);
  }
  b->raw_count = (int)n;
  return (int32_t)n;
#else
  AIO_UNUSED(loop);
  AIO_UNUSED(us);
  return -AIO_ENOTSUP;
#endif
}

uint64_t backend_clock_us(void) {
  struct timespec ts;
  /* vDSO: no system call. */
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int32_t backend_loop_wake(aio_loop *loop) {
  uint64_t one = 1;
  /* Any thread may wake: the loop is not written (no os_error). */
  if (write(loop->backend->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
    return -(int32_t)error_from_os(errno);
  return 0;
}

void backend_loop_harvest(aio_loop *loop) {
  backend_loop *b = loop->backend;
  int i;
  for (i = 0; i < b->raw_count; i++) {
    const struct epoll_event *ev = &b->raw[i];
    aio_handle *h;
    if (ev->data.u64 == WAKE_TOKEN) {
      uint64_t v;
      /* Reset the counter; the edge already did its job. */
      if (read(b->wakefd, &v, sizeof v) < 0) { /* EAGAIN: already reset */ }
      continue;
    }
    /* A handle closed since the wait harvested this entry is gone from
     * the table: its generation moved on, so the entry is dropped. */
    h = table_get(&loop->table, (aio_id)ev->data.u64);
    if (!h) continue;
    if (ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      h->flags |= H_READABLE;
    /* Sticky: no later edge will announce it again. */
    if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      handle_read_final_seen(h);
    if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) h->flags |= H_WRITABLE;
    loop_pend(loop, h);
  }
  b->raw_count = 0;
}

int32_t unix_register(aio_loop *loop, unix_handle *u, uint32_t events,
                      int32_t *os_error) {
  struct epoll_event ev;
  ev.events = events | EPOLLET;
  ev.data.u64 = u->base.id;
  if (epoll_ctl(loop->backend->epfd, EPOLL_CTL_ADD, u->fd, &ev) < 0) {
    *os_error = errno;
    return -(int32_t)unix_error_register(errno);
  }
  return 0;
}

void unix_unregister(aio_loop *loop, unix_handle *u) {
  struct epoll_event ev; /* ignored, but old kernels want one */
  epoll_ctl(loop->backend->epfd, EPOLL_CTL_DEL, u->fd, &ev);
}

int backend_process(aio_loop *loop, aio_handle *h) {
  unix_handle *u = (unix_handle *)h;
  if (h->kind == KIND_LISTENER) return unix_listener_process(loop, u);
  return stream_process(loop, h);
}

int32_t backend_close(aio_loop *loop, aio_handle *h, int32_t mode) {
  return unix_stream_close(loop, (unix_handle *)h, mode);
}

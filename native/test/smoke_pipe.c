/*
 * smoke_pipe.c - pipes through the public ABI: a pair, a refused adopt,
 * and a named endpoint (Unix domain socket / Windows named pipe).
 */
#include "driver.h"

#if !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif

static void pipe_pair_transfers_and_the_writers_close_ends_the_reader(void) {
  uint64_t ends[2];
  int32_t err[2];
  int32_t rid, wid;
  peer *rp, *wp;
  double t0 = now_ms();
  if (!smoke_begin()) return;
  CHECK_EQ(aio_pipe_pair(ends, err), 0);
  rid = aio_pipe_adopt(loop, ends[0], AIO_F_READABLE);
  wid = aio_pipe_adopt(loop, ends[1], AIO_F_WRITABLE);
  CHECK(rid > 0);
  CHECK(wid > 0);
  if (rid <= 0 || wid <= 0) {
    smoke_end();
    return;
  }
  rp = peer_add((aio_id)rid);
  wp = peer_add((aio_id)wid);
  /* A second adopt is refused; the first owner keeps the end. */
  CHECK_EQ(aio_pipe_adopt(loop, ends[0], AIO_F_READABLE), -AIO_EEXIST);
  CHECK_EQ(aio_loop_handle_count(loop), 2);
  /* Wrong directions are refused. */
  CHECK_EQ(aio_read_start(loop, wp->id), -AIO_EINVAL);
  CHECK_EQ(aio_send(loop, rp->id, (const uint8_t *)"x", 1), -AIO_EINVAL);
  CHECK_EQ(aio_shutdown(loop, wp->id), -AIO_EINVAL);
  rp->rx_seed = wp->tx_seed = 77;
  wp->tx_total = 1u << 20;
  CHECK_EQ(aio_read_start(loop, rp->id), 0);
  rp->rx_target = 1u << 20;
  CHECK(drive(c_rx_target, rp, 20000));
  CHECK_EQ(rp->rx, 1u << 20);
  CHECK_EQ(rp->rx_bad, 0);
  /* The writer's close: CLOSED for it, END for the reader. */
  CHECK_EQ(aio_close(loop, wp->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, wp, 5000));
  CHECK_EQ(wp->tx_direct + wp->tx_written, 1u << 20);
  CHECK(drive(c_end, rp, 5000));
  CHECK_EQ(rp->error, 0);
  printf("pipe pair: 1 MiB in %.0f ms, END on close\n", now_ms() - t0);
  CHECK_EQ(aio_close(loop, rp->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, rp, 5000));
  peer_drop(rp);
  peer_drop(wp);
  smoke_end();
}
/* A refused adopt leaves the fd open with its flags: the caller's. */
static void pipe_adopt_refused_leaves_the_fd_as_it_was(void) {
  if (!smoke_begin()) return;
  {
#if !defined(_WIN32)
  int fd = open("/dev/null", O_WRONLY);
  int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
  CHECK(fd >= 0);
  /* epoll cannot poll /dev/null: not supported, not a permission issue. */
  CHECK_EQ(aio_pipe_adopt(loop, (uint64_t)fd, AIO_F_WRITABLE), -AIO_ENOTSUP);
  CHECK_EQ(fcntl(fd, F_GETFL), fl);
  CHECK_EQ(fcntl(fd, F_GETFD), fdfl);
  CHECK_EQ(write(fd, "x", 1), 1);
  CHECK_EQ(close(fd), 0);
#endif
  }
  smoke_end();
}

static void pipe_named_echoes_and_its_name_is_taken_while_served(void) {
  char path[128];
  int32_t lid, cid, sid, r;
  peer *lp, *c, *s;
  double t0 = now_ms();
  if (!smoke_begin()) return;
#if defined(_WIN32)
  snprintf(path, sizeof path, "\\\\.\\pipe\\aio-smoke-%lu", self_pid());
#else
  snprintf(path, sizeof path, "/tmp/aio-smoke-%lu.sock", self_pid());
#endif
  lid = aio_pipe_listen(loop, path, 16, 0);
  CHECK(lid > 0);
  if (lid <= 0) {
    smoke_end();
    return;
  }
  lp = peer_add((aio_id)lid);
  cid = aio_pipe_connect(loop, path);
  CHECK(cid > 0);
  if (cid <= 0) {
    smoke_end();
    return;
  }
  c = peer_add((aio_id)cid);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count == 0) {
    smoke_end();
    return;
  }
  sid = aio_pipe_adopt(loop, lp->accepted[0], AIO_F_READABLE | AIO_F_WRITABLE);
  lp->accepted_count = 0;
  CHECK(sid > 0);
  if (sid <= 0) {
    smoke_end();
    return;
  }
  s = peer_add((aio_id)sid);
  /* The server echoes; the client checks what comes back. */
  s->echo = 1;
  s->rx_seed = c->tx_seed = c->rx_seed = 91;
  c->tx_total = 256 * 1024;
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  /* The client gets all of its bytes back. */
  c->rx_target = 256 * 1024;
  CHECK(drive(c_rx_target, c, 20000));
  CHECK_EQ(c->rx, 256 * 1024);
  CHECK_EQ(c->rx_bad + s->rx_bad, 0);
  CHECK_EQ(s->tx_failed + c->tx_failed, 0);
  /* A second client works too while the first is connected. */
  {
    int32_t c2 = aio_pipe_connect(loop, path);
    CHECK(c2 > 0);
    lp->accepted_count = 0;
    if (c2 > 0) {
      peer *p2 = peer_add((aio_id)c2);
      CHECK(drive(c_accepted, lp, 5000));
      if (lp->accepted_count > 0) CHECK_EQ(aio_os_close(lp->accepted[0], 1), 0);
      lp->accepted_count = 0;
      CHECK_EQ(aio_close(loop, p2->id, AIO_CLOSE_NOW), 0);
      peer_drop(p2);
    }
  }
  /* The name is taken. (On Linux the check connects to the live socket
   * to tell it from a stale one, which the listener sees as a connection
   * that ends at once: drop what it accepts from here on.) */
  r = aio_pipe_listen(loop, path, 16, 0);
  CHECK_EQ(r, -AIO_EADDRINUSE);
  if (r > 0) aio_close(loop, (aio_id)r, AIO_CLOSE_NOW);
  drive_for(50);
  while (lp->accepted_count > 0)
    aio_os_close(lp->accepted[--lp->accepted_count], 1);
  /* The client leaves: the server reads END. */
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, c, 5000));
  CHECK(drive(c_end, s, 5000));
  printf("named pipe %s: 256 KiB echoed in %.0f ms\n", path, now_ms() - t0);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  peer_drop(c);
  peer_drop(s);
  peer_drop(lp);
  /* Nobody serves it any more. */
  r = aio_pipe_connect(loop, path);
  CHECK_EQ(r, -AIO_ENOENT);
  if (r > 0) aio_close(loop, (aio_id)r, AIO_CLOSE_NOW);
  smoke_end();
}

const test_case smoke_pipe_tests[] = {
    TEST_ENTRY(pipe_pair_transfers_and_the_writers_close_ends_the_reader),
    TEST_ENTRY(pipe_adopt_refused_leaves_the_fd_as_it_was),
    TEST_ENTRY(pipe_named_echoes_and_its_name_is_taken_while_served),
    TEST_END};

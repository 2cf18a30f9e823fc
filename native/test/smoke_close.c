/*
 * smoke_close.c - closing under load: many connections closed every way
 * with data still queued, and a loop freed with everything busy.
 */
#include "driver.h"

/* Many connections at once through a listener with few AcceptEx, then
 * every way of closing while data is still queued. */
#define MANY 32

typedef struct many {
  peer *c[MANY], *s[MANY];
  peer *lp;
} many;

static int c_many_connected(void *ctx) {
  many *m = ctx;
  int i, n = 0;
  for (i = 0; i < MANY; i++) n += m->c[i]->connected > 0;
  return n == MANY && m->lp->accepted_count >= MANY;
}

static int c_many_echoed(void *ctx) {
  many *m = ctx;
  int i;
  for (i = 0; i < MANY; i++)
    if (m->c[i]->rx < m->c[i]->rx_target) return 0;
  return 1;
}

static int c_many_closed(void *ctx) {
  many *m = ctx;
  int i;
  for (i = 0; i < MANY; i++) {
    peer *c = m->c[i], *s = m->s[i];
    if (i < 10 && (!c->closed || !s->end || s->rx < s->rx_target)) return 0;
    if (i >= 10 && !s->end && !s->error) return 0;
  }
  return 1;
}

static void many_connections_close_every_way_with_data_queued(void) {
  aio_addr any = addr4(127, 0, 0, 1, 0), to;
  many m;
  int32_t lid;
  int i, resets = 0, ends = 0;
  uint64_t bad = 0, closed_ok = 0;
  double t0 = now_ms();
  static uint8_t big[1 << 20];
  if (!smoke_begin()) return;
  lid = aio_tcp_listen(loop, &any, 128, 0, 4);
  CHECK(lid > 0);
  if (lid <= 0) return;
  m.lp = peer_add((aio_id)lid);
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &to), 0);
  to = addr4(127, 0, 0, 1, to.port);
  for (i = 0; i < MANY; i++) {
    int32_t cid = aio_tcp_connect(loop, &to, AIO_F_NODELAY);
    CHECK(cid > 0);
    if (cid <= 0) return;
    m.c[i] = peer_add((aio_id)cid);
  }
  CHECK(drive(c_many_connected, &m, 10000));
  CHECK_EQ(m.lp->accepted_count, MANY);
  if (m.lp->accepted_count < MANY) return;
  for (i = 0; i < MANY; i++) {
    int32_t sid = aio_tcp_adopt(loop, m.lp->accepted[i], 0);
    CHECK(sid > 0);
    if (sid <= 0) return;
    m.s[i] = peer_add((aio_id)sid);
  }
  m.lp->accepted_count = 0;
  /* Accepted sockets come in no particular order: each client learns
   * which server is its peer from the echo, so all use one seed. */
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    c->tx_seed = c->rx_seed = s->rx_seed = 3;
    c->tx_total = c->rx_target = 128 * 1024;
    s->echo = 1;
    CHECK_EQ(aio_read_start(loop, c->id), 0);
    CHECK_EQ(aio_read_start(loop, s->id), 0);
  }
  CHECK(drive(c_many_echoed, &m, 20000));
  for (i = 0; i < MANY; i++) bad += m.c[i]->rx_bad + m.s[i]->rx_bad;
  CHECK_EQ(bad, 0);
  /* Pair each client with its server by the ports. */
  {
    peer *sorted[MANY];
    for (i = 0; i < MANY; i++) {
      aio_addr cl, pr;
      int k;
      sorted[i] = NULL;
      CHECK_EQ(aio_address(loop, m.c[i]->id, 0, &cl), 0);
      for (k = 0; k < MANY; k++) {
        if (aio_address(loop, m.s[k]->id, 1, &pr) == 0 && pr.port == cl.port)
          sorted[i] = m.s[k];
      }
      CHECK(sorted[i] != NULL);
      if (!sorted[i]) return;
    }
    for (i = 0; i < MANY; i++) m.s[i] = sorted[i];
  }
  /* Closing with 1 MiB queued: 0-9 gracefully (all of it arrives, then
   * END), 10-19 abort, 20-31 now (the server sees END or a reset). */
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    uint32_t k;
    uint64_t base = c->tx_sent;
    s->echo = 0;
    for (k = 0; k < sizeof big; k++) big[k] = pattern(3, base + k);
    peer_send_queued(c, big, sizeof big);
    c->tx_sent += sizeof big;
    c->tx_total = c->tx_sent;
    s->rx_target = c->tx_sent;
    CHECK_EQ(aio_close(loop, c->id,
                       i < 10   ? AIO_CLOSE_GRACEFUL
                       : i < 20 ? AIO_CLOSE_ABORT
                                : AIO_CLOSE_NOW),
             0);
  }
  CHECK(drive(c_many_closed, &m, 30000));
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    bad += s->rx_bad;
    if (i < 10) {
      int ok = c->closed == 1 && c->closed_status == 0 &&
               s->rx == s->rx_target && s->end == 1;
      if (!ok)
        printf("  pair %d: client closed %d/%d err %d/%d queued %llu; server "
               "rx %llu of %llu end %d err %d/%d\n",
               i, c->closed, (int)c->closed_status, c->error,
               (int)c->error_status, (unsigned long long)c->tx_queued,
               (unsigned long long)s->rx, (unsigned long long)s->rx_target,
               s->end, s->error, (int)s->error_status);
      closed_ok += ok;
    } else {
      resets += s->error > 0;
      ends += s->end > 0;
      if (s->error) CHECK_EQ(s->error_status, -AIO_ECONNRESET);
    }
    CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), 0);
    peer_drop(c);
    peer_drop(s);
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(closed_ok, 10);
  printf("many: %d connections, 128 KiB echoed each, closes with 1 MiB queued: "
         "10 graceful ok, abort/now -> %d resets + %d ends, %.0f ms\n",
         MANY, resets, ends, now_ms() - t0);
  /* The listener goes with its AcceptEx still in flight. */
  CHECK_EQ(aio_close(loop, m.lp->id, AIO_CLOSE_NOW), 0);
  peer_drop(m.lp);
  drive_for(50);
  smoke_end();
}

/* A loop freed with everything still open and busy must not crash: its
 * handles are closed and their operations drained. */
static void loop_free_with_busy_handles_drains_them(void) {
  aio_addr any = addr4(127, 0, 0, 1, 0), to;
  int32_t err[2], lid, cid, sid;
  peer *lp, *c, *s;
  static uint8_t big[1 << 20];
  loop = aio_loop_new(err);
  CHECK(loop != NULL);
  if (!loop) return;
  lid = aio_tcp_listen(loop, &any, 8, 0, 8);
  CHECK(lid > 0);
  lp = peer_add((aio_id)lid);
  aio_address(loop, (aio_id)lid, 0, &to);
  to = addr4(127, 0, 0, 1, to.port);
  cid = aio_tcp_connect(loop, &to, 0);
  c = peer_add((aio_id)cid);
  CHECK(drive(c_connected, c, 5000));
  CHECK(drive(c_accepted, lp, 5000));
  sid = lp->accepted_count ? aio_tcp_adopt(loop, lp->accepted[0], 0) : -1;
  CHECK(sid > 0);
  s = peer_add((aio_id)sid);
  aio_read_start(loop, c->id);
  memset(big, 7, sizeof big);
  for (int i = 0; i < 8; i++) CHECK(aio_send(loop, c->id, big, sizeof big) >= 0);
  /* A connect in flight too. */
  CHECK(aio_tcp_connect(loop, &to, 0) > 0);
  aio_loop_free(loop);
  peer_drop(lp);
  peer_drop(c);
  peer_drop(s);
  loop = NULL;
  printf("free: a busy loop freed\n");
}


const test_case smoke_close_tests[] = {
    TEST_ENTRY(many_connections_close_every_way_with_data_queued),
    TEST_ENTRY(loop_free_with_busy_handles_drains_them), TEST_END};

/*
 * smoke_tcp.c - TCP through the public ABI: listen, connect, adopt,
 * transfer with pausing, half-close, abort, a paused listener, refused
 * connects, stale and forged ids, IPv6.
 */
#include "driver.h"

static void tcp_second_listener_on_a_port_is_refused(void) {
  uint16_t port;
  peer *lp;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (lp) {
    aio_addr same = addr4(127, 0, 0, 1, port);
    CHECK(port != 0);
    CHECK_EQ(aio_tcp_listen(loop, &same, 64, 0, 4), -AIO_EADDRINUSE);
    CHECK(aio_loop_os_error(loop) != 0);
    CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_GRACEFUL), 0);
    /* A listener's graceful close is immediate: its id is stale at once. */
    CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), -AIO_EBADID);
    peer_drop(lp);
  }
  smoke_end();
}

static void tcp_transfers_both_ways_and_a_paused_reader_gets_no_data(void) {
  uint16_t port;
  aio_addr a, b;
  peer *lp, *c, *s;
  two t;
  double t0;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp || !tcp_pair(lp, port, &c, &s)) {
    smoke_end();
    return;
  }
  /* The peer of one side is the other side. */
  CHECK_EQ(aio_address(loop, c->id, 0, &a), 0);
  CHECK_EQ(aio_address(loop, s->id, 1, &b), 0);
  CHECK_EQ(a.port, b.port);
  CHECK_EQ(aio_address(loop, c->id, 1, &b), 0);
  CHECK_EQ(b.port, port);
  CHECK_EQ(aio_tcp_nodelay(loop, s->id, 1), 0);

  /* 8 MiB each way, verified byte by byte, with a pause in the middle. */
  c->tx_seed = 11;
  s->rx_seed = 11;
  s->tx_seed = 29;
  c->rx_seed = 29;
  c->tx_total = s->tx_total = 8u << 20;
  CHECK_EQ(aio_read_budget(loop, s->id, 16 * 1024), 0);
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  t0 = now_ms();
  /* Run until the server has 2 MiB, pause it for 200 ms: no DATA may come
   * for it, and the sender's queue must stop moving. */
  s->rx_target = 2u << 20;
  CHECK(drive(c_rx_target, s, 30000));
  CHECK_EQ(aio_read_stop(loop, s->id), 0);
  s->paused = 1;
  drive_for(200);
  CHECK_EQ(s->data_while_paused, 0);
  s->paused = 0;
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  t.a = c;
  t.b = s;
  CHECK(drive(c_transfer_done, &t, 60000));
  printf("tcp: 2 x 8 MiB in %.0f ms (client: %llu direct + %llu WRITTEN; "
         "server: %llu direct + %llu WRITTEN; %llu/%llu DATA records)\n",
         now_ms() - t0, (unsigned long long)c->tx_direct,
         (unsigned long long)c->tx_written, (unsigned long long)s->tx_direct,
         (unsigned long long)s->tx_written,
         (unsigned long long)c->data_records,
         (unsigned long long)s->data_records);
  CHECK_EQ(c->rx, 8u << 20);
  CHECK_EQ(s->rx, 8u << 20);
  CHECK_EQ(c->rx_bad, 0);
  CHECK_EQ(s->rx_bad, 0);
  CHECK_EQ(c->tx_direct + c->tx_written, 8u << 20);
  CHECK_EQ(s->tx_direct + s->tx_written, 8u << 20);
  CHECK_EQ(c->tx_failed + s->tx_failed, 0);
  CHECK_EQ(c->error + s->error, 0);
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

static void tcp_half_close_ends_the_peer_which_still_sends(void) {
  uint16_t port;
  peer *lp, *c, *s;
  two t;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp || !tcp_pair(lp, port, &c, &s)) {
    smoke_end();
    return;
  }
  c->tx_seed = s->rx_seed = 11;
  s->tx_seed = c->rx_seed = 29;
  c->tx_total = s->tx_total = 300000;
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  t.a = c;
  t.b = s;
  CHECK(drive(c_transfer_done, &t, 20000));
  /* The client's FIN reaches the server as END; the server can still
   * send, then closes gracefully. */
  CHECK_EQ(aio_shutdown(loop, c->id), 0);
  CHECK_EQ(aio_shutdown(loop, c->id), 0); /* a second one is a no-op */
  CHECK_EQ(aio_send(loop, c->id, (const uint8_t *)"x", 1), -AIO_ECLOSED);
  CHECK(drive(c_shut, c, 5000));
  CHECK_EQ(c->shut, 1);
  CHECK_EQ(c->shut_status, 0);
  CHECK(drive(c_end, s, 5000));
  CHECK_EQ(s->end, 1);
  {
    uint8_t bye[3];
    bye[0] = pattern(29, c->rx);
    bye[1] = pattern(29, c->rx + 1);
    bye[2] = pattern(29, c->rx + 2);
    peer_send_queued(s, bye, 3);
    s->tx_total += 3;
    s->tx_sent += 3;
  }
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, s, 5000));
  CHECK_EQ(s->closed_status, 0);
  CHECK(drive(c_end, c, 5000));
  CHECK_EQ(c->rx, 300000 + 3);
  CHECK_EQ(c->rx_bad, 0);
  /* The closed id is stale now. */
  CHECK_EQ(aio_send(loop, s->id, (const uint8_t *)"x", 1), -AIO_EBADID);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), -AIO_EBADID);
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, c, 5000));
  CHECK_EQ(c->closed_status, 0);
  CHECK_EQ(c->error + s->error, 0);
  peer_drop(c);
  peer_drop(s);
  CHECK_EQ(aio_loop_handle_count(loop), 1);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

static void tcp_abort_resets_the_peer(void) {
  uint16_t port;
  peer *lp, *c2, *s2;
  static uint8_t some[4096];
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp || !tcp_pair(lp, port, &c2, &s2)) {
    smoke_end();
    return;
  }
  /* The peer sees a reset (or, where the RST loses the race with the
   * data, an end). */
  CHECK_EQ(aio_read_start(loop, c2->id), 0);
  CHECK_EQ(aio_read_start(loop, s2->id), 0);
  memset(some, 'a', sizeof some);
  s2->rx_seed = 0;
  CHECK(aio_send(loop, c2->id, some, sizeof some) >= 0);
  drive_for(50);
  CHECK_EQ(aio_close(loop, c2->id, AIO_CLOSE_ABORT), 0);
  CHECK_EQ(aio_send(loop, c2->id, some, 1), -AIO_EBADID);
  CHECK(drive(c_end_or_error, s2, 5000));
  if (s2->error) {
    char nm[32] = "?";
    aio_error_name(s2->error_status, nm, sizeof nm);
    printf("abort: peer got ERROR %s (os_error %d)\n", nm, (int)s2->error_os);
    CHECK_EQ(s2->error_status, -AIO_ECONNRESET);
  } else {
    printf("abort: peer got END, no reset\n");
  }
  CHECK_EQ(aio_close(loop, s2->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

static void tcp_paused_listener_keeps_connections_until_resumed(void) {
  uint16_t port;
  peer *lp, *c3;
  aio_addr to;
  int32_t cid;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp) {
    smoke_end();
    return;
  }
  to = addr4(127, 0, 0, 1, port);
  CHECK_EQ(aio_read_stop(loop, lp->id), 0);
  cid = aio_tcp_connect(loop, &to, 0);
  CHECK(cid > 0);
  c3 = peer_add((aio_id)cid);
  CHECK(drive(c_connected, c3, 5000));
  drive_for(100);
  CHECK_EQ(lp->accepted_count, 0);
  CHECK_EQ(aio_read_start(loop, lp->id), 0);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count > 0) {
    CHECK_EQ(aio_os_close(lp->accepted[0], 0), 0);
    lp->accepted_count = 0;
  }
  CHECK_EQ(aio_close(loop, c3->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

static void tcp_refused_connect_reports_connected_with_the_error(void) {
  held_port held;
  uint16_t port;
  aio_addr to;
  int32_t cid;
  double t0;
  if (!smoke_begin()) return;
  port = hold_refusing_port(&held);
  CHECK(port != 0);
  to = addr4(127, 0, 0, 1, port);
  t0 = now_ms();
  cid = aio_tcp_connect(loop, &to, 0);
  if (cid < 0) {
    /* Refused at once is allowed too. */
    CHECK_EQ(cid, -AIO_ECONNREFUSED);
  } else {
    peer *c4 = peer_add((aio_id)cid);
    CHECK(drive(c_connected, c4, 10000));
    CHECK_EQ(c4->connected, 1);
    CHECK_EQ(c4->connect_status, -AIO_ECONNREFUSED);
    printf("refused: CONNECTED %d after %.1f ms (os_error in record)\n",
           (int)c4->connect_status, now_ms() - t0);
    /* The failed handle takes no work, and reports no ERROR: CONNECTED
     * carried the failure. */
    CHECK_EQ(aio_send(loop, c4->id, (const uint8_t *)"x", 1), -AIO_ECLOSED);
    CHECK_EQ(aio_shutdown(loop, c4->id), -AIO_ECLOSED);
    /* Closing it gracefully still ends in CLOSED. */
    CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_GRACEFUL), 0);
    CHECK(drive(c_closed, c4, 2000));
    CHECK_EQ(c4->error, 0);
    CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_NOW), -AIO_EBADID);
  }
  release_port(held);
  smoke_end();
}

static void tcp_graceful_close_while_connecting_reports_connected_then_closed(
    void) {
  held_port held;
  uint16_t port;
  aio_addr to;
  int32_t cid;
  if (!smoke_begin()) return;
  port = hold_refusing_port(&held);
  to = addr4(127, 0, 0, 1, port);
  /* As aio.h promises, the close waits for the outcome, so exactly one
   * CONNECTED (with the error) comes, and then CLOSED. */
  cid = aio_tcp_connect(loop, &to, 0);
  if (cid > 0) {
    peer *c4 = peer_add((aio_id)cid);
    CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_GRACEFUL), 0);
    CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_GRACEFUL), 0); /* no-op */
    CHECK(drive(c_closed, c4, 10000));
    CHECK_EQ(c4->connected_at_close, 1);
    CHECK_EQ(c4->connect_status, -AIO_ECONNREFUSED);
    CHECK_EQ(c4->closed, 1);
  }
  release_port(held);
  smoke_end();
}

static void ids_stale_or_forged_are_refused(void) {
  uint16_t port;
  peer *lp;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 2);
  if (lp) {
    CHECK_EQ(aio_close(loop, 0, AIO_CLOSE_NOW), -AIO_EBADID);
    CHECK_EQ(aio_read_start(loop, 0xffffffffu), -AIO_EBADID);
    CHECK_EQ(aio_send(loop, (0x7ffu << 20) | 999u, (const uint8_t *)"x", 1),
             -AIO_EBADID);
    CHECK_EQ(aio_shutdown(loop, lp->id + 1), -AIO_EBADID);
    /* A listener is not a stream. */
    CHECK_EQ(aio_send(loop, lp->id, (const uint8_t *)"x", 1), -AIO_EINVAL);
    CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
    CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), -AIO_EBADID);
  }
  smoke_end();
}

static void tcp_ipv6_loopback_transfers(void) {
  aio_addr any, a, to;
  int32_t lid, cid, sid;
  peer *lp, *c, *s;
  two t;
  if (!smoke_begin()) return;
  memset(&any, 0, sizeof any);
  any.family = 6;
  any.bytes[15] = 1;
  lid = aio_tcp_listen(loop, &any, 8, AIO_F_V6ONLY, 2);
  if (lid < 0) {
    printf("ipv6: no ::1 here (%d), skipped\n", (int)lid);
    smoke_end();
    return;
  }
  lp = peer_add((aio_id)lid);
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &a), 0);
  CHECK_EQ(a.family, 6);
  to = any;
  to.port = a.port;
  cid = aio_tcp_connect(loop, &to, 0);
  CHECK(cid > 0);
  c = peer_add((aio_id)cid);
  CHECK(drive(c_connected, c, 5000));
  CHECK_EQ(c->connect_status, 0);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count == 0) {
    aio_close(loop, c->id, AIO_CLOSE_NOW);
    aio_close(loop, lp->id, AIO_CLOSE_NOW);
    smoke_end();
    return;
  }
  sid = aio_tcp_adopt(loop, lp->accepted[0], AIO_F_NODELAY);
  CHECK(sid > 0);
  s = peer_add((aio_id)sid);
  CHECK_EQ(aio_address(loop, s->id, 1, &a), 0);
  CHECK_EQ(a.family, 6);
  CHECK_EQ(a.bytes[15], 1);
  c->tx_seed = s->rx_seed = 5;
  s->tx_seed = c->rx_seed = 6;
  c->tx_total = s->tx_total = 100000;
  aio_read_start(loop, c->id);
  aio_read_start(loop, s->id);
  t.a = c;
  t.b = s;
  CHECK(drive(c_transfer_done, &t, 10000));
  CHECK_EQ(c->rx_bad + s->rx_bad, 0);
  printf("ipv6: [::1]:%u ok\n", (unsigned)to.port);
  aio_close(loop, c->id, AIO_CLOSE_NOW);
  aio_close(loop, s->id, AIO_CLOSE_NOW);
  aio_close(loop, lp->id, AIO_CLOSE_NOW);
  peer_drop(c);
  peer_drop(s);
  peer_drop(lp);
  smoke_end();
}

static void tcp_eager_close_with_nothing_queued_finishes_within_the_call(void) {
  uint16_t port;
  peer *lp, *c, *s;
  two t;
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp || !tcp_pair(lp, port, &c, &s)) {
    smoke_end();
    return;
  }
  s->tx_seed = c->rx_seed = 7;
  s->tx_total = 100000;
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  t.a = s;
  t.b = c;
  CHECK(drive(c_transfer_done, &t, 10000));
  /* Everything sent and reported: the close needs no dispatch turn. */
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_EAGER), 1);
  CHECK_EQ(aio_send(loop, s->id, (const uint8_t *)"x", 1), -AIO_EBADID);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), -AIO_EBADID);
  CHECK(drive(c_end, c, 5000));
  CHECK_EQ(c->rx, 100000);
  CHECK_EQ(c->rx_bad, 0);
  drive_for(20);
  CHECK_EQ(s->closed, 0); /* no AIO_REC_CLOSED for it */
  CHECK_EQ(c->error + s->error, 0);
  peer_drop(s);
  /* After the peer's end as well. */
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_EAGER), 1);
  peer_drop(c);
  CHECK_EQ(aio_loop_handle_count(loop), 1);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

static void tcp_eager_close_with_data_queued_flushes_then_reports_closed(void) {
  uint16_t port;
  peer *lp, *c, *s;
  int32_t n;
  uint32_t i;
  /* More than loopback's buffers hold while the reader does not read. */
  static uint8_t big[16u << 20];
  if (!smoke_begin()) return;
  lp = tcp_listen_local(&port, 4);
  if (!lp || !tcp_pair(lp, port, &c, &s)) {
    smoke_end();
    return;
  }
  for (i = 0; i < sizeof big; i++) big[i] = pattern(13, i);
  n = aio_send(loop, s->id, big, (int32_t)sizeof big);
  CHECK(n >= 0 && (uint32_t)n < sizeof big);
  /* Bytes are queued: the close waits for them and reports CLOSED. */
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_EAGER), 0);
  c->rx_seed = 13;
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  CHECK(drive(c_closed, s, 30000));
  CHECK_EQ(s->closed_status, 0);
  CHECK(drive(c_end, c, 30000));
  CHECK_EQ(c->rx, sizeof big);
  CHECK_EQ(c->rx_bad, 0);
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_EAGER), 1);
  peer_drop(c);
  peer_drop(s);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  smoke_end();
}

const test_case smoke_tcp_tests[] = {
    TEST_ENTRY(tcp_second_listener_on_a_port_is_refused),
    TEST_ENTRY(tcp_transfers_both_ways_and_a_paused_reader_gets_no_data),
    TEST_ENTRY(tcp_half_close_ends_the_peer_which_still_sends),
    TEST_ENTRY(tcp_abort_resets_the_peer),
    TEST_ENTRY(tcp_paused_listener_keeps_connections_until_resumed),
    TEST_ENTRY(tcp_refused_connect_reports_connected_with_the_error),
    TEST_ENTRY(
        tcp_graceful_close_while_connecting_reports_connected_then_closed),
    TEST_ENTRY(ids_stale_or_forged_are_refused),
    TEST_ENTRY(tcp_ipv6_loopback_transfers),
    TEST_ENTRY(tcp_eager_close_with_nothing_queued_finishes_within_the_call),
    TEST_ENTRY(tcp_eager_close_with_data_queued_flushes_then_reports_closed),
    TEST_END};

/*
 * unit_sendq.c - the send queue (native/src/sendq.c), linked directly.
 */
#include "test.h"

#include "../src/internal.h"

static uint8_t sendq__byte(uint64_t i) { return (uint8_t)(i * 31u + 7u); }

static void sendq__fill(uint8_t *p, uint64_t from, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; i++) p[i] = sendq__byte(from + i);
}

/* Whether the queue holds the pattern's bytes from..from+q->bytes. */
static int sendq__holds(const sendq *q, uint64_t from) {
  const uint8_t *bufs[64];
  uint32_t lens[64], k;
  int i, n = sendq_peek(q, bufs, lens, 64);
  uint64_t at = from, total = 0;
  for (i = 0; i < n; i++) {
    for (k = 0; k < lens[i]; k++)
      if (bufs[i][k] != sendq__byte(at + k)) return 0;
    at += lens[i];
    total += lens[i];
  }
  return total == q->bytes;
}

static void sendq_keeps_bytes_in_order(void) {
  sendq q;
  static uint8_t buf[50000];
  uint64_t at = 0;
  int i;
  memset(&q, 0, sizeof q);
  for (i = 1; i <= 20; i++) {
    uint32_t n = (uint32_t)(i * 2311 % 50000);
    sendq__fill(buf, at, n);
    CHECK_EQ(sendq_append(&q, buf, n), 0);
    at += n;
  }
  CHECK_EQ(q.bytes, at);
  CHECK(sendq__holds(&q, 0));
  sendq_clear(&q);
}

static void sendq_small_appends_share_a_chunk(void) {
  sendq q;
  uint8_t b[10];
  const uint8_t *bufs[4];
  uint32_t lens[4];
  int i;
  memset(&q, 0, sizeof q);
  for (i = 0; i < 100; i++) {
    sendq__fill(b, (uint64_t)i * 10, 10);
    sendq_append(&q, b, 10);
  }
  CHECK(q.head == q.tail);
  CHECK_EQ(sendq_peek(&q, bufs, lens, 4), 1);
  CHECK_EQ(lens[0], 1000);
  CHECK(sendq__holds(&q, 0));
  sendq_clear(&q);
}

static void sendq_consume_crosses_chunks_and_frees_them(void) {
  sendq q;
  static uint8_t buf[40000];
  memset(&q, 0, sizeof q);
  sendq__fill(buf, 0, 40000);
  sendq_append(&q, buf, 40000);
  sendq__fill(buf, 40000, 40000);
  sendq_append(&q, buf, 40000);
  CHECK(q.head != q.tail);
  sendq_consume(&q, 39999);
  CHECK_EQ(q.bytes, 40001);
  CHECK(sendq__holds(&q, 39999));
  sendq_consume(&q, 2);
  CHECK(q.head == q.tail);
  CHECK(sendq__holds(&q, 40001));
  sendq_consume(&q, q.bytes);
  CHECK_EQ(q.bytes, 0);
  CHECK(q.head == NULL && q.tail == NULL);
}

static void sendq_peek_stops_at_max(void) {
  sendq q;
  static uint8_t buf[20000];
  const uint8_t *bufs[2];
  uint32_t lens[2];
  int i;
  memset(&q, 0, sizeof q);
  for (i = 0; i < 5; i++) sendq_append(&q, buf, sizeof buf);
  CHECK_EQ(sendq_peek(&q, bufs, lens, 2), 2);
  CHECK_EQ(lens[0] + lens[1], 40000);
  sendq_clear(&q);
  CHECK_EQ(sendq_peek(&q, bufs, lens, 2), 0);
}

static void sendq_bytes_in_flight_do_not_move_when_more_come(void) {
  sendq q;
  uint8_t b[100];
  static uint8_t big[70000];
  const uint8_t *bufs[1];
  uint32_t lens[1];
  const uint8_t *first;
  memset(&q, 0, sizeof q);
  sendq__fill(b, 0, 100);
  sendq_append(&q, b, 100);
  sendq_peek(&q, bufs, lens, 1);
  first = bufs[0];
  /* An overlapped send holds `first`; appending must not realloc it. */
  sendq__fill(b, 100, 100);
  sendq_append(&q, b, 100);
  sendq__fill(big, 200, sizeof big);
  sendq_append(&q, big, sizeof big);
  sendq_peek(&q, bufs, lens, 1);
  CHECK(bufs[0] == first);
  CHECK(sendq__holds(&q, 0));
  sendq_clear(&q);
}

static void sendq_empty_append_is_a_no_op(void) {
  sendq q;
  memset(&q, 0, sizeof q);
  CHECK_EQ(sendq_append(&q, NULL, 0), 0);
  CHECK(q.head == NULL);
  CHECK_EQ(q.bytes, 0);
}

/* A queue on a loop gives its chunks to the loop's pool and takes them
 * back for the next bytes (their pages stay mapped); the pool keeps no
 * more than 1 MiB, and no chunk larger than 256 KiB. */
static void sendq_pool_reuses_chunks_within_its_bound(void) {
  sendq q;
  sendq_pool pool;
  static uint8_t buf[65536];
  static uint8_t huge[300000];
  const uint8_t *bufs[1];
  uint32_t lens[1];
  const sendq_chunk *first;
  int i;
  memset(&q, 0, sizeof q);
  memset(&pool, 0, sizeof pool);
  q.pool = &pool;
  sendq__fill(buf, 0, sizeof buf);
  CHECK_EQ(sendq_append(&q, buf, sizeof buf), 0);
  first = q.head;
  sendq_consume(&q, q.bytes);
  CHECK(pool.free == first);
  CHECK_EQ(pool.bytes, 65536);
  /* The next chunk is the pooled one, and holds the new bytes. */
  sendq__fill(buf, 65536, sizeof buf);
  CHECK_EQ(sendq_append(&q, buf, 1000), 0);
  CHECK(q.head == first);
  CHECK_EQ(pool.bytes, 0);
  CHECK(sendq__holds(&q, 65536));
  /* A larger chunk than any pooled one comes from malloc. */
  sendq_clear(&q);
  CHECK_EQ(sendq_append(&q, huge, sizeof huge), 0);
  CHECK(q.head != first);
  CHECK_EQ(sendq_peek(&q, bufs, lens, 1), 1);
  CHECK_EQ(lens[0], sizeof huge);
  /* Too large to keep: freed, the pool unchanged. */
  sendq_clear(&q);
  CHECK_EQ(pool.bytes, 65536);
  /* Bounded: 20 chunks of 64 KiB given back, 16 kept. */
  for (i = 0; i < 20; i++) CHECK_EQ(sendq_append(&q, buf, sizeof buf), 0);
  sendq_clear(&q);
  CHECK_EQ(pool.bytes, 1024 * 1024);
  sendq_pool_free(&pool);
  CHECK(pool.free == NULL);
  CHECK_EQ(pool.bytes, 0);
}

const test_case unit_sendq_tests[] = {
    TEST_ENTRY(sendq_keeps_bytes_in_order),
    TEST_ENTRY(sendq_small_appends_share_a_chunk),
    TEST_ENTRY(sendq_consume_crosses_chunks_and_frees_them),
    TEST_ENTRY(sendq_peek_stops_at_max),
    TEST_ENTRY(sendq_bytes_in_flight_do_not_move_when_more_come),
    TEST_ENTRY(sendq_empty_append_is_a_no_op),
    TEST_ENTRY(sendq_pool_reuses_chunks_within_its_bound), TEST_END};

/*
 * unit_records.c - the record buffer and the arena (native/src/records.c),
 * linked directly, on a loop made by hand.
 */
#include "test.h"

#include "../src/internal.h"

static aio_record records__buf[RECORD_CAPACITY];
static uint8_t records__arena[64];

static void records__loop(aio_loop *l, aio_handle *h, aio_id id) {
  memset(l, 0, sizeof *l);
  memset(h, 0, sizeof *h);
  l->records = records__buf;
  l->arena = records__arena;
  h->loop = l;
  h->id = id;
}

static void records_push_writes_id_kind_status_and_os_error(void) {
  aio_loop l;
  aio_handle h;
  records__loop(&l, &h, 77);
  memset(records__buf, 0xee, sizeof records__buf[0]);
  records_push(&l, &h, AIO_REC_ERROR, -AIO_ECONNRESET, 104);
  CHECK_EQ(l.record_count, 1);
  CHECK_EQ(records__buf[0].id, 77);
  CHECK_EQ(records__buf[0].kind, AIO_REC_ERROR);
  CHECK_EQ(records__buf[0].status, -AIO_ECONNRESET);
  CHECK_EQ(records__buf[0].os_error, 104);
  /* The rest is cleared, not left from an earlier dispatch. */
  CHECK_EQ(records__buf[0].offset, 0);
  CHECK_EQ(records__buf[0].handle_hi, 0);
}

static void records_data_points_into_the_arena_in_order(void) {
  aio_loop l;
  aio_handle h;
  records__loop(&l, &h, 5);
  CHECK_EQ(arena_room(&l), ARENA_SIZE);
  CHECK(arena_tail(&l) == records__arena);
  records_push_data(&l, &h, 10);
  CHECK(arena_tail(&l) == records__arena + 10);
  records_push_data(&l, &h, 7);
  CHECK_EQ(records__buf[0].kind, AIO_REC_DATA);
  CHECK_EQ(records__buf[0].offset, 0);
  CHECK_EQ(records__buf[0].length, 10);
  CHECK_EQ(records__buf[1].offset, 10);
  CHECK_EQ(records__buf[1].length, 7);
  CHECK_EQ(arena_room(&l), ARENA_SIZE - 17);
}

static void records_accepted_handle_splits_into_two_halves(void) {
  aio_loop l;
  aio_handle h;
  records__loop(&l, &h, 9);
  records_push_handle(&l, &h, 0x123456789abcdef0ull);
  CHECK_EQ(records__buf[0].kind, AIO_REC_ACCEPTED);
  CHECK_EQ(records__buf[0].handle_lo, 0x9abcdef0u);
  CHECK_EQ(records__buf[0].handle_hi, 0x12345678u);
}

static void records_past_capacity_are_dropped_not_overflowed(void) {
  aio_loop l;
  aio_handle h;
  int i;
  records__loop(&l, &h, 1);
  CHECK_EQ(records_room(&l), RECORD_CAPACITY);
  for (i = 0; i < RECORD_CAPACITY + 3; i++)
    records_push(&l, &h, AIO_REC_END, 0, 0);
  CHECK_EQ(l.record_count, RECORD_CAPACITY);
  CHECK_EQ(records_room(&l), 0);
}

const test_case unit_records_tests[] = {
    TEST_ENTRY(records_push_writes_id_kind_status_and_os_error),
    TEST_ENTRY(records_data_points_into_the_arena_in_order),
    TEST_ENTRY(records_accepted_handle_splits_into_two_halves),
    TEST_ENTRY(records_past_capacity_are_dropped_not_overflowed), TEST_END};

/*
 * unit_state.c - the transitions of a handle's state machines
 * (native/src/handle.c), on a real loop with a bare handle that no OS
 * object backs (destroyed before the loop is freed).
 */
#include "test.h"

#include "../src/internal.h"

static aio_loop *state__loop;

static aio_handle *state__stream(void) {
  int32_t err[2];
  state__loop = aio_loop_new(err);
  if (!state__loop) return NULL;
  return handle_new(state__loop, sizeof(aio_handle), KIND_STREAM);
}

static void state__done(aio_handle *h) {
  if (h) handle_destroy(h);
  CHECK_EQ(state__loop->zombies, 0);
  CHECK(state__loop->pending_head == NULL);
  aio_loop_free(state__loop);
}

static void state_new_handle_is_open_with_nothing_started(void) {
  aio_handle *h = state__stream();
  CHECK(h != NULL);
  if (!h) return;
  CHECK_EQ(h->life, LIFE_OPEN);
  CHECK_EQ(h->connect, CONNECT_NONE);
  CHECK_EQ(h->read, READ_OPEN);
  CHECK_EQ(h->shut, SHUT_NONE);
  CHECK(!handle_failed(h) && !handle_closing(h) && !handle_connecting(h));
  state__done(h);
}

static void state_failure_while_closing_still_ends_in_closed(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  h->flags |= H_READING;
  handle_close_begin(h);
  CHECK_EQ(h->life, LIFE_CLOSING);
  CHECK_EQ(h->flags & H_READING, 0);
  handle_fail(h, AIO_ECONNRESET, 0);
  CHECK_EQ(h->life, LIFE_FAILED_CLOSING);
  CHECK(handle_failed(h) && handle_closing(h));
  CHECK_EQ(h->error, -AIO_ECONNRESET);
  state__done(h);
}

static void state_close_after_failure_waits_for_no_flush(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  handle_fail(h, AIO_EPIPE, 32);
  CHECK_EQ(h->life, LIFE_FAILED);
  handle_close_begin(h);
  CHECK_EQ(h->life, LIFE_FAILED_CLOSING);
  CHECK(h->flags & H_PENDING);
  state__done(h);
}

static void state_first_failure_wins(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  handle_fail(h, AIO_ECONNRESET, 104);
  handle_fail(h, AIO_EPIPE, 32);
  CHECK_EQ(h->error, -AIO_ECONNRESET);
  CHECK_EQ(h->os_error, 104);
  state__done(h);
}

static void state_failed_connect_reports_once_and_fails_without_error(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  handle_connect_begin(h);
  CHECK(handle_connecting(h));
  handle_connect_known(h);
  CHECK_EQ(h->connect, CONNECT_DONE);
  handle_connect_report(h, -AIO_ECONNREFUSED, 111);
  CHECK_EQ(h->connect, CONNECT_REPORTED);
  CHECK_EQ(h->life, LIFE_FAILED);
  CHECK_EQ(h->error, 0); /* CONNECTED carried it: no ERROR follows */
  CHECK_EQ(state__loop->record_count, 1);
  CHECK_EQ(state__loop->records[0].kind, AIO_REC_CONNECTED);
  CHECK_EQ(state__loop->records[0].status, -AIO_ECONNREFUSED);
  state__done(h);
}

static void state_close_while_connecting_fails_closing_on_refusal(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  handle_connect_begin(h);
  handle_close_begin(h);
  handle_connect_report(h, -AIO_ECONNREFUSED, 111);
  CHECK_EQ(h->life, LIFE_FAILED_CLOSING);
  state__done(h);
}

static void state_hangup_after_end_changes_nothing(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  h->flags |= H_READING | H_READABLE;
  handle_read_final_seen(h);
  CHECK_EQ(h->read, READ_FINAL_SEEN);
  handle_read_end(h);
  CHECK_EQ(h->read, READ_ENDED);
  CHECK_EQ(h->flags & (H_READING | H_READABLE), 0);
  handle_read_final_seen(h);
  CHECK_EQ(h->read, READ_ENDED);
  CHECK_EQ(state__loop->records[0].kind, AIO_REC_END);
  state__done(h);
}

static void state_shutdown_goes_requested_then_done(void) {
  aio_handle *h = state__stream();
  if (!h) return;
  handle_shut_request(h);
  CHECK_EQ(h->shut, SHUT_REQUESTED);
  CHECK(h->flags & H_PENDING);
  handle_shut_done(h);
  CHECK_EQ(h->shut, SHUT_DONE);
  state__done(h);
}

static void state_release_makes_the_id_stale(void) {
  aio_handle *h = state__stream();
  aio_id id;
  if (!h) return;
  id = h->id;
  handle_fail(h, AIO_EPIPE, 0); /* on the pending list */
  handle_release(h);
  CHECK_EQ(h->life, LIFE_DEAD);
  CHECK(table_get(&state__loop->table, id) == NULL);
  CHECK(!(h->flags & H_PENDING));
  CHECK_EQ(state__loop->zombies, 1);
  handle_fail(h, AIO_ECONNRESET, 0); /* nobody hears of it */
  CHECK_EQ(h->life, LIFE_DEAD);
  state__done(h);
}

const test_case unit_state_tests[] = {
    TEST_ENTRY(state_new_handle_is_open_with_nothing_started),
    TEST_ENTRY(state_failure_while_closing_still_ends_in_closed),
    TEST_ENTRY(state_close_after_failure_waits_for_no_flush),
    TEST_ENTRY(state_first_failure_wins),
    TEST_ENTRY(state_failed_connect_reports_once_and_fails_without_error),
    TEST_ENTRY(state_close_while_connecting_fails_closing_on_refusal),
    TEST_ENTRY(state_hangup_after_end_changes_nothing),
    TEST_ENTRY(state_shutdown_goes_requested_then_done),
    TEST_ENTRY(state_release_makes_the_id_stale), TEST_END};

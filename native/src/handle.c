/*
 * handle.c - the life of a handle and every transition of its state
 * machines (docs/DESIGN.md, "Native state machines"). Nothing else writes
 * h->life, h->connect, h->read or h->shut: each change happens here, once,
 * with the reason it is allowed, and debug builds assert the state it
 * starts from (wepoll's sock.c keeps its poll status the same way).
 */
#include "internal.h"

aio_handle *handle_new(aio_loop *loop, size_t size, handle_kind kind) {
  aio_handle *h = calloc(1, size);
  if (!h) return NULL;
  h->loop = loop;
  h->kind = kind;
  h->read_budget = DEFAULT_READ_BUDGET;
  h->queue.pool = &loop->send_pool;
  /* calloc: LIFE_OPEN, CONNECT_NONE, READ_OPEN, SHUT_NONE. */
  if (table_insert(&loop->table, h) < 0) {
    free(h);
    return NULL;
  }
  return h;
}

/* --- life --------------------------------------------------------------- */

int handle_failed(const aio_handle *h) {
  return h->life == LIFE_FAILED || h->life == LIFE_FAILED_CLOSING;
}

int handle_closing(const aio_handle *h) {
  return h->life == LIFE_CLOSING || h->life == LIFE_FAILED_CLOSING;
}

void handle_close_begin(aio_handle *h) {
  AIO_ASSERT(h->kind == KIND_STREAM || h->kind == KIND_PIPE);
  AIO_ASSERT(h->life != LIFE_DEAD);
  /* OPEN -> CLOSING: flush, FIN, CLOSED (stream_process). FAILED ->
   * FAILED_CLOSING: nothing is left to flush, the next turn reports CLOSED.
   * A second graceful close is refused before it comes here (api.c). */
  if (h->life == LIFE_OPEN)
    h->life = LIFE_CLOSING;
  else if (h->life == LIFE_FAILED)
    h->life = LIFE_FAILED_CLOSING;
  /* A closing handle reads no more: its unread input is discarded. */
  h->flags &= ~(uint32_t)H_READING;
  loop_pend(h->loop, h);
}

/* The one failure of a handle: the first wins, later ones (a write error
 * behind a read error) add nothing JS could act on. */
static int handle__fail_state(aio_handle *h) {
  switch (h->life) {
    case LIFE_OPEN: /* OPEN -> FAILED: no more I/O, JS closes it. */
      h->life = LIFE_FAILED;
      return 1;
    case LIFE_CLOSING: /* CLOSING -> FAILED_CLOSING: the close cannot flush
                          any more; it ends at the next turn with CLOSED. */
      h->life = LIFE_FAILED_CLOSING;
      return 1;
    default: /* failed already, or dead: nobody hears of it */
      return 0;
  }
}

void handle_fail(aio_handle *h, enum aio_error code, int32_t os_error) {
  AIO_ASSERT(code > AIO_OK && code < AIO_ERROR_COUNT);
  if (!handle__fail_state(h)) return;
  h->error = -code;
  h->os_error = os_error;
  loop_pend(h->loop, h);
}

void handle_release(aio_handle *h) {
  if (h->life == LIFE_DEAD) return;
  /* any -> DEAD: the id goes back to the table, so JS can no longer reach
   * the handle; its memory waits for the OS operations still in flight. */
  loop_unpend(h->loop, h);
  table_remove(&h->loop->table, h);
  h->life = LIFE_DEAD;
  h->loop->zombies++;
}

void handle_destroy(aio_handle *h) {
  if (h->life != LIFE_DEAD) handle_release(h);
  loop_unpend(h->loop, h);
  h->loop->zombies--;
  sendq_clear(&h->queue);
  free(h);
}

/* --- connect ------------------------------------------------------------ */

int handle_connecting(const aio_handle *h) {
  return h->connect == CONNECT_IN_FLIGHT || h->connect == CONNECT_DONE;
}

void handle_connect_begin(aio_handle *h) {
  AIO_ASSERT(h->kind == KIND_STREAM && h->connect == CONNECT_NONE);
  /* NONE -> IN_FLIGHT: writes queue and reads wait until it is through. */
  h->connect = CONNECT_IN_FLIGHT;
}

void handle_connect_known(aio_handle *h) {
  AIO_ASSERT(h->connect == CONNECT_IN_FLIGHT);
  /* IN_FLIGHT -> DONE: the IOCP completion (or ConnectEx finishing at once)
   * brought the outcome; the next dispatch turn reports it. */
  h->connect = CONNECT_DONE;
  loop_pend(h->loop, h);
}

void handle_connect_report(aio_handle *h, int32_t status, int32_t os_error) {
  AIO_ASSERT(handle_connecting(h));
  AIO_ASSERT(status <= 0);
  /* IN_FLIGHT | DONE -> REPORTED: exactly one CONNECTED per connect. */
  h->connect = CONNECT_REPORTED;
  records_push(h->loop, h, AIO_REC_CONNECTED, status, os_error);
  /* A failed connect fails the handle, but CONNECTED carried the error:
   * no ERROR follows (h->error stays 0). A graceful close asked for while
   * connecting then ends with CLOSED at once. */
  if (status < 0) handle__fail_state(h);
}

/* --- read side ---------------------------------------------------------- */

void handle_read_final_seen(aio_handle *h) {
  /* OPEN -> FINAL_SEEN: the OS said EOF, hang-up or failure is coming;
   * the reads go on until one of them reports it. Once END went out,
   * a late hang-up changes nothing. */
  if (h->read == READ_OPEN) h->read = READ_FINAL_SEEN;
}

void handle_read_end(aio_handle *h) {
  AIO_ASSERT(h->read != READ_ENDED);
  /* OPEN | FINAL_SEEN -> ENDED: END is reported once, and the handle never
   * reads again (nothing is left to announce). */
  h->read = READ_ENDED;
  h->flags &= ~(uint32_t)(H_READABLE | H_READING);
  records_push(h->loop, h, AIO_REC_END, 0, 0);
}

/* --- write side --------------------------------------------------------- */

void handle_shut_request(aio_handle *h) {
  AIO_ASSERT(h->shut == SHUT_NONE && h->life == LIFE_OPEN);
  /* NONE -> REQUESTED: no new bytes; FIN goes once the queue is flushed. */
  h->shut = SHUT_REQUESTED;
  loop_pend(h->loop, h);
}

void handle_shut_done(aio_handle *h) {
  AIO_ASSERT(h->shut != SHUT_DONE);
  AIO_ASSERT(h->queue.bytes == 0);
  /* NONE | REQUESTED -> DONE: FIN was sent (by aio_shutdown, or by a
   * graceful close that had not shut the stream yet). Once only. */
  h->shut = SHUT_DONE;
}

void handle_report_written(aio_handle *h) {
  while (h->written > 0 && records_room(h->loop) > 0) {
    uint64_t n = h->written > 0x7fffffffu ? 0x7fffffffu : h->written;
    records_push(h->loop, h, AIO_REC_WRITTEN, 0, 0);
    h->loop->records[h->loop->record_count - 1].length = (uint32_t)n;
    h->written -= n;
  }
}

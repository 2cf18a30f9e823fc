/*
 * stream.c - the byte-stream state machine, written once for both
 * backends. Each dispatch turn of a stream does, in this order: report a
 * connect result, move the send queue, report WRITTEN, report a failure
 * (and end a graceful close of a failed stream), half-close once the queue
 * is flushed, finish a graceful close once the queue is flushed, then read.
 * The backends supply the verbs (backend_stream_* in internal.h); the
 * state changes are handle.c's transitions.
 */
#include "internal.h"

/* ERROR goes out once, for the failure waiting in h->error. */
static void stream__report_error(aio_loop *loop, aio_handle *h) {
  if (!h->error) return;
  records_push(loop, h, AIO_REC_ERROR, h->error, h->os_error);
  h->error = 0;
}

int32_t stream_close_flushed(aio_handle *h, int32_t *os_error) {
  int32_t r = 0;
  if (h->shut != SHUT_DONE) {
    r = backend_stream_shutdown(h, os_error);
    handle_shut_done(h);
  }
  /* After the peer's end nothing more can arrive: no read to discard. */
  if (h->read != READ_ENDED) backend_stream_discard_unread(h);
  return r;
}

int stream_process(aio_loop *loop, aio_handle *h) {
  int more = 0;

  AIO_ASSERT(h->life != LIFE_DEAD);
  if (handle_connecting(h)) {
    if (!backend_stream_connect_done(h)) return 0;
    /* A failure fails the handle: the failed branch below then ends a
     * graceful close that was asked for while connecting. */
    backend_stream_connected(loop, h);
  }
  if (!handle_failed(h) && h->queue.bytes > 0 && backend_stream_can_flush(h)) {
    int32_t os_error = 0;
    int32_t r = backend_stream_flush(h, &os_error);
    if (r < 0) handle_fail(h, (enum aio_error)-r, os_error);
  }
  handle_report_written(h);
  if (handle_failed(h)) {
    stream__report_error(loop, h);
    /* A graceful close of a failed stream has nothing left to flush: it
     * ends here, or it would never report CLOSED. */
    if (h->life == LIFE_FAILED_CLOSING) {
      records_push(loop, h, AIO_REC_CLOSED, 0, 0);
      backend_close(loop, h, AIO_CLOSE_NOW);
    }
    return 0;
  }
  /* Bytes leave the queue only once the OS has taken them (on IOCP: when
   * their write completed), so an empty queue means nothing in flight. */
  if (h->queue.bytes == 0 && h->shut == SHUT_REQUESTED &&
      h->life == LIFE_OPEN) {
    int32_t os_error = 0;
    int32_t r = backend_stream_shutdown(h, &os_error);
    handle_shut_done(h);
    records_push(loop, h, AIO_REC_SHUTDOWN, r, os_error);
  }
  if (h->life == LIFE_CLOSING && h->queue.bytes == 0) {
    int32_t os_error = 0;
    int32_t r = stream_close_flushed(h, &os_error);
    /* CLOSED carries the id, so it goes out before the id is released. */
    records_push(loop, h, AIO_REC_CLOSED, r, os_error);
    backend_close(loop, h, AIO_CLOSE_NOW);
    return 0;
  }
  if ((h->flags & H_READING) && h->read != READ_ENDED)
    more = backend_stream_read(loop, h);
  if (handle_failed(h)) {
    stream__report_error(loop, h);
    return 0;
  }
  return more;
}

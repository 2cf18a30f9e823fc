/*
 * stream.c - the byte-stream state machine, written once for both
 * backends. Each dispatch turn of a stream does, in this order: report a
 * connect result, move the send queue, report WRITTEN, report a failure
 * (and end a graceful close of a failed stream), half-close once the queue
 * is flushed, finish a graceful close once the queue is flushed, then read.
 * The backends supply the verbs (backend_stream_* in internal.h).
 */
#include "internal.h"

int stream_process(aio_loop *loop, aio_handle *h) {
  int more = 0;

  if (h->flags & H_CONNECTING) {
    if (!backend_stream_connect_done(h)) return 0;
    /* A failure leaves H_FAILED set: the failed branch below then ends a
     * graceful close that was asked for while connecting. */
    backend_stream_connected(loop, h);
  }
  if (!(h->flags & H_FAILED) && h->queue.bytes > 0 &&
      backend_stream_can_flush(h)) {
    int32_t e = backend_stream_flush(h);
    if (e) handle_fail(h, error_from_os(e), e);
  }
  handle_report_written(h);
  if (h->flags & H_FAILED) {
    if (h->error) {
      records_push(loop, h, AIO_REC_ERROR, h->error, h->os_error);
      h->error = 0;
    }
    /* A graceful close of a failed stream has nothing left to flush: it
     * ends here, or it would never report CLOSED. */
    if (h->flags & H_CLOSING) {
      records_push(loop, h, AIO_REC_CLOSED, 0, 0);
      backend_close(loop, h, AIO_CLOSE_NOW);
    }
    return 0;
  }
  /* Bytes leave the queue only once the OS has taken them (on IOCP: when
   * their write completed), so an empty queue means nothing in flight. */
  if (h->queue.bytes == 0 && (h->flags & H_SHUT_REQ) &&
      !(h->flags & H_SHUT_DONE) && !(h->flags & H_CLOSING)) {
    int32_t e = backend_stream_shutdown(h);
    records_push(loop, h, AIO_REC_SHUTDOWN, e ? -error_from_os(e) : 0, e);
  }
  if ((h->flags & H_CLOSING) && h->queue.bytes == 0) {
    int32_t e = (h->flags & H_SHUT_DONE) ? 0 : backend_stream_shutdown(h);
    backend_stream_discard_unread(h);
    /* CLOSED carries the id, so it goes out before the id is released. */
    records_push(loop, h, AIO_REC_CLOSED, e ? -error_from_os(e) : 0, e);
    backend_close(loop, h, AIO_CLOSE_NOW);
    return 0;
  }
  if ((h->flags & (H_READING | H_EOF)) == H_READING)
    more = backend_stream_read(loop, h);
  if (h->flags & H_FAILED) {
    records_push(loop, h, AIO_REC_ERROR, h->error, h->os_error);
    h->error = 0;
    return 0;
  }
  return more;
}

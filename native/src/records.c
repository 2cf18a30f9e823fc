/*
 * records.c - the record buffer and the receive arena of a loop.
 *
 * Both are native memory that JS maps once. A dispatch starts them empty;
 * DATA records point into the arena, which stays valid until the next
 * dispatch, so onData can get a view with no copy.
 */
#include <string.h>

#include "internal.h"

int records_room(const aio_loop *loop) {
  return RECORD_CAPACITY - loop->record_count;
}

static aio_record *records__next(aio_loop *loop, const aio_handle *h,
                                 int32_t kind) {
  aio_record *r;
  /* Callers keep RECORD_RESERVE free before processing a handle; this
   * guard only keeps a logic error from writing past the buffer. */
  if (loop->record_count >= RECORD_CAPACITY) return NULL;
  r = &loop->records[loop->record_count++];
  memset(r, 0, sizeof *r);
  r->id = h->id;
  r->kind = kind;
  return r;
}

void records_push(aio_loop *loop, const aio_handle *h, int32_t kind,
                  int32_t status, int32_t os_error) {
  aio_record *r = records__next(loop, h, kind);
  if (!r) return;
  r->status = status;
  r->os_error = os_error;
}

uint32_t arena_room(const aio_loop *loop) {
  return ARENA_SIZE - loop->arena_used;
}

uint8_t *arena_tail(aio_loop *loop) { return loop->arena + loop->arena_used; }

void records_push_data(aio_loop *loop, const aio_handle *h, uint32_t len) {
  aio_record *r = records__next(loop, h, AIO_REC_DATA);
  if (!r) return;
  r->offset = loop->arena_used;
  r->length = len;
  loop->arena_used += len;
}

void records_push_handle(aio_loop *loop, const aio_handle *h, uint64_t os) {
  aio_record *r = records__next(loop, h, AIO_REC_ACCEPTED);
  if (!r) return;
  r->handle_lo = (uint32_t)(os & 0xffffffffu);
  r->handle_hi = (uint32_t)(os >> 32);
}

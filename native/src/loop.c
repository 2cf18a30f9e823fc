/*
 * loop.c - the loop's common half: creation, the dispatch walk over the
 * pending list, and handle lifetime. The OS half is backend_loop_*.
 *
 * Threads: aio_loop_wait may run on a pool thread (the nonblocking FFI
 * binding); it only harvests raw entries into backend storage. Everything
 * here runs on the loop's JS thread, never while a wait is parked.
 */
#include <string.h>

#include "internal.h"

AIO_EXPORT aio_loop *aio_loop_new(int32_t *err_out) {
  aio_loop *loop = calloc(1, sizeof *loop);
  int32_t os_error = 0;
  int32_t code = AIO_ENOMEM;

  if (loop) {
    loop->records = calloc(RECORD_CAPACITY, sizeof *loop->records);
    loop->arena = malloc(ARENA_SIZE);
    if (loop->records && loop->arena && table_init(&loop->table) == 0) {
      int32_t r = backend_loop_init(loop, &os_error);
      if (r == 0) {
        if (err_out) err_out[0] = err_out[1] = 0;
        return loop;
      }
      /* err_out is the ABI's [code, os_error]: the code positive. */
      code = -r;
    }
    table_free(&loop->table);
    free(loop->records);
    free(loop->arena);
    free(loop);
  }
  if (err_out) {
    err_out[0] = code;
    err_out[1] = os_error;
  }
  return NULL;
}

AIO_EXPORT void aio_loop_free(aio_loop *loop) {
  uint32_t i;
  if (!loop) return;
  /* Whatever JS left open is released without callbacks. */
  for (i = 0; i < loop->table.cap; i++) {
    aio_handle *h = loop->table.slots[i];
    if (h) backend_close(loop, h, AIO_CLOSE_NOW);
  }
  backend_loop_free(loop); /* drains the zombies' OS operations */
  /* After the zombies: their queues go back to the pool as they go. */
  sendq_pool_free(&loop->send_pool);
  table_free(&loop->table);
  free(loop->records);
  free(loop->arena);
  free(loop);
}

AIO_EXPORT int32_t aio_loop_wait(aio_loop *loop, int32_t timeout_ms) {
  RETURN_IF(!loop, AIO_EINVAL);
  return backend_loop_wait(loop, timeout_ms);
}

/* Waits for events on the calling thread for up to max_us (docs/DESIGN.md,
 * "The pump"). It busy-polls for busy_us first: a peer running on another
 * core is seen without any wake-up. Then, where the OS can time a wait that
 * short, it sleeps in the OS's wait for the rest: the kernel wakes this
 * thread when an event comes, as Deno's own reactor is woken (one context
 * switch, no thread hop), and a peer that needs the CPU gets it. Where it
 * cannot, it polls to the end. */
AIO_EXPORT int32_t aio_loop_spin(aio_loop *loop, int32_t busy_us,
                                 int32_t max_us) {
  uint64_t now, busy_end, deadline;
  int32_t n;
  RETURN_IF(!loop || busy_us < 0 || max_us < 0, AIO_EINVAL);
  now = backend_clock_us();
  deadline = now + (uint64_t)max_us;
  busy_end = now + (uint64_t)(busy_us < max_us ? busy_us : max_us);
  /* The last poll comes after the deadline was seen passing: a thread
   * preempted past it still looks once more before it reports nothing. */
  for (;;) {
    now = backend_clock_us();
    n = backend_loop_wait(loop, 0);
    if (n != 0 || now >= deadline) return n;
    if (now >= busy_end) break;
  }
  n = backend_loop_nap(loop, (int32_t)(deadline - now));
  if (n != -AIO_ENOTSUP) return n;
  for (;;) {
    int expired = backend_clock_us() >= deadline;
    n = backend_loop_wait(loop, 0);
    if (n != 0 || expired) return n;
  }
}

AIO_EXPORT int32_t aio_loop_wake(aio_loop *loop) {
  RETURN_IF(!loop, AIO_EINVAL);
  return backend_loop_wake(loop);
}

AIO_EXPORT int32_t aio_loop_dispatch(aio_loop *loop) {
  const aio_handle *h;
  size_t turns = 0;
  RETURN_IF(!loop, AIO_EINVAL);
  loop->record_count = 0;
  loop->arena_used = 0;
  backend_loop_harvest(loop);
  /* Each handle on the list at the start gets one turn; one that still has
   * work goes to the back and waits for the next dispatch, so a busy
   * connection cannot starve the others. */
  for (h = loop->pending_head; h; h = h->pending_next) turns++;
  while (turns-- > 0 && loop->pending_head &&
         records_room(loop) >= RECORD_RESERVE) {
    aio_handle *next = loop->pending_head;
    loop_unpend(loop, next);
    if (backend_process(loop, next)) loop_pend(loop, next);
  }
  return loop->record_count;
}

AIO_EXPORT int32_t aio_loop_pending(aio_loop *loop) {
  return loop && loop->pending_head ? 1 : 0;
}

AIO_EXPORT aio_record *aio_loop_records(aio_loop *loop) {
  return loop ? loop->records : NULL;
}

AIO_EXPORT int32_t aio_loop_record_capacity(aio_loop *loop) {
  AIO_UNUSED(loop);
  return RECORD_CAPACITY;
}

AIO_EXPORT uint8_t *aio_loop_arena(aio_loop *loop) {
  return loop ? loop->arena : NULL;
}

AIO_EXPORT int32_t aio_loop_arena_size(aio_loop *loop) {
  AIO_UNUSED(loop);
  return ARENA_SIZE;
}

AIO_EXPORT int32_t aio_loop_handle_count(aio_loop *loop) {
  RETURN_IF(!loop, AIO_EINVAL);
  return (int32_t)loop->table.used;
}

AIO_EXPORT int32_t aio_loop_os_error(aio_loop *loop) {
  return loop ? loop->os_error : 0;
}

void loop_pend(aio_loop *loop, aio_handle *h) {
  /* A released handle has no turn left: its id is gone. */
  AIO_ASSERT(h->life != LIFE_DEAD);
  if (h->flags & H_PENDING) return;
  h->flags |= H_PENDING;
  h->pending_next = NULL;
  h->pending_prev = loop->pending_tail;
  if (loop->pending_tail)
    loop->pending_tail->pending_next = h;
  else
    loop->pending_head = h;
  loop->pending_tail = h;
}

void loop_unpend(aio_loop *loop, aio_handle *h) {
  if (!(h->flags & H_PENDING)) return;
  h->flags &= ~(uint32_t)H_PENDING;
  if (h->pending_prev)
    h->pending_prev->pending_next = h->pending_next;
  else
    loop->pending_head = h->pending_next;
  if (h->pending_next)
    h->pending_next->pending_prev = h->pending_prev;
  else
    loop->pending_tail = h->pending_prev;
  h->pending_next = h->pending_prev = NULL;
}

int32_t loop_fail(aio_loop *loop, enum aio_error code, int32_t os_error) {
  AIO_ASSERT(code > AIO_OK && code < AIO_ERROR_COUNT);
  loop->os_error = os_error;
  return -(int32_t)code;
}

int32_t error_out(int32_t os_error, int32_t *out) {
  *out = os_error;
  return -(int32_t)error_from_os(os_error);
}

/*
 * sendq.c - a connection's queue of bytes accepted but not yet taken by
 * the OS. Chunks are never moved once written, so a buffer handed to an
 * overlapped send stays valid while more bytes are appended behind it.
 */
#include <string.h>

#include "internal.h"

/* Small sends are packed into chunks of at least this size, so a stream of
 * tiny writes costs few allocations and few iovecs. */
#define SENDQ_MIN_CHUNK (16 * 1024u)

int32_t sendq_append(sendq *q, const uint8_t *data, uint32_t len) {
  sendq_chunk *c = q->tail;
  uint32_t cap;

  if (len == 0) return 0;
  if (c && c->cap - c->end >= len) {
    memcpy(c->data + c->end, data, len);
    c->end += len;
    q->bytes += len;
    return 0;
  }
  cap = len < SENDQ_MIN_CHUNK ? SENDQ_MIN_CHUNK : len;
  c = malloc(sizeof *c + cap);
  if (!c) return -AIO_ENOMEM;
  c->next = NULL;
  c->start = 0;
  c->end = len;
  c->cap = cap;
  memcpy(c->data, data, len);
  if (q->tail)
    q->tail->next = c;
  else
    q->head = c;
  q->tail = c;
  q->bytes += len;
  return 0;
}

void sendq_consume(sendq *q, uint64_t n) {
  while (n > 0 && q->head) {
    sendq_chunk *c = q->head;
    uint32_t avail = c->end - c->start;
    if (n < avail) {
      c->start += (uint32_t)n;
      q->bytes -= n;
      return;
    }
    n -= avail;
    q->bytes -= avail;
    q->head = c->next;
    if (!q->head) q->tail = NULL;
    free(c);
  }
}

void sendq_clear(sendq *q) { sendq_consume(q, q->bytes); }

int sendq_peek(const sendq *q, const uint8_t **bufs, uint32_t *lens,
               int max) {
  const sendq_chunk *c = q->head;
  int n = 0;
  for (; c && n < max; c = c->next) {
    if (c->end == c->start) continue;
    bufs[n] = c->data + c->start;
    lens[n] = c->end - c->start;
    n++;
  }
  return n;
}

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
/* What a loop's pool keeps at most: one default high water mark of chunks
 * (src/stream.ts), none larger than a few typical writes. glibc gives a
 * freed 64 KiB chunk at the top of the heap back to the OS (trim), so a
 * queue that fills and drains over and over faulted every page of every
 * chunk in again; on this project's VM that was most of a bulk writer's
 * CPU (bench/GAPS.md, pipe-bulk). */
#define SENDQ_POOL_MAX (1024 * 1024u)
#define SENDQ_POOL_CHUNK_MAX (256 * 1024u)

static sendq_chunk *sendq__new_chunk(sendq *q, uint32_t cap) {
  sendq_pool *p = q->pool;
  sendq_chunk **at;
  if (p) {
    for (at = &p->free; *at; at = &(*at)->next) {
      if ((*at)->cap >= cap) {
        sendq_chunk *c = *at;
        *at = c->next;
        p->bytes -= c->cap;
        return c;
      }
    }
  }
  {
    sendq_chunk *c = malloc(sizeof(sendq_chunk) + cap);
    if (c) c->cap = cap;
    return c;
  }
}

static void sendq__drop_chunk(sendq *q, sendq_chunk *c) {
  sendq_pool *p = q->pool;
  if (p && c->cap <= SENDQ_POOL_CHUNK_MAX &&
      p->bytes + c->cap <= SENDQ_POOL_MAX) {
    c->next = p->free;
    p->free = c;
    p->bytes += c->cap;
    return;
  }
  free(c);
}

void sendq_pool_free(sendq_pool *p) {
  while (p->free) {
    sendq_chunk *c = p->free;
    p->free = c->next;
    free(c);
  }
  p->bytes = 0;
}

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
  c = sendq__new_chunk(q, cap);
  if (!c) return -AIO_ENOMEM;
  c->next = NULL;
  c->start = 0;
  c->end = len;
  /* c->cap: what it has, at least cap (a pooled chunk may be larger). */
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
    sendq__drop_chunk(q, c);
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

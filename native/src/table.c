/*
 * table.c - the handle table: opaque ids with a generation.
 *
 * JS never sees an fd, SOCKET or HANDLE as a key: the OS reuses those at
 * once after close. An id is a slot index plus the slot's generation, and
 * the generation moves on when the slot is released, so a stale id finds a
 * different generation and a forged one finds nothing (docs/DESIGN.md,
 * rule "Ids, never OS handles").
 */
#include <string.h>

#include "internal.h"

#define TABLE_INITIAL_CAP 64u

/* Doubles the table; the new slots join the back of the free queue, lowest
 * index first. The ring is laid out again from index 0 in queue order. */
static int32_t table__grow(handle_table *t) {
  uint32_t cap = t->cap ? t->cap * 2 : TABLE_INITIAL_CAP;
  aio_handle **slots;
  uint16_t *gens;
  uint32_t *ring;
  uint32_t i;

  if (cap > ID_INDEX_MASK + 1u) cap = ID_INDEX_MASK + 1u;
  if (cap <= t->cap) return -AIO_EMFILE;
  ring = malloc(cap * sizeof *ring);
  if (!ring) return -AIO_ENOMEM;
  slots = realloc(t->slots, cap * sizeof *slots);
  if (!slots) {
    free(ring);
    return -AIO_ENOMEM;
  }
  t->slots = slots;
  gens = realloc(t->gens, cap * sizeof *gens);
  if (!gens) {
    free(ring);
    return -AIO_ENOMEM;
  }
  t->gens = gens;
  for (i = 0; i < t->free_count; i++)
    ring[i] = t->free_ring[(t->free_head + i) % t->cap];
  free(t->free_ring);
  t->free_ring = ring;
  t->free_head = 0;
  for (i = t->cap; i < cap; i++) {
    t->slots[i] = NULL;
    t->gens[i] = 1;
    t->free_ring[t->free_count++] = i;
  }
  t->cap = cap;
  return 0;
}

int32_t table_init(handle_table *t) {
  memset(t, 0, sizeof *t);
  return table__grow(t);
}

void table_free(handle_table *t) {
  free(t->slots);
  free(t->gens);
  free(t->free_ring);
  memset(t, 0, sizeof *t);
}

/* Reuse is FIFO behind a quarantine: the table grows rather than leave
 * fewer than TABLE_QUARANTINE free slots queued, so a released slot is
 * taken again only after at least TABLE_QUARANTINE other ids were handed
 * out, and its generation wraps only after TABLE_QUARANTINE * ID_GEN_MASK
 * (33 million) of them. (LIFO reuse gave one slot to every connection of a
 * sequential workload: the 11-bit generation of the first layout wrapped
 * after 2,047 of them and a stale id named a live handle again.) */
int32_t table_insert(handle_table *t, aio_handle *h) {
  uint32_t index;
  while (t->free_count <= TABLE_QUARANTINE) {
    int32_t r = table__grow(t);
    /* At the index limit, or out of memory: a younger free slot is still
     * better than failing the call. */
    if (r < 0) {
      if (t->free_count > 0) break;
      return r;
    }
  }
  index = t->free_ring[t->free_head];
  t->free_head = (t->free_head + 1u) % t->cap;
  t->free_count--;
  t->slots[index] = h;
  t->used++;
  h->id = ((uint32_t)t->gens[index] << ID_INDEX_BITS) | index;
  return (int32_t)h->id;
}

aio_handle *table_get(const handle_table *t, aio_id id) {
  uint32_t index = id & ID_INDEX_MASK;
  uint32_t gen = (id >> ID_INDEX_BITS);
  if (gen == 0 || gen > ID_GEN_MASK || index >= t->cap) return NULL;
  if (t->gens[index] != gen) return NULL;
  return t->slots[index];
}

void table_remove(handle_table *t, aio_handle *h) {
  uint32_t index = h->id & ID_INDEX_MASK;
  if (h->id == 0 || index >= t->cap || t->slots[index] != h) return;
  t->slots[index] = NULL;
  /* Generations run 1..ID_GEN_MASK; 0 never appears, so id 0 is invalid. */
  t->gens[index] = (uint16_t)(t->gens[index] % ID_GEN_MASK + 1u);
  t->free_ring[(t->free_head + t->free_count) % t->cap] = index;
  t->free_count++;
  t->used--;
  h->id = 0;
}

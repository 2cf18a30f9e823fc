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

static int32_t table__grow(handle_table *t) {
  uint32_t cap = t->cap ? t->cap * 2 : TABLE_INITIAL_CAP;
  aio_handle **slots;
  uint16_t *gens;
  uint32_t *free_list;
  uint32_t i;

  if (cap > ID_INDEX_MASK + 1u) cap = ID_INDEX_MASK + 1u;
  if (cap <= t->cap) return -AIO_EMFILE;
  slots = realloc(t->slots, cap * sizeof *slots);
  if (!slots) return -AIO_ENOMEM;
  t->slots = slots;
  gens = realloc(t->gens, cap * sizeof *gens);
  if (!gens) return -AIO_ENOMEM;
  t->gens = gens;
  free_list = realloc(t->free_list, cap * sizeof *free_list);
  if (!free_list) return -AIO_ENOMEM;
  t->free_list = free_list;
  /* New slots go on the free list highest first, so low indexes are used
   * first and ids stay small. */
  for (i = cap; i > t->cap; i--) {
    t->slots[i - 1] = NULL;
    t->gens[i - 1] = 1;
    t->free_list[t->free_count++] = i - 1;
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
  free(t->free_list);
  memset(t, 0, sizeof *t);
}

int32_t table_insert(handle_table *t, aio_handle *h) {
  uint32_t index;
  if (t->free_count == 0) {
    int32_t r = table__grow(t);
    if (r < 0) return r;
  }
  index = t->free_list[--t->free_count];
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
  t->free_list[t->free_count++] = index;
  t->used--;
  h->id = 0;
}

/*
 * unit_table.c - the handle table (native/src/table.c), linked directly.
 */
#include "test.h"

#include "../src/internal.h"

static void table_ids_are_nonzero_and_find_their_handle(void) {
  handle_table t;
  aio_handle a, b;
  int32_t ia, ib;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_EQ(table_init(&t), 0);
  ia = table_insert(&t, &a);
  ib = table_insert(&t, &b);
  CHECK(ia > 0 && ib > 0 && ia != ib);
  CHECK_EQ(a.id, (aio_id)ia);
  CHECK(table_get(&t, (aio_id)ia) == &a);
  CHECK(table_get(&t, (aio_id)ib) == &b);
  CHECK_EQ(t.used, 2);
  /* Bit 31 stays clear, so an id is a positive int32 for JS. */
  CHECK_EQ((uint32_t)ia >> 31, 0);
  table_free(&t);
}

static void table_stale_id_finds_nothing_after_remove(void) {
  handle_table t;
  aio_handle a, b;
  aio_id old;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_EQ(table_init(&t), 0);
  old = (aio_id)table_insert(&t, &a);
  table_remove(&t, &a);
  CHECK_EQ(a.id, 0);
  CHECK(table_get(&t, old) == NULL);
  CHECK_EQ(t.used, 0);
  /* The slot waits at the back of the free queue: not used again at once. */
  CHECK((aio_id)table_insert(&t, &b) != old);
  CHECK((b.id & ID_INDEX_MASK) != (old & ID_INDEX_MASK));
  CHECK(table_get(&t, old) == NULL);
  CHECK(table_get(&t, b.id) == &b);
  table_free(&t);
}

static void table_forged_ids_find_nothing(void) {
  handle_table t;
  aio_handle a;
  memset(&a, 0, sizeof a);
  CHECK_EQ(table_init(&t), 0);
  table_insert(&t, &a);
  CHECK(table_get(&t, 0) == NULL);
  CHECK(table_get(&t, a.id & ID_INDEX_MASK) == NULL); /* generation 0 */
  CHECK(table_get(&t, 0xffffffffu) == NULL);
  CHECK(table_get(&t, (1u << ID_INDEX_BITS) | (t.cap + 5)) == NULL);
  CHECK(table_get(&t, a.id + (1u << ID_INDEX_BITS)) == NULL);
  table_free(&t);
}

static void table_grows_past_its_first_capacity(void) {
  handle_table t;
  static aio_handle hs[300];
  int i, ok = 1;
  uint32_t cap0;
  memset(hs, 0, sizeof hs);
  CHECK_EQ(table_init(&t), 0);
  cap0 = t.cap;
  for (i = 0; i < 300; i++) ok &= table_insert(&t, &hs[i]) > 0;
  CHECK(ok);
  CHECK(t.cap > cap0);
  for (i = 0; i < 300; i++) ok &= table_get(&t, hs[i].id) == &hs[i];
  CHECK(ok);
  CHECK_EQ(t.used, 300);
  table_free(&t);
}

static void table_generation_wraps_and_never_becomes_zero(void) {
  handle_table t;
  aio_handle a;
  uint32_t i;
  int ok = 1;
  memset(&a, 0, sizeof a);
  CHECK_EQ(table_init(&t), 0);
  /* Enough cycles for every slot of the grown table to wrap: slots come
   * back oldest-released first. */
  for (i = 0; i < 2u * TABLE_QUARANTINE * 3u; i++) {
    uint32_t gen;
    table_insert(&t, &a);
    gen = a.id >> ID_INDEX_BITS;
    ok &= gen != 0 && gen <= ID_GEN_MASK;
    table_remove(&t, &a);
  }
  CHECK(ok);
  table_free(&t);
}

/* Issue 13: LIFO reuse gave a sequential workload one slot, whose
 * generation wrapped after 2,047 reuses; a stale id named a live handle
 * again. Now a released slot waits behind TABLE_QUARANTINE others and has
 * ID_GEN_MASK generations: 200,000 sequential handles never repeat an id
 * that is still remembered. */
static void table_sequential_reuse_never_revives_a_stale_id(void) {
  handle_table t;
  aio_handle a, b;
  aio_id first;
  uint32_t i;
  int revived = 0;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  CHECK_EQ(table_init(&t), 0);
  first = (aio_id)table_insert(&t, &a);
  table_remove(&t, &a);
  for (i = 0; i < 200000u; i++) {
    table_insert(&t, &b);
    revived += b.id == first || table_get(&t, first) != NULL;
    table_remove(&t, &b);
  }
  CHECK_EQ(revived, 0);
  /* The table stays small: the quarantine and what is live, no more. */
  CHECK(t.cap <= 2u * TABLE_QUARANTINE);
  table_free(&t);
}

/* A slot released is taken again only after the whole queue ahead of it. */
static void table_reuses_the_oldest_released_slot_first(void) {
  handle_table t;
  static aio_handle hs[3];
  aio_handle x;
  uint32_t i, index0;
  memset(hs, 0, sizeof hs);
  memset(&x, 0, sizeof x);
  CHECK_EQ(table_init(&t), 0);
  table_insert(&t, &hs[0]);
  index0 = hs[0].id & ID_INDEX_MASK;
  table_remove(&t, &hs[0]);
  for (i = 0; i < TABLE_QUARANTINE; i++) {
    table_insert(&t, &x);
    CHECK((x.id & ID_INDEX_MASK) != index0);
    table_remove(&t, &x);
  }
  table_free(&t);
}

const test_case unit_table_tests[] = {
    TEST_ENTRY(table_ids_are_nonzero_and_find_their_handle),
    TEST_ENTRY(table_stale_id_finds_nothing_after_remove),
    TEST_ENTRY(table_forged_ids_find_nothing),
    TEST_ENTRY(table_grows_past_its_first_capacity),
    TEST_ENTRY(table_generation_wraps_and_never_becomes_zero),
    TEST_ENTRY(table_sequential_reuse_never_revives_a_stale_id),
    TEST_ENTRY(table_reuses_the_oldest_released_slot_first), TEST_END};

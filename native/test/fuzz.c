/*
 * fuzz.c - the ABI fuzzer: seeded random sequences of every aio_* call,
 * as a careless or hostile host would make them, with invariants checked
 * after each step. Linux only; tools/build.ts links it with an
 * ASan+UBSan build of the library's sources (assertions on), so a memory
 * error, undefined behaviour, a failed AIO_ASSERT or a leak (LSan at exit)
 * ends the run with a report; tools/fuzz.ts counts them and prints the
 * summary line (docs/DESIGN.md, "Reliability machinery").
 *
 *   fuzz [--ops N] [--seeds S] [--seed0 X]
 *
 * What one step may do: listen (TCP and Unix socket), connect to its own
 * listeners (and to a refusing port, a missing path), adopt what was
 * accepted or close it, make pipe pairs and adopt or close their ends,
 * send random sizes (0 .. 192 KiB, negative and NULL too), start and stop
 * reading, set budgets, half-close, close in the three modes (and invalid
 * ones), ask addresses, resolve numeric names, dispatch, poll, spin, wake,
 * and call everything with forged ids, stale ids and absurd arguments.
 *
 * Invariants, after each step: a stale or forged id is AIO_EBADID for
 * every call; the loop's handle count equals the ids this program holds;
 * records name only held ids (or one closed earlier in the same batch),
 * have a known kind, stay inside the arena, report no more WRITTEN than
 * was queued and CLOSED only once, after a graceful close; sends return
 * 0..len. After each seed: every id closed, the count 0, no fd left open.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../include/aio.h"

#define MAX_HANDLES 96
#define MAX_STALE 256
#define MAX_SEND (192 * 1024)
#define QUEUE_CAP (4u << 20) /* stop sending to a handle beyond this */

enum kind { K_TCP_LISTENER, K_PIPE_LISTENER, K_TCP, K_UNIX, K_PIPE_END };

typedef struct held {
  aio_id id;
  int kind;
  int closing;  /* a graceful close was asked: CLOSED will come */
  int pipe_flags;
  uint16_t port; /* a TCP listener's */
  uint64_t queued;
} held;

static aio_loop *loop;
static held hs[MAX_HANDLES];
static int nh;
static aio_id stale[MAX_STALE];
static int nstale;
/* Ids closed during the current batch of records: their later records in
 * the same batch are legal (JS drops them, an ACCEPTED's handle closed). */
static aio_id batch_dead[MAX_HANDLES * 4];
static int nbatch_dead;
static uint64_t ops, violations;
/* What the run did, so a run that does nothing cannot look green. */
static uint64_t st_ids, st_records, st_sent, st_bad;
static uint64_t rng;
static char pipe_dir[64];
static int pipe_seq;
static uint8_t payload[MAX_SEND];
static const char *current_op = "start";

static uint64_t rnd(void) {
  /* splitmix64: seeded, reproducible. */
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(uint32_t percent) { return below(100) < percent; }

static void violation(const char *what, long long a, long long b) {
  violations++;
  printf("fuzz: INVARIANT %s (%lld, %lld) after op %llu (%s)\n", what, a, b,
         (unsigned long long)ops, current_op);
  fflush(stdout);
  if (violations > 20) abort();
}
#define EXPECT(cond, what, a, b) \
  do {                           \
    if (!(cond)) violation(what, (long long)(a), (long long)(b)); \
  } while (0)

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d))) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the DIR's own */
}

static held *find(aio_id id) {
  int i;
  for (i = 0; i < nh; i++)
    if (hs[i].id == id) return &hs[i];
  return NULL;
}

static void remember_stale(aio_id id) {
  stale[nstale < MAX_STALE ? nstale++ : (int)below(MAX_STALE)] = id;
}

/* The id is gone (closed now, or its CLOSED came). */
static void forget(held *h) {
  remember_stale(h->id);
  if (nbatch_dead < (int)(sizeof batch_dead / sizeof batch_dead[0]))
    batch_dead[nbatch_dead++] = h->id;
  *h = hs[--nh];
}

static held *add(int32_t id, int kind) {
  if (id <= 0) return NULL;
  if (nh == MAX_HANDLES) {
    /* Never more than we track: close it at once. */
    EXPECT(aio_close(loop, (aio_id)id, AIO_CLOSE_NOW) == 0, "close extra", id,
           0);
    remember_stale((aio_id)id);
    return NULL;
  }
  st_ids++;
  memset(&hs[nh], 0, sizeof hs[nh]);
  hs[nh].id = (aio_id)id;
  hs[nh].kind = kind;
  return &hs[nh++];
}

static held *pick(void) { return nh ? &hs[below((uint32_t)nh)] : NULL; }

static aio_addr addr_local(int v6, uint16_t port) {
  aio_addr a;
  memset(&a, 0, sizeof a);
  a.family = v6 ? 6 : 4;
  a.port = port;
  if (v6)
    a.bytes[15] = 1;
  else {
    a.bytes[0] = 127;
    a.bytes[3] = 1;
  }
  return a;
}

static int32_t absurd_int(void) {
  static const int32_t v[] = {0, -1, 1, INT32_MIN, INT32_MAX, 257, -257,
                              1 << 30, 65536, 2};
  return v[below(sizeof v / sizeof v[0])];
}

/* An id that must find nothing: stale, or forged in one of the ways an
 * id can be wrong (zero, bit 31, generation 0, index far out, a held id
 * with another generation). */
static aio_id bad_id(void) {
  held *h;
  switch (below(6)) {
    case 0:
      if (nstale) return stale[below((uint32_t)nstale)];
      return 0;
    case 1: return 0;
    case 2: return 0x80000000u | (uint32_t)rnd();
    case 3: return (uint32_t)below(1u << 18); /* generation 0 */
    case 4: return (1u << 18) | ((1u << 18) - 1u - below(16)); /* far index */
    default:
      h = pick();
      if (!h) return 0xffffffffu;
      return h->id ^ (1u << (18 + below(13)));
  }
}

static int is_held(aio_id id) { return find(id) != NULL; }

/* Every call that takes an id, with a bad one: AIO_EBADID, nothing else. */
static void op_bad_id(void) {
  aio_id id = bad_id();
  aio_addr a;
  int32_t r = 0;
  if (is_held(id)) return; /* a forged id that happens to be live */
  current_op = "bad id";
  st_bad++;
  switch (below(12)) {
    case 8: r = aio_tcp_keepalive(loop, id, 1, 1000, 1000, 3); break;
    case 9: r = aio_tcp_buffer_size(loop, id, (int32_t)below(2), 0); break;
    case 10: {
      uint8_t v[8];
      r = aio_sockopt_get(loop, id, 1, 7, v, (int32_t)sizeof v);
      break;
    }
    case 11: {
      int32_t one = 1;
      r = aio_sockopt_set(loop, id, 6, 1, (const uint8_t *)&one, 4);
      break;
    }
    case 0: r = aio_close(loop, id, (int32_t)below(3)); break;
    case 1: r = aio_read_start(loop, id); break;
    case 2: r = aio_read_stop(loop, id); break;
    case 3: r = aio_read_budget(loop, id, 4096); break;
    case 4: r = aio_send(loop, id, payload, 16); break;
    case 5: r = aio_shutdown(loop, id); break;
    case 6: r = aio_address(loop, id, 0, &a); break;
    default: r = aio_tcp_nodelay(loop, id, 1); break;
  }
  EXPECT(r == -AIO_EBADID, "bad id is EBADID", id, r);
}

static void op_listen_tcp(void) {
  aio_addr a = addr_local(chance(20), 0), got;
  int32_t backlog = chance(10) ? absurd_int() : 1 + (int32_t)below(64);
  int32_t accepts = chance(10) ? absurd_int() : 1 + (int32_t)below(4);
  int32_t id;
  held *h;
  current_op = "tcp listen";
  if (chance(3)) a.family = (uint16_t)below(10); /* mostly invalid */
  id = aio_tcp_listen(loop, chance(2) ? NULL : &a, backlog,
                      (int32_t)below(16), accepts);
  if (id < 0) return;
  h = add(id, K_TCP_LISTENER);
  if (!h) return;
  if (aio_address(loop, h->id, 0, &got) == 0) h->port = got.port;
  if (chance(80)) aio_read_start(loop, h->id);
}

static void op_listen_pipe(void) {
  char path[128];
  int32_t id;
  current_op = "pipe listen";
  snprintf(path, sizeof path, "%s/l%d.sock", pipe_dir, pipe_seq++ % 8);
  id = aio_pipe_listen(loop, chance(3) ? "" : path,
                       chance(10) ? absurd_int() : 8, 0);
  if (id > 0 && add(id, K_PIPE_LISTENER) && chance(80))
    aio_read_start(loop, (aio_id)id);
}

static void op_connect(void) {
  held *l = NULL;
  int i, tries;
  current_op = "connect";
  for (tries = 0; tries < 4 && !l; tries++) {
    held *c = pick();
    if (c && (c->kind == K_TCP_LISTENER || c->kind == K_PIPE_LISTENER)) l = c;
  }
  if (l && l->kind == K_PIPE_LISTENER) {
    char path[128];
    int32_t id;
    /* Which path it listens on is not tracked: try the few it may be. */
    for (i = 0; i < 8; i++) {
      snprintf(path, sizeof path, "%s/l%d.sock", pipe_dir, i);
      id = aio_pipe_connect(loop, path);
      if (id > 0) {
        add(id, K_UNIX);
        return;
      }
    }
    return;
  }
  {
    uint16_t port = l && l->port ? l->port : (uint16_t)(chance(50) ? 1 : 0);
    aio_addr a = addr_local(0, port);
    aio_addr local = addr_local(0, 0);
    int32_t id = chance(80) ? aio_tcp_connect(loop, &a, (int32_t)below(16))
                            : aio_tcp_connect_from(loop, &a,
                                                   chance(50) ? NULL : &local,
                                                   (int32_t)below(16));
    if (id > 0) add(id, K_TCP);
  }
  if (chance(5)) {
    char path[128];
    snprintf(path, sizeof path, "%s/missing.sock", pipe_dir);
    EXPECT(aio_pipe_connect(loop, path) < 0, "connect to a missing path", 0,
           0);
  }
}

static void op_pipe_pair(void) {
  uint64_t ends[2];
  int32_t err[2];
  int i;
  current_op = "pipe pair";
  if (aio_pipe_pair(ends, err) < 0) return;
  for (i = 0; i < 2; i++) {
    /* The right flag mostly; sometimes a wrong or an empty one. */
    int32_t flags = chance(85) ? (i == 0 ? AIO_F_READABLE : AIO_F_WRITABLE)
                               : (int32_t)below(16);
    int32_t id = chance(90) ? aio_pipe_adopt(loop, ends[i], flags) : -1;
    held *h;
    if (id < 0) {
      /* A refused adopt leaves the handle the caller's (aio.h). */
      EXPECT(aio_os_close(ends[i], 1) == 0, "close an unadopted end", i, 0);
      continue;
    }
    h = add(id, K_PIPE_END);
    if (h) h->pipe_flags = flags;
    if (h && chance(70)) aio_read_start(loop, h->id);
  }
}

static void op_send(void) {
  held *h = pick();
  int32_t len, r;
  current_op = "send";
  if (!h) return;
  if (h->queued > QUEUE_CAP) return;
  len = chance(50) ? (int32_t)below(2048) : (int32_t)below(MAX_SEND);
  if (chance(3)) {
    r = aio_send(loop, h->id, NULL, chance(50) ? 0 : 16);
    EXPECT(r <= 0, "send of NULL", r, 0);
    return;
  }
  if (chance(3)) {
    r = aio_send(loop, h->id, payload, chance(50) ? -1 : INT32_MIN);
    EXPECT(r == -AIO_EINVAL, "negative length", r, 0);
    return;
  }
  r = aio_send(loop, h->id, payload, len);
  EXPECT(r <= len, "send returns at most len", r, len);
  if (r >= 0) {
    h->queued += (uint64_t)(len - r);
    st_sent += (uint64_t)len;
  }
}

static void op_read(void) {
  held *h = pick();
  current_op = "read";
  if (!h) return;
  switch (below(4)) {
    case 0: aio_read_start(loop, h->id); break;
    case 1: aio_read_stop(loop, h->id); break;
    case 2: {
      int32_t b = chance(50) ? absurd_int() : 1 + (int32_t)below(1 << 20);
      int32_t r = aio_read_budget(loop, h->id, b);
      EXPECT(r == 0 || r == -AIO_EINVAL, "read budget", b, r);
      EXPECT(r != 0 || (b >= 1 && b <= (1 << 20)), "budget range", b, r);
      break;
    }
    default: aio_shutdown(loop, h->id); break;
  }
}

static void op_close(void) {
  held *h = pick();
  int32_t mode, r;
  current_op = "close";
  if (!h) return;
  mode = chance(5) ? absurd_int() : (int32_t)below(4);
  r = aio_close(loop, h->id, mode);
  if (mode < 0 || mode > AIO_CLOSE_EAGER) {
    EXPECT(r == -AIO_EINVAL, "close mode", mode, r);
    return;
  }
  /* Only an eager close may finish within the call (1: no CLOSED). */
  EXPECT(r == 0 || (r == 1 && mode == AIO_CLOSE_EAGER), "close of a held id", mode, r);
  if (r < 0) return;
  /* A listener's graceful close is immediate; a stream's reports CLOSED
   * unless an eager one finished at once. */
  if ((mode == AIO_CLOSE_GRACEFUL || (mode == AIO_CLOSE_EAGER && r == 0)) &&
      (h->kind == K_TCP || h->kind == K_UNIX || h->kind == K_PIPE_END))
    h->closing = 1;
  else
    forget(h);
}

static void op_misc(void) {
  held *h = pick();
  aio_addr a, out[4];
  int32_t err[2], r;
  char name[32];
  int32_t v[16];
  current_op = "misc";
  switch (below(8)) {
    case 0:
      if (!h) return;
      r = aio_address(loop, h->id, chance(10) ? absurd_int() : (int32_t)below(2),
                      chance(5) ? NULL : &a);
      EXPECT(r <= 0, "address", r, 0);
      break;
    case 1:
      if (!h) return;
      switch (below(5)) {
        case 0: aio_tcp_nodelay(loop, h->id, (int32_t)below(3)); break;
        case 1:
          aio_tcp_keepalive(loop, h->id, (int32_t)below(3),
                            chance(20) ? absurd_int() : (int32_t)below(100000),
                            chance(20) ? absurd_int() : (int32_t)below(100000),
                            chance(20) ? absurd_int() : (int32_t)below(10));
          break;
        case 2:
          aio_tcp_buffer_size(loop, h->id,
                              chance(10) ? absurd_int() : (int32_t)below(2),
                              chance(20) ? absurd_int()
                                         : (int32_t)below(1 << 20));
          break;
        case 3: {
          uint8_t v[16];
          int32_t cap = chance(20) ? absurd_int() : (int32_t)below(17);
          r = aio_sockopt_get(loop, h->id, chance(80) ? 1 : 6,
                              (int32_t)below(40), chance(5) ? NULL : v,
                              cap > 16 ? 16 : cap);
          EXPECT(r <= 16, "sockopt_get length", r, 0);
          break;
        }
        default: {
          /* Only options that cannot block a close or a call: buffers,
           * keepalive, TCP_NODELAY; and the timeouts, which are refused. */
          static const int32_t names[] = {7, 8, 9, 20, 21};
          int32_t val = (int32_t)below(1 << 16), name;
          int use_tcp = chance(20);
          name = use_tcp ? 1 : names[below(5)];
          r = aio_sockopt_set(loop, h->id, use_tcp ? 6 : 1, name,
                              chance(5) ? NULL : (const uint8_t *)&val,
                              chance(10) ? absurd_int() : 4);
          if (!use_tcp && (name == 20 || name == 21))
            EXPECT(r < 0, "a blocking option is refused", name, r);
          break;
        }
      }
      break;
    case 2: {
      static const char *hosts[] = {"127.0.0.1", "::1", "localhost", "",
                                    "0.0.0.0", "::ffff:127.0.0.1"};
      r = aio_resolve(chance(5) ? NULL : hosts[below(6)],
                      chance(10) ? absurd_int() : (int32_t)(below(3) == 0 ? 0 : 4 + 2 * (int32_t)below(2)),
                      chance(5) ? NULL : out,
                      chance(10) ? absurd_int() : 1 + (int32_t)below(4),
                      chance(20) ? NULL : err);
      EXPECT(r <= 4, "resolve count", r, 0);
      break;
    }
    case 3:
      r = aio_error_name(chance(50) ? absurd_int() : (int32_t)rnd(),
                         chance(5) ? NULL : name,
                         chance(10) ? absurd_int() : (int32_t)sizeof name);
      EXPECT(r < (int32_t)sizeof name, "error name length", r, 0);
      break;
    case 4:
      r = aio_layout(chance(5) ? NULL : v, chance(20) ? absurd_int() : 16);
      EXPECT(r <= 16, "layout count", r, 0);
      break;
    case 5: {
      /* Forged OS handles: never an fd this process may have open. */
      static const uint64_t forged[] = {0xffffffffffffffffull, 1ull << 40,
                                        0x80000000ull, 1u << 20, 999999};
      uint64_t os = forged[below(5)];
      switch (below(3)) {
        case 0: r = aio_tcp_adopt(loop, os, (int32_t)below(16)); break;
        case 1: r = aio_pipe_adopt(loop, os, (int32_t)below(16)); break;
        default: r = aio_tcp_adopt_listener(loop, os, 1 + (int32_t)below(4));
      }
      EXPECT(r < 0, "adopt of a forged handle", (long long)os, r);
      r = aio_os_close(os, chance(10) ? absurd_int() : (int32_t)below(2));
      EXPECT(r < 0, "close of a forged handle", (long long)os, r);
      break;
    }
    case 6:
      /* Calls without a loop, where aio.h allows a NULL. */
      EXPECT(aio_tcp_listen(NULL, &a, 1, 0, 1) == -AIO_EINVAL, "null loop",
             0, 0);
      EXPECT(aio_close(NULL, h ? h->id : 1, 0) == -AIO_EBADID, "null loop id",
             0, 0);
      EXPECT(aio_pipe_pair(NULL, err) == -AIO_EINVAL, "null pair", 0, 0);
      EXPECT(aio_pipe_connect(loop, NULL) == -AIO_EINVAL, "null path", 0, 0);
      break;
    default:
      aio_loop_os_error(loop);
      aio_loop_wake(loop);
      break;
  }
}

static void on_record(const aio_record *r) {
  held *h = find(r->id);
  int i, dead_in_batch = 0;
  uint64_t os = (uint64_t)r->handle_lo | ((uint64_t)r->handle_hi << 32);
  current_op = "record";
  EXPECT(r->kind >= AIO_REC_DATA && r->kind <= AIO_REC_ACCEPT_ERROR,
         "record kind", r->kind, r->id);
  if (r->kind == AIO_REC_DATA)
    EXPECT((uint64_t)r->offset + r->length <=
               (uint64_t)aio_loop_arena_size(loop),
           "data inside the arena", r->offset, r->length);
  if (!h) {
    for (i = 0; i < nbatch_dead; i++) dead_in_batch |= batch_dead[i] == r->id;
    EXPECT(dead_in_batch, "record for an id not held", r->id, r->kind);
    if (r->kind == AIO_REC_ACCEPTED)
      aio_os_close(os, 0); /* nobody owns it now: no fd may leak */
    return;
  }
  switch (r->kind) {
    case AIO_REC_WRITTEN:
      EXPECT(r->length <= h->queued, "written <= queued", r->length, h->queued);
      h->queued -= r->length <= h->queued ? r->length : h->queued;
      break;
    case AIO_REC_ACCEPTED: {
      int32_t id;
      int k = h->kind == K_PIPE_LISTENER ? K_UNIX : K_TCP;
      if (chance(15)) {
        EXPECT(aio_os_close(os, 0) == 0, "close an accepted handle", 0, 0);
        break;
      }
      id = k == K_TCP ? aio_tcp_adopt(loop, os, (int32_t)below(4))
                      : aio_pipe_adopt(loop, os,
                                       AIO_F_READABLE | AIO_F_WRITABLE);
      if (id < 0) {
        EXPECT(aio_os_close(os, 0) == 0, "close a refused accept", id, 0);
        break;
      }
      /* A second adopt of a handle the loop owns is refused. */
      EXPECT((k == K_TCP ? aio_tcp_adopt(loop, os, 0)
                         : aio_pipe_adopt(loop, os, AIO_F_READABLE)) ==
                 -AIO_EEXIST,
             "second adopt", id, 0);
      h = add(id, k);
      if (h && chance(80)) aio_read_start(loop, h->id);
      break;
    }
    case AIO_REC_CLOSED:
      EXPECT(h->closing, "CLOSED after a graceful close", r->id, 0);
      forget(h);
      break;
    case AIO_REC_ERROR:
    case AIO_REC_CONNECTED:
      if ((r->kind == AIO_REC_ERROR || r->status < 0) && chance(70)) {
        int32_t mode = (int32_t)below(4);
        int32_t rc = aio_close(loop, h->id, mode);
        if (rc == 0 && (mode == AIO_CLOSE_GRACEFUL || mode == AIO_CLOSE_EAGER))
          h->closing = 1;
        else if (rc >= 0)
          forget(h);
      }
      break;
    default: break;
  }
}

static void dispatch_all(void) {
  int guard = 0;
  current_op = "dispatch";
  nbatch_dead = 0;
  while (aio_loop_pending(loop) && guard++ < 64) {
    int32_t n = aio_loop_dispatch(loop), i;
    aio_record *recs = aio_loop_records(loop);
    EXPECT(n >= 0 && n <= aio_loop_record_capacity(loop), "record count", n,
           0);
    st_records += (uint64_t)(n > 0 ? n : 0);
    for (i = 0; i < n; i++) on_record(&recs[i]);
  }
  nbatch_dead = 0;
}

static void op_poll(void) {
  current_op = "poll";
  switch (below(4)) {
    case 0: aio_loop_wait(loop, 0); break;
    case 1: aio_loop_spin(loop, (int32_t)below(50), (int32_t)below(50)); break;
    case 2: aio_loop_wait(loop, chance(50) ? 1 : 0); break;
    default: aio_loop_wait(loop, 0); break;
  }
  dispatch_all();
}

static void check_count(void) {
  int32_t c = aio_loop_handle_count(loop);
  EXPECT(c == nh, "handle count == ids held", c, nh);
}

/* Closes everything the way a host ends: aborts, graceful closes that
 * must finish, and drains what is left. */
static void close_all(void) {
  int i, turns;
  current_op = "close all";
  for (i = nh - 1; i >= 0; i--) {
    if (hs[i].closing) continue;
    if (chance(50) && (hs[i].kind == K_TCP || hs[i].kind == K_UNIX ||
                       hs[i].kind == K_PIPE_END)) {
      if (aio_close(loop, hs[i].id, AIO_CLOSE_GRACEFUL) == 0) hs[i].closing = 1;
    } else {
      EXPECT(aio_close(loop, hs[i].id, chance(50) ? AIO_CLOSE_NOW
                                                  : AIO_CLOSE_ABORT) == 0,
             "close at the end", hs[i].id, 0);
      forget(&hs[i]);
    }
  }
  /* Graceful closes to a peer that never reads may not finish: give them
   * a bounded while, then cut them short. */
  for (turns = 0; turns < 200 && nh > 0; turns++) {
    aio_loop_wait(loop, 1);
    dispatch_all();
    /* Records may have added accepted handles: close them at once. */
    for (i = nh - 1; i >= 0; i--)
      if (!hs[i].closing) {
        aio_close(loop, hs[i].id, AIO_CLOSE_NOW);
        forget(&hs[i]);
      }
  }
  for (i = nh - 1; i >= 0; i--) {
    EXPECT(aio_close(loop, hs[i].id, AIO_CLOSE_ABORT) == 0, "abort at the end",
           hs[i].id, 0);
    forget(&hs[i]);
  }
  aio_loop_wait(loop, 0);
  dispatch_all();
  check_count();
}

static void run_seed(uint64_t seed, uint64_t n) {
  int32_t err[2];
  uint64_t i;
  int fds0 = count_fds(), fds1;
  rng = seed;
  nh = nstale = 0;
  loop = aio_loop_new(err);
  if (!loop) {
    violation("aio_loop_new", err[0], err[1]);
    return;
  }
  for (i = 0; i < n; i++) {
    uint32_t w = below(100);
    ops++;
    if (w < 4) op_listen_tcp();
    else if (w < 6) op_listen_pipe();
    else if (w < 14) op_connect();
    else if (w < 17) op_pipe_pair();
    else if (w < 40) op_send();
    else if (w < 52) op_read();
    else if (w < 58) op_close();
    else if (w < 66) op_misc();
    else if (w < 80) op_bad_id();
    else op_poll();
    check_count();
    /* Too many held: close some, so the sequence keeps changing. */
    if (nh > MAX_HANDLES - 8) op_close();
  }
  close_all();
  aio_loop_free(loop);
  loop = NULL;
  fds1 = count_fds();
  EXPECT(fds1 == fds0, "no fd left open", fds0, fds1);
}

int main(int argc, char **argv) {
  uint64_t total = 1000000, seeds = 10, seed0 = 1, s;
  int i;
  for (i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--ops")) total = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--seeds")) seeds = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--seed0")) seed0 = strtoull(argv[i + 1], NULL, 10);
  }
  if (seeds == 0) seeds = 1;
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* The host's duty for pipes (aio.h); sockets need nothing. */
  signal(SIGPIPE, SIG_IGN);
  snprintf(pipe_dir, sizeof pipe_dir, "/tmp/aio-fuzz-%ld", (long)getpid());
  {
    if (mkdir(pipe_dir, 0700) != 0) {
      printf("fuzz: cannot make %s\n", pipe_dir);
      return 2;
    }
  }
  for (i = 0; i < 256; i++) payload[i] = (uint8_t)i;
  for (s = 0; s < seeds; s++) {
    uint64_t n = total / seeds + (s < total % seeds ? 1 : 0);
    run_seed(seed0 + s, n);
    printf("fuzz: seed %llu: %llu operations (%llu ids, %llu records, %llu "
           "MiB sent, %llu bad ids), %llu violations\n",
           (unsigned long long)(seed0 + s), (unsigned long long)n,
           (unsigned long long)st_ids, (unsigned long long)st_records,
           (unsigned long long)(st_sent >> 20), (unsigned long long)st_bad,
           (unsigned long long)violations);
    st_ids = st_records = st_sent = st_bad = 0;
  }
  {
    char path[128];
    for (i = 0; i < 8; i++) {
      snprintf(path, sizeof path, "%s/l%d.sock", pipe_dir, i);
      unlink(path);
    }
    rmdir(pipe_dir);
  }
  /* tools/fuzz.ts adds the sanitizer count to this line's numbers. */
  printf("fuzz-run: %llu operations, %llu seeds, %llu violations\n",
         (unsigned long long)ops, (unsigned long long)seeds,
         (unsigned long long)violations);
  return violations ? 1 : 0;
}

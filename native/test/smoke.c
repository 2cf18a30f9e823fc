/*
 * smoke.c - an end-to-end check of the native library through its public
 * ABI only (aio.h), the same source on both backends (epoll and IOCP).
 *
 *   Linux:   gcc -std=c11 -O2 -o smoke native/test/smoke.c libaio.so
 *              -pthread -Wl,-rpath,'$ORIGIN'
 *   Windows: x86_64-w64-mingw32-gcc -std=c11 -O2 -static-libgcc
 *              -o smoke.exe native/test/smoke.c aio.dll   (run beside aio.dll)
 *
 * It drives a loop the way the JS side does (wait with a timeout, then
 * dispatch while work is pending), all on loopback, every phase bounded
 * in time. Prints "smoke: N passed, N failed" and exits non-zero on
 * failure. The only OS-specific parts are the clock, sleeping, a thread
 * for the wake-up check and the pipe names.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/aio.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#endif

/* --- platform bits (test only) ------------------------------------------ */

#if defined(_WIN32)
static double now_ms(void) { return (double)GetTickCount64(); }
static void sleep_ms(int ms) { Sleep((DWORD)ms); }
static unsigned long self_pid(void) { return GetCurrentProcessId(); }
#else
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
static void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}
static unsigned long self_pid(void) { return (unsigned long)getpid(); }
#endif

/* A loopback port that refuses every connect for as long as it is held: a
 * socket bound to it that never listens. (A port freed by closing a
 * listener is not that: another socket may take it, a connect may connect
 * to itself, and a listener's close may take effect late.) Returns the
 * port; *held is what to pass to release_port. */
#if defined(_WIN32)
typedef SOCKET held_port;
static void release_port(held_port s) { closesocket(s); }
#else
typedef int held_port;
static void release_port(held_port s) { close(s); }
#endif
static uint16_t hold_refusing_port(held_port *held) {
  struct sockaddr_in sin;
  socklen_t len = (socklen_t)sizeof sin;
  held_port s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *held = s;
  if (bind(s, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      getsockname(s, (struct sockaddr *)&sin, &len) != 0)
    return 0;
  return ntohs(sin.sin_port);
}

/* --- checks ------------------------------------------------------------- */

static int passed, failed;

static void check(int ok, int line, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL line %d: %s\n", line, what);
    fflush(stdout);
  }
}
#define CHECK(cond) check((cond) ? 1 : 0, __LINE__, #cond)
#define CHECK_EQ(a, b)                                                     \
  do {                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                    \
    if (a_ != b_) printf("  %s = %lld, %s = %lld\n", #a, a_, #b, b_);      \
    check(a_ == b_, __LINE__, #a " == " #b);                               \
  } while (0)

/* --- peers: what the records told us about each id ------------------------ */

#define MAX_PEERS 80
#define MAX_ACCEPTED 64
#define HIGH_WATER (512 * 1024)
#define CHUNK_MAX (100 * 1024)

typedef struct peer {
  aio_id id;
  int used;
  /* records seen */
  int connected;
  int connected_at_close; /* CONNECTED records seen when CLOSED came */
  int32_t connect_status;
  int end, shut, closed, error, accept_error;
  int32_t shut_status, closed_status, error_status, error_os;
  uint64_t accepted[MAX_ACCEPTED];
  int accepted_count;
  /* receiving */
  uint32_t rx_seed;
  uint64_t rx, rx_bad, data_records, rx_target;
  int paused;
  uint64_t data_while_paused;
  int echo;
  /* sending */
  uint32_t tx_seed;
  uint64_t tx_total, tx_sent, tx_direct, tx_written, tx_queued;
  int tx_failed;
} peer;

static aio_loop *loop;
static peer peers[MAX_PEERS];
static uint8_t chunk[CHUNK_MAX];
static uint64_t unknown_records;
static int arena_bad;

static uint8_t pattern(uint32_t seed, uint64_t i) {
  uint64_t x = i + (uint64_t)seed * 0x9e3779b9u;
  return (uint8_t)(x ^ (x >> 7) ^ (x >> 15) ^ (x >> 23));
}

static peer *peer_add(aio_id id) {
  int i;
  for (i = 0; i < MAX_PEERS; i++) {
    if (!peers[i].used) {
      memset(&peers[i], 0, sizeof peers[i]);
      peers[i].used = 1;
      peers[i].id = id;
      return &peers[i];
    }
  }
  printf("out of peers\n");
  exit(2);
}

static void peer_drop(peer *p) { p->used = 0; }

static peer *peer_find(aio_id id) {
  int i;
  for (i = 0; i < MAX_PEERS; i++)
    if (peers[i].used && peers[i].id == id) return &peers[i];
  return NULL;
}

static void peer_send_queued(peer *p, const uint8_t *data, uint32_t len) {
  int32_t n = aio_send(loop, p->id, data, (int32_t)len);
  if (n < 0) {
    p->tx_failed++;
    printf("  aio_send(%u) = %d\n", (unsigned)p->id, (int)n);
    return;
  }
  p->tx_direct += (uint64_t)n;
  p->tx_queued += len - (uint32_t)n;
}

/* Keeps every sending peer's queue near HIGH_WATER, in varied chunks. */
static void pump(void) {
  int i;
  for (i = 0; i < MAX_PEERS; i++) {
    peer *p = &peers[i];
    while (p->used && !p->tx_failed && p->tx_sent < p->tx_total &&
           p->tx_queued < HIGH_WATER) {
      uint64_t left = p->tx_total - p->tx_sent;
      uint32_t len = 1 + (uint32_t)((p->tx_sent * 7919u) % CHUNK_MAX);
      uint32_t k;
      if (len > left) len = (uint32_t)left;
      for (k = 0; k < len; k++) chunk[k] = pattern(p->tx_seed, p->tx_sent + k);
      peer_send_queued(p, chunk, len);
      p->tx_sent += len;
    }
  }
}

static void on_record(const aio_record *r, const uint8_t *arena) {
  peer *p = peer_find(r->id);
  if (!p) {
    unknown_records++;
    printf("  record kind %d for unknown id %u\n", (int)r->kind,
           (unsigned)r->id);
    return;
  }
  switch (r->kind) {
    case AIO_REC_DATA: {
      const uint8_t *d = arena + r->offset;
      uint32_t k;
      if ((uint64_t)r->offset + r->length > (uint64_t)aio_loop_arena_size(loop))
        arena_bad++;
      p->data_records++;
      if (p->paused) p->data_while_paused++;
      for (k = 0; k < r->length; k++)
        if (d[k] != pattern(p->rx_seed, p->rx + k)) p->rx_bad++;
      p->rx += r->length;
      if (p->echo) peer_send_queued(p, d, r->length);
      break;
    }
    case AIO_REC_END: p->end++; break;
    case AIO_REC_WRITTEN:
      p->tx_written += r->length;
      if (r->length > p->tx_queued) {
        printf("  WRITTEN %u > queued %llu\n", (unsigned)r->length,
               (unsigned long long)p->tx_queued);
        p->tx_failed++;
      } else {
        p->tx_queued -= r->length;
      }
      break;
    case AIO_REC_CONNECTED:
      p->connected++;
      p->connect_status = r->status;
      break;
    case AIO_REC_ACCEPTED:
      if (p->accepted_count < MAX_ACCEPTED)
        p->accepted[p->accepted_count++] =
            (uint64_t)r->handle_lo | ((uint64_t)r->handle_hi << 32);
      break;
    case AIO_REC_CLOSED:
      p->closed++;
      p->connected_at_close = p->connected;
      p->closed_status = r->status;
      break;
    case AIO_REC_ERROR:
      p->error++;
      p->error_status = r->status;
      p->error_os = r->os_error;
      break;
    case AIO_REC_SHUTDOWN:
      p->shut++;
      p->shut_status = r->status;
      break;
    case AIO_REC_ACCEPT_ERROR:
      p->accept_error++;
      p->error_status = r->status;
      break;
    default:
      unknown_records++;
      break;
  }
}

static int wait_failed;

/* One round: wait (not at all when work is pending), then dispatch until
 * nothing is pending, handing every record to on_record. */
static void round_once(int timeout_ms) {
  int32_t w = aio_loop_wait(loop, aio_loop_pending(loop) ? 0 : timeout_ms);
  int guard = 0;
  if (w < 0) {
    wait_failed++;
    printf("  aio_loop_wait = %d\n", (int)w);
    return;
  }
  do {
    int32_t n = aio_loop_dispatch(loop), i;
    aio_record *recs = aio_loop_records(loop);
    const uint8_t *arena = aio_loop_arena(loop);
    for (i = 0; i < n; i++) on_record(&recs[i], arena);
    pump();
  } while (aio_loop_pending(loop) && ++guard < 64);
}

typedef int (*cond_fn)(void *);

/* Drives the loop until cond holds or ms pass; returns whether it held. */
static int drive(cond_fn cond, void *ctx, int ms) {
  double end = now_ms() + ms;
  pump();
  while (!cond(ctx)) {
    if (now_ms() > end) return 0;
    round_once(20);
  }
  return 1;
}

static void drive_for(int ms) {
  double end = now_ms() + ms;
  while (now_ms() < end) round_once(10);
}

static int c_connected(void *p) { return ((peer *)p)->connected > 0; }
static int c_accepted(void *p) { return ((peer *)p)->accepted_count > 0; }
static int c_end(void *p) { return ((peer *)p)->end > 0; }
static int c_closed(void *p) { return ((peer *)p)->closed > 0; }
static int c_shut(void *p) { return ((peer *)p)->shut > 0; }
static int c_end_or_error(void *p) {
  return ((peer *)p)->end > 0 || ((peer *)p)->error > 0;
}

typedef struct two {
  peer *a, *b;
} two;

static int c_transfer_done(void *ctx) {
  two *t = ctx;
  return t->a->rx >= t->b->tx_total && t->b->rx >= t->a->tx_total &&
         t->a->tx_sent == t->a->tx_total && t->b->tx_sent == t->b->tx_total &&
         t->a->tx_queued == 0 && t->b->tx_queued == 0;
}

static int c_rx_target(void *p) {
  return ((peer *)p)->rx >= ((peer *)p)->rx_target;
}

/* --- helpers ------------------------------------------------------------ */

static aio_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
                      uint16_t port) {
  aio_addr x;
  memset(&x, 0, sizeof x);
  x.family = 4;
  x.port = port;
  x.bytes[0] = a;
  x.bytes[1] = b;
  x.bytes[2] = c;
  x.bytes[3] = d;
  return x;
}

/* Connects to port on 127.0.0.1 through listener lp; adopts the accepted
 * socket. Returns 1 with *client and *server set. */
static int tcp_pair(peer *lp, uint16_t port, peer **client, peer **server) {
  aio_addr to = addr4(127, 0, 0, 1, port);
  int32_t cid = aio_tcp_connect(loop, &to, AIO_F_NODELAY), sid;
  peer *c, *s;
  uint64_t os;
  CHECK(cid > 0);
  if (cid <= 0) return 0;
  c = peer_add((aio_id)cid);
  lp->accepted_count = 0;
  CHECK(drive(c_connected, c, 5000));
  CHECK_EQ(c->connect_status, 0);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count == 0) return 0;
  os = lp->accepted[0];
  lp->accepted_count = 0;
  sid = aio_tcp_adopt(loop, os, 0);
  CHECK(sid > 0);
  if (sid <= 0) {
    aio_os_close(os, 0);
    return 0;
  }
  /* A second adopt is refused and leaves the socket to its first owner,
   * which every transfer through this pair then uses. */
  CHECK_EQ(aio_tcp_adopt(loop, os, 0), -AIO_EEXIST);
  s = peer_add((aio_id)sid);
  *client = c;
  *server = s;
  return 1;
}

/* --- the phases ------------------------------------------------------------ */

static void test_layout(void) {
  int32_t v[32];
  char name[32];
  CHECK_EQ(aio_abi_version(), AIO_ABI_VERSION);
#if defined(_WIN32)
  CHECK_EQ(aio_backend(), AIO_BACKEND_IOCP);
#else
  CHECK_EQ(aio_backend(), AIO_BACKEND_EPOLL);
#endif
  CHECK_EQ(aio_layout(v, 32), 14);
  CHECK_EQ(v[0], sizeof(aio_record));
  CHECK_EQ(v[0], 32);
  CHECK_EQ(v[1], offsetof(aio_record, id));
  CHECK_EQ(v[2], offsetof(aio_record, kind));
  CHECK_EQ(v[3], offsetof(aio_record, status));
  CHECK_EQ(v[4], offsetof(aio_record, os_error));
  CHECK_EQ(v[5], offsetof(aio_record, offset));
  CHECK_EQ(v[6], offsetof(aio_record, length));
  CHECK_EQ(v[7], offsetof(aio_record, handle_lo));
  CHECK_EQ(v[8], offsetof(aio_record, handle_hi));
  CHECK_EQ(v[9], sizeof(aio_addr));
  CHECK_EQ(v[9], 24);
  CHECK_EQ(v[10], offsetof(aio_addr, family));
  CHECK_EQ(v[11], offsetof(aio_addr, port));
  CHECK_EQ(v[12], offsetof(aio_addr, scope_id));
  CHECK_EQ(v[13], offsetof(aio_addr, bytes));
  CHECK_EQ(aio_layout(v, 3), -AIO_EINVAL);
  CHECK(aio_error_name(AIO_ECONNREFUSED, name, sizeof name) > 0 &&
        strcmp(name, "ECONNREFUSED") == 0);
  CHECK(aio_error_name(-AIO_EBADID, name, sizeof name) > 0 &&
        strcmp(name, "EBADID") == 0);
  CHECK(aio_error_name(AIO_EAFNOSUPPORT, name, sizeof name) > 0 &&
        strcmp(name, "EAFNOSUPPORT") == 0);
  CHECK_EQ(aio_error_name(AIO_ERROR_COUNT, name, sizeof name), -AIO_EINVAL);
  CHECK_EQ(aio_error_name(AIO_ECONNREFUSED, name, 4), -AIO_EINVAL);
}

#if defined(_WIN32)
static DWORD WINAPI waiter_main(LPVOID arg) {
  *(int32_t *)arg = aio_loop_wait(loop, -1);
  return 0;
}
#else
static void *waiter_main(void *arg) {
  *(int32_t *)arg = aio_loop_wait(loop, -1);
  return NULL;
}
#endif

static void test_wake(void) {
  int32_t result = -1000;
  double t0, t1;
  /* Nothing may be waiting in the loop, or the wait returns at once. */
  drive_for(50);
#if defined(_WIN32)
  HANDLE th = CreateThread(NULL, 0, waiter_main, &result, 0, NULL);
  CHECK(th != NULL);
  if (!th) return;
  sleep_ms(150);
  CHECK(WaitForSingleObject(th, 0) == WAIT_TIMEOUT); /* really parked */
  t0 = now_ms();
  CHECK_EQ(aio_loop_wake(loop), 0);
  CHECK(WaitForSingleObject(th, 5000) == WAIT_OBJECT_0);
  t1 = now_ms();
  CloseHandle(th);
#else
  pthread_t th;
  CHECK(pthread_create(&th, NULL, waiter_main, &result) == 0);
  sleep_ms(150);
  CHECK_EQ(result, -1000); /* really parked */
  t0 = now_ms();
  CHECK_EQ(aio_loop_wake(loop), 0);
  pthread_join(th, NULL);
  t1 = now_ms();
#endif
  CHECK(result >= 0);
  CHECK(t1 - t0 < 1000);
  printf("wake: parked wait returned %d after %.1f ms\n", (int)result, t1 - t0);
  round_once(0); /* the wake entry is dispatched like any other */

  /* The bounded busy-poll: nothing comes, so it reports 0 once its time
   * is up (not before); a pending wake-up is found at once. */
  CHECK_EQ(aio_loop_spin(loop, -1), -AIO_EINVAL);
  CHECK_EQ(aio_loop_spin(NULL, 10), -AIO_EINVAL);
  t0 = now_ms();
  CHECK_EQ(aio_loop_spin(loop, 20000), 0);
  t1 = now_ms();
  CHECK(t1 - t0 >= 15 && t1 - t0 < 1000);
  CHECK_EQ(aio_loop_wake(loop), 0);
  t0 = now_ms();
  CHECK(aio_loop_spin(loop, 1000000) > 0);
  CHECK(now_ms() - t0 < 500);
  round_once(0);
}

static void test_tcp(void) {
  aio_addr any = addr4(127, 0, 0, 1, 0), a, b;
  int32_t lid, r;
  peer *lp, *c, *s, *c2, *s2;
  uint16_t port;
  two t;
  double t0;

  lid = aio_tcp_listen(loop, &any, 64, 0, 4);
  CHECK(lid > 0);
  if (lid <= 0) return;
  lp = peer_add((aio_id)lid);
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &a), 0);
  CHECK_EQ(a.family, 4);
  CHECK(a.port != 0);
  CHECK(a.bytes[0] == 127 && a.bytes[3] == 1);
  port = a.port;
  printf("tcp: listening on 127.0.0.1:%u\n", (unsigned)port);

  /* A second listener on the same address and port is refused. */
  {
    aio_addr same = addr4(127, 0, 0, 1, port);
    r = aio_tcp_listen(loop, &same, 64, 0, 4);
    CHECK_EQ(r, -AIO_EADDRINUSE);
    CHECK(aio_loop_os_error(loop) != 0);
  }

  if (!tcp_pair(lp, port, &c, &s)) return;
  /* The peer of one side is the other side. */
  CHECK_EQ(aio_address(loop, c->id, 0, &a), 0);
  CHECK_EQ(aio_address(loop, s->id, 1, &b), 0);
  CHECK_EQ(a.port, b.port);
  CHECK_EQ(aio_address(loop, c->id, 1, &b), 0);
  CHECK_EQ(b.port, port);
  CHECK_EQ(aio_tcp_nodelay(loop, s->id, 1), 0);

  /* 8 MiB each way, verified byte by byte, with a pause in the middle. */
  c->tx_seed = 11;
  s->rx_seed = 11;
  s->tx_seed = 29;
  c->rx_seed = 29;
  c->tx_total = s->tx_total = 8u << 20;
  CHECK_EQ(aio_read_budget(loop, s->id, 16 * 1024), 0);
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  t0 = now_ms();
  {
    /* Run until the server has 2 MiB, pause it for 200 ms: no DATA may
     * come for it, and the sender's queue must stop moving. */
    s->rx_target = 2u << 20;
    CHECK(drive(c_rx_target, s, 30000));
    CHECK_EQ(aio_read_stop(loop, s->id), 0);
    s->paused = 1;
    drive_for(200);
    CHECK_EQ(s->data_while_paused, 0);
    s->paused = 0;
    CHECK_EQ(aio_read_start(loop, s->id), 0);
  }
  t.a = c;
  t.b = s;
  CHECK(drive(c_transfer_done, &t, 60000));
  printf("tcp: 2 x 8 MiB in %.0f ms (client: %llu direct + %llu WRITTEN; "
         "server: %llu direct + %llu WRITTEN; %llu/%llu DATA records)\n",
         now_ms() - t0, (unsigned long long)c->tx_direct,
         (unsigned long long)c->tx_written, (unsigned long long)s->tx_direct,
         (unsigned long long)s->tx_written,
         (unsigned long long)c->data_records,
         (unsigned long long)s->data_records);
  CHECK_EQ(c->rx, 8u << 20);
  CHECK_EQ(s->rx, 8u << 20);
  CHECK_EQ(c->rx_bad, 0);
  CHECK_EQ(s->rx_bad, 0);
  CHECK_EQ(c->tx_direct + c->tx_written, 8u << 20);
  CHECK_EQ(s->tx_direct + s->tx_written, 8u << 20);
  CHECK_EQ(c->tx_failed + s->tx_failed, 0);
  CHECK_EQ(arena_bad, 0);
  CHECK_EQ(c->error + s->error, 0);

  /* Half-close: the client's FIN reaches the server as END; the server
   * can still send, then closes gracefully. */
  CHECK_EQ(aio_shutdown(loop, c->id), 0);
  CHECK_EQ(aio_send(loop, c->id, (const uint8_t *)"x", 1), -AIO_ECLOSED);
  CHECK(drive(c_shut, c, 5000));
  CHECK_EQ(c->shut_status, 0);
  CHECK(drive(c_end, s, 5000));
  CHECK_EQ(s->end, 1);
  {
    uint8_t bye[3];
    bye[0] = pattern(29, c->rx);
    bye[1] = pattern(29, c->rx + 1);
    bye[2] = pattern(29, c->rx + 2);
    peer_send_queued(s, bye, 3);
    s->tx_total += 3;
    s->tx_sent += 3;
  }
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, s, 5000));
  CHECK_EQ(s->closed_status, 0);
  CHECK(drive(c_end, c, 5000));
  CHECK_EQ(c->rx, (8u << 20) + 3);
  CHECK_EQ(c->rx_bad, 0);
  /* The closed id is stale now. */
  CHECK_EQ(aio_send(loop, s->id, (const uint8_t *)"x", 1), -AIO_EBADID);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), -AIO_EBADID);
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, c, 5000));
  CHECK_EQ(c->closed_status, 0);
  CHECK_EQ(c->error + s->error, 0);
  peer_drop(c);
  peer_drop(s);
  CHECK_EQ(aio_loop_handle_count(loop), 1);

  /* Abort: the peer sees a reset (or, where the RST loses the race with
   * the data, an end). */
  if (tcp_pair(lp, port, &c2, &s2)) {
    static uint8_t some[4096];
    CHECK_EQ(aio_read_start(loop, c2->id), 0);
    CHECK_EQ(aio_read_start(loop, s2->id), 0);
    memset(some, 'a', sizeof some);
    s2->rx_seed = 0;
    CHECK(aio_send(loop, c2->id, some, sizeof some) >= 0);
    drive_for(50);
    CHECK_EQ(aio_close(loop, c2->id, AIO_CLOSE_ABORT), 0);
    CHECK_EQ(aio_send(loop, c2->id, some, 1), -AIO_EBADID);
    CHECK(drive(c_end_or_error, s2, 5000));
    if (s2->error) {
      char nm[32] = "?";
      aio_error_name(s2->error_status, nm, sizeof nm);
      printf("abort: peer got ERROR %s (os_error %d)\n", nm, (int)s2->error_os);
      CHECK_EQ(s2->error_status, -AIO_ECONNRESET);
    } else {
      printf("abort: peer got END, no reset\n");
    }
    CHECK_EQ(aio_close(loop, s2->id, AIO_CLOSE_NOW), 0);
    peer_drop(c2);
    peer_drop(s2);
  }

  /* A paused listener keeps connections waiting; resuming delivers them. */
  {
    aio_addr to = addr4(127, 0, 0, 1, port);
    int32_t cid;
    peer *c3;
    CHECK_EQ(aio_read_stop(loop, lp->id), 0);
    lp->accepted_count = 0;
    cid = aio_tcp_connect(loop, &to, 0);
    CHECK(cid > 0);
    c3 = peer_add((aio_id)cid);
    CHECK(drive(c_connected, c3, 5000));
    drive_for(100);
    CHECK_EQ(lp->accepted_count, 0);
    CHECK_EQ(aio_read_start(loop, lp->id), 0);
    CHECK(drive(c_accepted, lp, 5000));
    if (lp->accepted_count > 0) {
      CHECK_EQ(aio_os_close(lp->accepted[0], 0), 0);
      lp->accepted_count = 0;
    }
    CHECK_EQ(aio_close(loop, c3->id, AIO_CLOSE_NOW), 0);
    peer_drop(c3);
  }

  /* A refused connect. Closing the failed handle gracefully still ends in
   * CLOSED. */
  {
    held_port held;
    uint16_t port = hold_refusing_port(&held);
    aio_addr to = addr4(127, 0, 0, 1, port);
    int32_t cid;
    peer *c4;
    CHECK(port != 0);
    t0 = now_ms();
    cid = aio_tcp_connect(loop, &to, 0);
    if (cid < 0) {
      /* Refused at once is allowed too. */
      CHECK_EQ(cid, -AIO_ECONNREFUSED);
    } else {
      c4 = peer_add((aio_id)cid);
      CHECK(drive(c_connected, c4, 10000));
      CHECK_EQ(c4->connect_status, -AIO_ECONNREFUSED);
      printf("refused: CONNECTED %d after %.1f ms (os_error in record)\n",
             (int)c4->connect_status, now_ms() - t0);
      CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_GRACEFUL), 0);
      CHECK(drive(c_closed, c4, 2000));
      CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_NOW), -AIO_EBADID);
      peer_drop(c4);
    }
    /* The same, with the graceful close asked for while connecting: as
     * aio.h promises, the close waits for the outcome, so exactly one
     * CONNECTED (with the error) comes, and then CLOSED. */
    cid = aio_tcp_connect(loop, &to, 0);
    if (cid > 0) {
      c4 = peer_add((aio_id)cid);
      CHECK_EQ(aio_close(loop, c4->id, AIO_CLOSE_GRACEFUL), 0);
      CHECK(drive(c_closed, c4, 10000));
      CHECK_EQ(c4->connected_at_close, 1);
      CHECK_EQ(c4->connect_status, -AIO_ECONNREFUSED);
      peer_drop(c4);
    }
    release_port(held);
  }

  /* Forged ids. */
  CHECK_EQ(aio_close(loop, 0, AIO_CLOSE_NOW), -AIO_EBADID);
  CHECK_EQ(aio_read_start(loop, 0xffffffffu), -AIO_EBADID);
  CHECK_EQ(aio_send(loop, (0x7ffu << 20) | 999u, (const uint8_t *)"x", 1),
           -AIO_EBADID);
  CHECK_EQ(aio_shutdown(loop, lp->id + 1), -AIO_EBADID);
  CHECK_EQ(aio_send(loop, lp->id, (const uint8_t *)"x", 1), -AIO_EINVAL);

  test_wake();

  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), -AIO_EBADID);
  peer_drop(lp);
  drive_for(50);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

static void test_ipv6(void) {
  aio_addr any, a, to;
  int32_t lid, cid, sid;
  peer *lp, *c, *s;
  two t;
  memset(&any, 0, sizeof any);
  any.family = 6;
  any.bytes[15] = 1;
  lid = aio_tcp_listen(loop, &any, 8, AIO_F_V6ONLY, 2);
  if (lid < 0) {
    printf("ipv6: no ::1 here (%d), skipped\n", (int)lid);
    return;
  }
  lp = peer_add((aio_id)lid);
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &a), 0);
  CHECK_EQ(a.family, 6);
  to = any;
  to.port = a.port;
  cid = aio_tcp_connect(loop, &to, 0);
  CHECK(cid > 0);
  c = peer_add((aio_id)cid);
  CHECK(drive(c_connected, c, 5000));
  CHECK_EQ(c->connect_status, 0);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count == 0) return;
  sid = aio_tcp_adopt(loop, lp->accepted[0], AIO_F_NODELAY);
  CHECK(sid > 0);
  s = peer_add((aio_id)sid);
  CHECK_EQ(aio_address(loop, s->id, 1, &a), 0);
  CHECK_EQ(a.family, 6);
  CHECK_EQ(a.bytes[15], 1);
  c->tx_seed = s->rx_seed = 5;
  s->tx_seed = c->rx_seed = 6;
  c->tx_total = s->tx_total = 100000;
  aio_read_start(loop, c->id);
  aio_read_start(loop, s->id);
  t.a = c;
  t.b = s;
  CHECK(drive(c_transfer_done, &t, 10000));
  CHECK_EQ(c->rx_bad + s->rx_bad, 0);
  printf("ipv6: [::1]:%u ok\n", (unsigned)to.port);
  aio_close(loop, c->id, AIO_CLOSE_NOW);
  aio_close(loop, s->id, AIO_CLOSE_NOW);
  aio_close(loop, lp->id, AIO_CLOSE_NOW);
  peer_drop(c);
  peer_drop(s);
  peer_drop(lp);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

/* Many connections at once through a listener with few AcceptEx, then
 * every way of closing while data is still queued. */
#define MANY 32

typedef struct many {
  peer *c[MANY], *s[MANY];
  peer *lp;
} many;

static int c_many_connected(void *ctx) {
  many *m = ctx;
  int i, n = 0;
  for (i = 0; i < MANY; i++) n += m->c[i]->connected > 0;
  return n == MANY && m->lp->accepted_count >= MANY;
}

static int c_many_echoed(void *ctx) {
  many *m = ctx;
  int i;
  for (i = 0; i < MANY; i++)
    if (m->c[i]->rx < m->c[i]->rx_target) return 0;
  return 1;
}

static int c_many_closed(void *ctx) {
  many *m = ctx;
  int i;
  for (i = 0; i < MANY; i++) {
    peer *c = m->c[i], *s = m->s[i];
    if (i < 10 && (!c->closed || !s->end || s->rx < s->rx_target)) return 0;
    if (i >= 10 && !s->end && !s->error) return 0;
  }
  return 1;
}

static void test_many(void) {
  aio_addr any = addr4(127, 0, 0, 1, 0), to;
  many m;
  int32_t lid;
  int i, resets = 0, ends = 0;
  uint64_t bad = 0, closed_ok = 0;
  double t0 = now_ms();
  static uint8_t big[1 << 20];
  lid = aio_tcp_listen(loop, &any, 128, 0, 4);
  CHECK(lid > 0);
  if (lid <= 0) return;
  m.lp = peer_add((aio_id)lid);
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &to), 0);
  to = addr4(127, 0, 0, 1, to.port);
  for (i = 0; i < MANY; i++) {
    int32_t cid = aio_tcp_connect(loop, &to, AIO_F_NODELAY);
    CHECK(cid > 0);
    if (cid <= 0) return;
    m.c[i] = peer_add((aio_id)cid);
  }
  CHECK(drive(c_many_connected, &m, 10000));
  CHECK_EQ(m.lp->accepted_count, MANY);
  if (m.lp->accepted_count < MANY) return;
  for (i = 0; i < MANY; i++) {
    int32_t sid = aio_tcp_adopt(loop, m.lp->accepted[i], 0);
    CHECK(sid > 0);
    if (sid <= 0) return;
    m.s[i] = peer_add((aio_id)sid);
  }
  m.lp->accepted_count = 0;
  /* Accepted sockets come in no particular order: each client learns
   * which server is its peer from the echo, so all use one seed. */
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    c->tx_seed = c->rx_seed = s->rx_seed = 3;
    c->tx_total = c->rx_target = 128 * 1024;
    s->echo = 1;
    CHECK_EQ(aio_read_start(loop, c->id), 0);
    CHECK_EQ(aio_read_start(loop, s->id), 0);
  }
  CHECK(drive(c_many_echoed, &m, 20000));
  for (i = 0; i < MANY; i++) bad += m.c[i]->rx_bad + m.s[i]->rx_bad;
  CHECK_EQ(bad, 0);
  /* Pair each client with its server by the ports. */
  {
    peer *sorted[MANY];
    for (i = 0; i < MANY; i++) {
      aio_addr cl, pr;
      int k;
      sorted[i] = NULL;
      CHECK_EQ(aio_address(loop, m.c[i]->id, 0, &cl), 0);
      for (k = 0; k < MANY; k++) {
        if (aio_address(loop, m.s[k]->id, 1, &pr) == 0 && pr.port == cl.port)
          sorted[i] = m.s[k];
      }
      CHECK(sorted[i] != NULL);
      if (!sorted[i]) return;
    }
    for (i = 0; i < MANY; i++) m.s[i] = sorted[i];
  }
  /* Closing with 1 MiB queued: 0-9 gracefully (all of it arrives, then
   * END), 10-19 abort, 20-31 now (the server sees END or a reset). */
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    uint32_t k;
    uint64_t base = c->tx_sent;
    s->echo = 0;
    for (k = 0; k < sizeof big; k++) big[k] = pattern(3, base + k);
    peer_send_queued(c, big, sizeof big);
    c->tx_sent += sizeof big;
    c->tx_total = c->tx_sent;
    s->rx_target = c->tx_sent;
    CHECK_EQ(aio_close(loop, c->id,
                       i < 10   ? AIO_CLOSE_GRACEFUL
                       : i < 20 ? AIO_CLOSE_ABORT
                                : AIO_CLOSE_NOW),
             0);
  }
  CHECK(drive(c_many_closed, &m, 30000));
  for (i = 0; i < MANY; i++) {
    peer *c = m.c[i], *s = m.s[i];
    bad += s->rx_bad;
    if (i < 10) {
      int ok = c->closed == 1 && c->closed_status == 0 &&
               s->rx == s->rx_target && s->end == 1;
      if (!ok)
        printf("  pair %d: client closed %d/%d err %d/%d queued %llu; server "
               "rx %llu of %llu end %d err %d/%d\n",
               i, c->closed, (int)c->closed_status, c->error,
               (int)c->error_status, (unsigned long long)c->tx_queued,
               (unsigned long long)s->rx, (unsigned long long)s->rx_target,
               s->end, s->error, (int)s->error_status);
      closed_ok += ok;
    } else {
      resets += s->error > 0;
      ends += s->end > 0;
      if (s->error) CHECK_EQ(s->error_status, -AIO_ECONNRESET);
    }
    CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), 0);
    peer_drop(c);
    peer_drop(s);
  }
  CHECK_EQ(bad, 0);
  CHECK_EQ(closed_ok, 10);
  printf("many: %d connections, 128 KiB echoed each, closes with 1 MiB queued: "
         "10 graceful ok, abort/now -> %d resets + %d ends, %.0f ms\n",
         MANY, resets, ends, now_ms() - t0);
  /* The listener goes with its AcceptEx still in flight. */
  CHECK_EQ(aio_close(loop, m.lp->id, AIO_CLOSE_NOW), 0);
  peer_drop(m.lp);
  drive_for(50);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

/* A loop freed with everything still open and busy must not crash: its
 * handles are closed and their operations drained. */
static void test_free_busy(void) {
  aio_loop *keep = loop;
  aio_addr any = addr4(127, 0, 0, 1, 0), to;
  int32_t err[2], lid, cid, sid;
  peer *lp, *c, *s;
  static uint8_t big[1 << 20];
  loop = aio_loop_new(err);
  CHECK(loop != NULL);
  if (!loop) {
    loop = keep;
    return;
  }
  lid = aio_tcp_listen(loop, &any, 8, 0, 8);
  CHECK(lid > 0);
  lp = peer_add((aio_id)lid);
  aio_address(loop, (aio_id)lid, 0, &to);
  to = addr4(127, 0, 0, 1, to.port);
  cid = aio_tcp_connect(loop, &to, 0);
  c = peer_add((aio_id)cid);
  CHECK(drive(c_connected, c, 5000));
  CHECK(drive(c_accepted, lp, 5000));
  sid = lp->accepted_count ? aio_tcp_adopt(loop, lp->accepted[0], 0) : -1;
  CHECK(sid > 0);
  s = peer_add((aio_id)sid);
  aio_read_start(loop, c->id);
  memset(big, 7, sizeof big);
  for (int i = 0; i < 8; i++) CHECK(aio_send(loop, c->id, big, sizeof big) >= 0);
  /* A connect in flight too. */
  CHECK(aio_tcp_connect(loop, &to, 0) > 0);
  aio_loop_free(loop);
  peer_drop(lp);
  peer_drop(c);
  peer_drop(s);
  loop = keep;
  printf("free: a busy loop freed\n");
}

static void test_resolve(void) {
  aio_addr out[8];
  int32_t err[2] = {-1, -1};
  int32_t n = aio_resolve("127.0.0.1", 4, out, 8, err);
  CHECK_EQ(n, 1);
  CHECK(n == 1 && out[0].family == 4 && out[0].bytes[0] == 127 &&
        out[0].bytes[3] == 1);
  CHECK_EQ(err[0], 0);
  n = aio_resolve("localhost", 0, out, 8, err);
  CHECK(n >= 1);
  printf("resolve: localhost -> %d address(es)%s\n", (int)n,
         n < 0 ? " (needs a hosts file)" : "");
  n = aio_resolve("no-such-host.invalid", 0, out, 8, err);
  CHECK_EQ(n, -AIO_ENOTFOUND);
  CHECK_EQ(err[0], AIO_ENOTFOUND);
}

static void test_pipe_pair(void) {
  uint64_t ends[2];
  int32_t err[2];
  int32_t rid, wid;
  peer *rp, *wp;
  double t0 = now_ms();
  CHECK_EQ(aio_pipe_pair(ends, err), 0);
  rid = aio_pipe_adopt(loop, ends[0], AIO_F_READABLE);
  wid = aio_pipe_adopt(loop, ends[1], AIO_F_WRITABLE);
  CHECK(rid > 0);
  CHECK(wid > 0);
  if (rid <= 0 || wid <= 0) return;
  rp = peer_add((aio_id)rid);
  wp = peer_add((aio_id)wid);
  /* A second adopt is refused; the first owner keeps the end. */
  CHECK_EQ(aio_pipe_adopt(loop, ends[0], AIO_F_READABLE), -AIO_EEXIST);
  CHECK_EQ(aio_loop_handle_count(loop), 2);
  /* Wrong directions are refused. */
  CHECK_EQ(aio_read_start(loop, wp->id), -AIO_EINVAL);
  CHECK_EQ(aio_send(loop, rp->id, (const uint8_t *)"x", 1), -AIO_EINVAL);
  CHECK_EQ(aio_shutdown(loop, wp->id), -AIO_EINVAL);
  rp->rx_seed = wp->tx_seed = 77;
  wp->tx_total = 1u << 20;
  CHECK_EQ(aio_read_start(loop, rp->id), 0);
  rp->rx_target = 1u << 20;
  CHECK(drive(c_rx_target, rp, 20000));
  CHECK_EQ(rp->rx, 1u << 20);
  CHECK_EQ(rp->rx_bad, 0);
  /* The writer's close: CLOSED for it, END for the reader. */
  CHECK_EQ(aio_close(loop, wp->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, wp, 5000));
  CHECK_EQ(wp->tx_direct + wp->tx_written, 1u << 20);
  CHECK(drive(c_end, rp, 5000));
  CHECK_EQ(rp->error, 0);
  printf("pipe pair: 1 MiB in %.0f ms, END on close\n", now_ms() - t0);
  CHECK_EQ(aio_close(loop, rp->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, rp, 5000));
  peer_drop(rp);
  peer_drop(wp);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

/* A refused adopt leaves the fd open with its flags: the caller's. */
static void test_adopt_refused(void) {
#if !defined(_WIN32)
  int fd = open("/dev/null", O_WRONLY);
  int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
  CHECK(fd >= 0);
  /* epoll cannot poll /dev/null: not supported, not a permission issue. */
  CHECK_EQ(aio_pipe_adopt(loop, (uint64_t)fd, AIO_F_WRITABLE), -AIO_ENOTSUP);
  CHECK_EQ(fcntl(fd, F_GETFL), fl);
  CHECK_EQ(fcntl(fd, F_GETFD), fdfl);
  CHECK_EQ(write(fd, "x", 1), 1);
  CHECK_EQ(close(fd), 0);
#endif
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

static void test_pipe_named(void) {
  char path[128];
  int32_t lid, cid, sid, r;
  peer *lp, *c, *s;
  double t0 = now_ms();
#if defined(_WIN32)
  snprintf(path, sizeof path, "\\\\.\\pipe\\aio-smoke-%lu", self_pid());
#else
  snprintf(path, sizeof path, "/tmp/aio-smoke-%lu.sock", self_pid());
#endif
  lid = aio_pipe_listen(loop, path, 16, 0);
  CHECK(lid > 0);
  if (lid <= 0) return;
  lp = peer_add((aio_id)lid);
  cid = aio_pipe_connect(loop, path);
  CHECK(cid > 0);
  if (cid <= 0) return;
  c = peer_add((aio_id)cid);
  CHECK(drive(c_accepted, lp, 5000));
  if (lp->accepted_count == 0) return;
  sid = aio_pipe_adopt(loop, lp->accepted[0], AIO_F_READABLE | AIO_F_WRITABLE);
  lp->accepted_count = 0;
  CHECK(sid > 0);
  if (sid <= 0) return;
  s = peer_add((aio_id)sid);
  /* The server echoes; the client checks what comes back. */
  s->echo = 1;
  s->rx_seed = c->tx_seed = c->rx_seed = 91;
  c->tx_total = 256 * 1024;
  CHECK_EQ(aio_read_start(loop, s->id), 0);
  CHECK_EQ(aio_read_start(loop, c->id), 0);
  /* The client gets all of its bytes back. */
  c->rx_target = 256 * 1024;
  CHECK(drive(c_rx_target, c, 20000));
  CHECK_EQ(c->rx, 256 * 1024);
  CHECK_EQ(c->rx_bad + s->rx_bad, 0);
  CHECK_EQ(s->tx_failed + c->tx_failed, 0);
  /* A second client works too while the first is connected. */
  {
    int32_t c2 = aio_pipe_connect(loop, path);
    CHECK(c2 > 0);
    lp->accepted_count = 0;
    if (c2 > 0) {
      peer *p2 = peer_add((aio_id)c2);
      CHECK(drive(c_accepted, lp, 5000));
      if (lp->accepted_count > 0) CHECK_EQ(aio_os_close(lp->accepted[0], 1), 0);
      lp->accepted_count = 0;
      CHECK_EQ(aio_close(loop, p2->id, AIO_CLOSE_NOW), 0);
      peer_drop(p2);
    }
  }
  /* The name is taken. (On Linux the check connects to the live socket
   * to tell it from a stale one, which the listener sees as a connection
   * that ends at once: drop what it accepts from here on.) */
  r = aio_pipe_listen(loop, path, 16, 0);
  CHECK_EQ(r, -AIO_EADDRINUSE);
  if (r > 0) aio_close(loop, (aio_id)r, AIO_CLOSE_NOW);
  drive_for(50);
  while (lp->accepted_count > 0)
    aio_os_close(lp->accepted[--lp->accepted_count], 1);
  /* The client leaves: the server reads END. */
  CHECK_EQ(aio_close(loop, c->id, AIO_CLOSE_GRACEFUL), 0);
  CHECK(drive(c_closed, c, 5000));
  CHECK(drive(c_end, s, 5000));
  printf("named pipe %s: 256 KiB echoed in %.0f ms\n", path, now_ms() - t0);
  CHECK_EQ(aio_close(loop, s->id, AIO_CLOSE_NOW), 0);
  CHECK_EQ(aio_close(loop, lp->id, AIO_CLOSE_NOW), 0);
  peer_drop(c);
  peer_drop(s);
  peer_drop(lp);
  /* Nobody serves it any more. */
  r = aio_pipe_connect(loop, path);
  CHECK_EQ(r, -AIO_ENOENT);
  if (r > 0) aio_close(loop, (aio_id)r, AIO_CLOSE_NOW);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
}

int main(void) {
  int32_t err[2] = {-1, -1};
  double t0 = now_ms();
  setvbuf(stdout, NULL, _IONBF, 0);
  test_layout();
  loop = aio_loop_new(err);
  CHECK(loop != NULL);
  if (!loop) {
    printf("aio_loop_new: %d/%d\n", (int)err[0], (int)err[1]);
    return 1;
  }
  CHECK_EQ(err[0], 0);
  CHECK_EQ(aio_loop_record_capacity(loop), 1024);
  CHECK(aio_loop_arena_size(loop) > 0);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
  test_tcp();
  test_ipv6();
  test_many();
  test_free_busy();
  test_resolve();
  test_pipe_pair();
  test_adopt_refused();
  test_pipe_named();
  CHECK_EQ(unknown_records, 0);
  CHECK_EQ(wait_failed, 0);
  CHECK_EQ(aio_loop_handle_count(loop), 0);
  aio_loop_free(loop);
  printf("smoke: %d passed, %d failed (%.0f ms)\n", passed, failed,
         now_ms() - t0);
  return failed ? 1 : 0;
}

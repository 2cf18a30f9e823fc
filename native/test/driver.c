/*
 * driver.c - what the end-to-end tests (smoke_*.c) share: a loop driven
 * the way the JS side drives it (wait with a timeout, then dispatch while
 * work is pending), peers that remember what the records said about each
 * id, and verified byte patterns. All on loopback, every wait bounded in
 * time. The only OS-specific parts are the clock, sleeping and the
 * refusing port.
 */
#include "driver.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#endif

/* --- platform bits (test only) ------------------------------------------ */

#if defined(_WIN32)
double now_ms(void) { return (double)GetTickCount64(); }
void sleep_ms(int ms) { Sleep((DWORD)ms); }
unsigned long self_pid(void) { return GetCurrentProcessId(); }
#else
double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}
unsigned long self_pid(void) { return (unsigned long)getpid(); }
#endif

/* A loopback port that refuses every connect for as long as it is held: a
 * socket bound to it that never listens. (A port freed by closing a
 * listener is not that: another socket may take it, a connect may connect
 * to itself, and a listener's close may take effect late.) Returns the
 * port; *held is what to pass to release_port. */
#if defined(_WIN32)
void release_port(held_port s) { closesocket(s); }
#else
void release_port(held_port s) { close(s); }
#endif
uint16_t hold_refusing_port(held_port *held) {
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

/* --- peers: what the records told us about each id ------------------------ */

aio_loop *loop;
static peer peers[MAX_PEERS];
static uint8_t chunk[CHUNK_MAX];
static uint64_t unknown_records;
int arena_bad;

uint8_t pattern(uint32_t seed, uint64_t i) {
  uint64_t x = i + (uint64_t)seed * 0x9e3779b9u;
  return (uint8_t)(x ^ (x >> 7) ^ (x >> 15) ^ (x >> 23));
}

peer *peer_add(aio_id id) {
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

void peer_drop(peer *p) { p->used = 0; }

peer *peer_find(aio_id id) {
  int i;
  for (i = 0; i < MAX_PEERS; i++)
    if (peers[i].used && peers[i].id == id) return &peers[i];
  return NULL;
}

void peer_send_queued(peer *p, const uint8_t *data, uint32_t len) {
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
void pump(void) {
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
void round_once(int timeout_ms) {
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


/* Drives the loop until cond holds or ms pass; returns whether it held. */
int drive(cond_fn cond, void *ctx, int ms) {
  double end = now_ms() + ms;
  pump();
  while (!cond(ctx)) {
    if (now_ms() > end) return 0;
    round_once(20);
  }
  return 1;
}

void drive_for(int ms) {
  double end = now_ms() + ms;
  while (now_ms() < end) round_once(10);
}

int c_connected(void *p) { return ((peer *)p)->connected > 0; }
int c_accepted(void *p) { return ((peer *)p)->accepted_count > 0; }
int c_end(void *p) { return ((peer *)p)->end > 0; }
int c_closed(void *p) { return ((peer *)p)->closed > 0; }
int c_shut(void *p) { return ((peer *)p)->shut > 0; }
int c_end_or_error(void *p) {
  return ((peer *)p)->end > 0 || ((peer *)p)->error > 0;
}


int c_transfer_done(void *ctx) {
  two *t = ctx;
  return t->a->rx >= t->b->tx_total && t->b->rx >= t->a->tx_total &&
         t->a->tx_sent == t->a->tx_total && t->b->tx_sent == t->b->tx_total &&
         t->a->tx_queued == 0 && t->b->tx_queued == 0;
}

int c_rx_target(void *p) {
  return ((peer *)p)->rx >= ((peer *)p)->rx_target;
}

/* --- helpers ------------------------------------------------------------ */

aio_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
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
int tcp_pair(peer *lp, uint16_t port, peer **client, peer **server) {
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
  /* As the library does with its own accepted sockets (smoke_tcp adopts
   * one as a foreign socket). */
  sid = aio_tcp_adopt(loop, os, AIO_F_ACCEPTED);
  CHECK(sid > 0);
  if (sid <= 0) {
    aio_os_close(os, 0);
    return 0;
  }
  /* A second adopt is refused and leaves the socket to its first owner,
   * which every transfer through this pair then uses. */
  CHECK_EQ(aio_tcp_adopt(loop, os, 0), -AIO_EEXIST);
  CHECK_EQ(aio_tcp_adopt(loop, os, AIO_F_ACCEPTED), -AIO_EEXIST);
  s = peer_add((aio_id)sid);
  *client = c;
  *server = s;
  return 1;
}

/* --- a loop per test ------------------------------------------------------ */

int smoke_begin(void) {
  int32_t err[2] = {-1, -1};
  /* A test that gave up early left its loop: free it first. */
  if (loop) aio_loop_free(loop);
  memset(peers, 0, sizeof peers);
  unknown_records = 0;
  arena_bad = 0;
  wait_failed = 0;
  loop = aio_loop_new(err);
  CHECK(loop != NULL);
  if (!loop) {
    printf("  aio_loop_new: %d/%d\n", (int)err[0], (int)err[1]);
    return 0;
  }
  CHECK_EQ(err[0], 0);
  return 1;
}

void smoke_end(void) {
  CHECK_EQ(unknown_records, 0);
  CHECK_EQ(wait_failed, 0);
  CHECK_EQ(arena_bad, 0);
  if (!loop) return;
  CHECK_EQ(aio_loop_handle_count(loop), 0);
  aio_loop_free(loop);
  loop = NULL;
}

peer *tcp_listen_local(uint16_t *port, int accepts) {
  aio_addr any = addr4(127, 0, 0, 1, 0), a;
  int32_t lid = aio_tcp_listen(loop, &any, 64, 0, accepts);
  CHECK(lid > 0);
  if (lid <= 0) return NULL;
  CHECK_EQ(aio_address(loop, (aio_id)lid, 0, &a), 0);
  *port = a.port;
  return peer_add((aio_id)lid);
}

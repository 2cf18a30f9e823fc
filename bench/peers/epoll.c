/*
 * The machine's limit: a plain C peer (epoll server, epoll ping client,
 * blocking bulk and accept clients) with the kinds, checks and control
 * protocol of bench/peers/protocol.ts. Built by bench/run.ts with gcc.
 *
 *   epoll <server|client> <kind> key=value ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PING_SIZE 64
#define BLOCK 65536
#define REPLY_SIZE 16
#define MAX_FD 65536

static int argc_g;
static char **argv_g;

static const char *param(const char *key) {
  size_t n = strlen(key);
  for (int i = 3; i < argc_g; i++)
    if (strncmp(argv_g[i], key, n) == 0 && argv_g[i][n] == '=') return argv_g[i] + n + 1;
  return NULL;
}
static double num(const char *key) {
  const char *v = param(key);
  return v ? strtod(v, NULL) : 0;
}
static void die(const char *what) {
  perror(what);
  exit(1);
}
static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void ping_message(uint32_t conn, uint32_t round, uint8_t *out) {
  memcpy(out, &conn, 4);
  memcpy(out + 4, &round, 4);
  for (int i = 8; i < PING_SIZE; i++) out[i] = (uint8_t)(conn + round + i);
}
static uint8_t fill(uint32_t q) { return (uint8_t)(q * 7 + 3); }

struct checker { uint64_t bytes; uint32_t errors, checks; };
static void check_push(struct checker *c, const uint8_t *d, size_t len) {
  uint64_t off = c->bytes, end = off + len;
  static const uint32_t qs[5] = {0, 1, 2, 3, BLOCK / 2};
  for (uint64_t k = off / BLOCK; k * BLOCK < end; k++)
    for (int i = 0; i < 5; i++) {
      uint64_t p = k * BLOCK + qs[i];
      if (p < off || p >= end) continue;
      uint8_t want = qs[i] < 4 ? (uint8_t)(k >> (8 * qs[i])) : fill(qs[i]);
      c->checks++;
      if (d[p - off] != want) c->errors++;
    }
  c->bytes = end;
}
static uint32_t expected_checks(uint64_t bytes) {
  uint64_t full = bytes / BLOCK, rest = bytes % BLOCK;
  return (uint32_t)(full * 5 + (rest == 0 ? 0 : (rest < 4 ? rest : 4) + (rest > BLOCK / 2 ? 1 : 0)));
}

static int is_pipe(const char *kind) { return strncmp(kind, "pipe", 4) == 0; }

static int listen_on(const char *kind, int *port) {
  int fd;
  if (is_pipe(kind)) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, param("path"), sizeof a.sun_path - 1);
    unlink(a.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  } else {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
  }
  if (listen(fd, 511) < 0) die("listen");
  return fd;
}

static int connect_to(const char *kind, int nonblock) {
  int fd;
  if (is_pipe(kind)) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, param("path"), sizeof a.sun_path - 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  } else {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((int)num("port")),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void write_all(int fd, const uint8_t *d, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, d, n);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) continue; /* small echoes: the buffer frees at once */
      return;
    }
    d += w;
    n -= (size_t)w;
  }
}
static int read_full(int fd, uint8_t *d, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, d, n);
    if (r <= 0) return -1;
    d += r;
    n -= (size_t)r;
  }
  return 0;
}

/* A line from stdin (blocking); NULL at its end. */
static char *line(void) {
  static char buf[256];
  if (!fgets(buf, sizeof buf, stdin)) return NULL;
  buf[strcspn(buf, "\r\n")] = 0;
  return buf;
}

static struct checker checkers[MAX_FD];
static long accepted;

static void serve(const char *kind) {
  int port = 0, lfd = listen_on(kind, &port), ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN}, evs[256];
  static uint8_t buf[BLOCK];
  int sink = strstr(kind, "sink") != NULL, echo = strstr(kind, "echo") != NULL;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  if (is_pipe(kind)) printf("READY %s\n", param("path"));
  else printf("READY %d\n", port);
  fflush(stdout);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == 0) {
        char *l = line();
        if (!l || strcmp(l, "EXIT") == 0) exit(0);
        if (strcmp(l, "STATS") == 0) {
          long pages = 0, rss = 0;
          FILE *f = fopen("/proc/self/statm", "r");
          if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
          if (f) fclose(f);
          printf("STATS {\"rss\":%ld,\"accepted\":%ld}\n", rss * 4096, accepted);
          fflush(stdout);
        }
      } else if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          accepted++;
          if (!sink && !echo) { close(c); continue; }
          int one = 1;
          if (!is_pipe(kind)) setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          memset(&checkers[c], 0, sizeof checkers[c]);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
      } else {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          close(fd);
          continue;
        }
        if (echo) write_all(fd, buf, (size_t)r);
        else {
          struct checker *c = &checkers[fd];
          check_push(c, buf, (size_t)r);
          if (c->bytes >= (uint64_t)num("bytes")) {
            uint32_t reply[4] = {(uint32_t)c->bytes, (uint32_t)(c->bytes >> 32), c->errors, c->checks};
            write_all(fd, (uint8_t *)reply, REPLY_SIZE);
          }
        }
      }
    }
  }
}

/*
 * Connects, READY, waits for GO (setting *t0), then every connection does
 * `rounds` pings in turn, all connections at once.
 */
static int ping_all(const char *kind, int conns, int rounds, long *bad, double *t0) {
  int ep = epoll_create1(0), running = conns;
  int *fds = calloc(conns, sizeof *fds), *round = calloc(conns, sizeof *round), *have = calloc(conns, sizeof *have);
  uint8_t(*got)[PING_SIZE] = calloc(conns, PING_SIZE), msg[PING_SIZE];
  struct epoll_event evs[256];
  for (int i = 0; i < conns; i++) {
    fds[i] = connect_to(kind, 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  printf("READY\n");
  fflush(stdout);
  char *l = line();
  if (!l || strcmp(l, "GO") != 0) exit(0);
  *t0 = now_ms();
  for (int i = 0; i < conns; i++) {
    ping_message((uint32_t)i, 0, msg);
    write_all(fds[i], msg, PING_SIZE);
  }
  while (running > 0) {
    int n = epoll_wait(ep, evs, 256, 30000);
    if (n <= 0) return -1;
    for (int e = 0; e < n; e++) {
      int i = (int)evs[e].data.u32;
      ssize_t r = read(fds[i], got[i] + have[i], PING_SIZE - have[i]);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        return -1;
      }
      have[i] += (int)r;
      if (have[i] < PING_SIZE) continue;
      ping_message((uint32_t)i, (uint32_t)round[i], msg);
      if (memcmp(msg, got[i], PING_SIZE) != 0) (*bad)++;
      have[i] = 0;
      if (++round[i] < rounds) {
        ping_message((uint32_t)i, (uint32_t)round[i], msg);
        write_all(fds[i], msg, PING_SIZE);
      } else running--;
    }
  }
  return 0;
}

static void client(const char *kind) {
  double t0 = 0;
  long units = 0, bad = 0;
  const char *why = NULL;
  static char whybuf[128];
  if (strstr(kind, "ping")) {
    int conns = strcmp(kind, "pipe-ping") == 0 ? 1 : (int)num("conns"), rounds = (int)num("rounds");
    if (ping_all(kind, conns, rounds, &bad, &t0) < 0) why = "a connection failed";
    units = (long)conns * rounds;
    if (bad) why = "echoes differ";
  } else {
    int fd = -1;
    if (strstr(kind, "bulk")) fd = connect_to(kind, 0);
    printf("READY\n");
    fflush(stdout);
    char *l = line();
    if (!l || strcmp(l, "GO") != 0) exit(0);
    t0 = now_ms();
    if (strstr(kind, "bulk")) {
      static uint8_t block[BLOCK];
      uint64_t bytes = (uint64_t)num("bytes");
      for (uint32_t q = 0; q < BLOCK; q++) block[q] = fill(q);
      for (uint64_t k = 0; k * BLOCK < bytes; k++) {
        uint32_t kk = (uint32_t)k;
        memcpy(block, &kk, 4);
        write_all(fd, block, bytes - k * BLOCK < BLOCK ? bytes - k * BLOCK : BLOCK);
      }
      uint32_t reply[4];
      if (read_full(fd, (uint8_t *)reply, REPLY_SIZE) < 0) why = "no reply";
      else if (reply[0] + ((uint64_t)reply[1] << 32) != bytes || reply[2] != 0 || reply[3] != expected_checks(bytes)) {
        snprintf(whybuf, sizeof whybuf, "receiver got %u bytes, %u errors, %u checks", reply[0], reply[2], reply[3]);
        why = whybuf;
      }
      units = (long)bytes;
    } else { /* accept: sequential connect, wait for the server's close */
      long count = (long)num("count");
      uint8_t b;
      for (long i = 0; i < count; i++) {
        int c = connect_to(kind, 0);
        if (read(c, &b, 1) != 0) why = "server sent data";
        close(c);
      }
      units = count;
    }
  }
  double ms = now_ms() - t0;
  if (why) printf("DONE {\"ms\":%.3f,\"ok\":false,\"why\":\"%s\",\"units\":%ld}\n", ms, why, units);
  else printf("DONE {\"ms\":%.3f,\"ok\":true,\"units\":%ld}\n", ms, units);
  fflush(stdout);
  for (char *l; (l = line()) && strcmp(l, "EXIT") != 0;) {
  }
}

int main(int argc, char **argv) {
  argc_g = argc;
  argv_g = argv;
  if (argc < 3) {
    fprintf(stderr, "usage: epoll <server|client> <kind> key=value...\n");
    return 64;
  }
  if (strcmp(argv[1], "server") == 0) serve(argv[2]);
  else client(argv[2]);
  return 0;
}

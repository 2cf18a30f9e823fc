/*
 * driver.h - the end-to-end tests' shared driver (driver.c).
 */
#ifndef AIO_TEST_DRIVER_H
#define AIO_TEST_DRIVER_H

#include "test.h"

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET held_port;
#else
typedef int held_port;
#endif

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

typedef struct two {
  peer *a, *b;
} two;

typedef int (*cond_fn)(void *);

/* The loop of the running test (smoke_begin .. smoke_end). */
extern aio_loop *loop;
extern int arena_bad;

/* A fresh loop for one test; 0 when it could not be made. */
int smoke_begin(void);
/* Checks that nothing is left open or unexplained, and frees the loop. */
void smoke_end(void);

double now_ms(void);
void sleep_ms(int ms);
unsigned long self_pid(void);
/* A loopback port that refuses every connect while held. */
uint16_t hold_refusing_port(held_port *held);
void release_port(held_port s);

uint8_t pattern(uint32_t seed, uint64_t i);
peer *peer_add(aio_id id);
void peer_drop(peer *p);
peer *peer_find(aio_id id);
void peer_send_queued(peer *p, const uint8_t *data, uint32_t len);
void pump(void);
void round_once(int timeout_ms);
/* Drives the loop until cond holds or ms pass; returns whether it held. */
int drive(cond_fn cond, void *ctx, int ms);
void drive_for(int ms);

int c_connected(void *p);
int c_accepted(void *p);
int c_end(void *p);
int c_closed(void *p);
int c_shut(void *p);
int c_end_or_error(void *p);
int c_transfer_done(void *ctx);
int c_rx_target(void *p);

aio_addr addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);
/* Connects through listener lp on 127.0.0.1:port and adopts the accepted
 * socket; 1 with *client and *server set. */
int tcp_pair(peer *lp, uint16_t port, peer **client, peer **server);
/* A listener on 127.0.0.1 (any port); its peer, with *port set. */
peer *tcp_listen_local(uint16_t *port, int accepts);

#endif /* AIO_TEST_DRIVER_H */

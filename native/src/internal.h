/*
 * internal.h - what the common code and the two backends share
 * (docs/DESIGN.md, "Native layers" and "The backend interface").
 *
 * The common layer (api.c, loop.c, handle.c, stream.c, table.c,
 * records.c, sendq.c, net.c) validates ids and arguments, owns the record
 * buffer, the receive arena, the list of handles with work pending, every
 * handle's state machines and the byte-stream turn. A backend (unix/ or
 * win/) implements the backend_* interface below. It is not a small
 * readiness API like Redis's ae (create / add / delete / poll): a
 * completion backend (IOCP) owns the operations in flight, so the
 * interface is the set of things a handle can do, thirty-two verbs in six
 * groups, and no knowledge of JS.
 */
#ifndef AIO_INTERNAL_H
#define AIO_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

#include "../include/aio.h"
#include "platform.h"

/* The error idiom (docs/DESIGN.md, "The error idiom"), for every function
 * in native/, exported or internal:
 *  - A function that can fail returns int32_t: >= 0 is success (0, a
 *    count, an id), < 0 a negated enum aio_error. Never a raw OS error,
 *    never a positive code. (Predicates return int 0/1; they cannot fail.)
 *  - A library error held in a variable or handed to a function is typed
 *    enum aio_error (positive): what the tables of errors.c return and
 *    loop_fail / handle_fail take. It is negated only where it leaves: a
 *    return value, a record's status, h->error.
 *  - The OS error behind a failure (errno, a Win32 or Winsock value) is an
 *    int32_t named os_error, kept beside the code: in the loop by
 *    loop_fail for a call from JS (aio_loop_os_error), in the record for a
 *    failure found in dispatch, in an int32_t *os_error out-parameter
 *    where there is no loop. Inside the IOCP backend a Win32 value may
 *    travel as a DWORD (the return of a win_* or file-private helper that
 *    wraps OS calls, never of an int32_t function); it becomes a library
 *    error before it leaves the backend.
 *  - OS values become library errors in <backend>/errors.c only.
 *  - The one-line forms: RETURN_IF for refused arguments (no OS error),
 *    return loop_fail(...) / unix_fail / win_fail for an OS failure of a
 *    call from JS, return error_out(...) where there is no loop. */
#define RETURN_ERROR(code) return -(int32_t)(code)
#define RETURN_IF(cond, code) \
  do {                        \
    if (cond) RETURN_ERROR(code); \
  } while (0)

#define RECORD_CAPACITY 1024
#define ARENA_SIZE (1024 * 1024)
/* src/validate.ts DEFAULT_READ_BUFFER_SIZE is this: JS skips the call that
 * would set it. */
#define DEFAULT_READ_BUDGET (64 * 1024)
/* A dispatch stops filling records when fewer than this many are free, so
 * that one handle's processing (at most DATA + END/ERROR + WRITTEN +
 * SHUTDOWN/CLOSED) always fits. */
#define RECORD_RESERVE 8

/* An id: 18 bits of slot index (262,144 open handles per loop), 13 of
 * generation (1..8191), bit 31 clear so that an id is a positive int32.
 * With the reuse rule of table.c (a released slot waits behind at least
 * TABLE_QUARANTINE others) an id comes back only after more than
 * TABLE_QUARANTINE * ID_GEN_MASK (33 million) releases on its loop. */
#define ID_INDEX_BITS 18
#define ID_INDEX_MASK ((1u << ID_INDEX_BITS) - 1u)
#define ID_GEN_MASK 0x1fffu
#define TABLE_QUARANTINE 4096u

typedef enum handle_kind {
  KIND_LISTENER = 1,      /* TCP, or Unix domain socket, listener */
  KIND_STREAM = 2,        /* a connected stream socket */
  KIND_PIPE = 3,          /* a pipe end (Unix pipe fd, Windows pipe HANDLE) */
  KIND_PIPE_LISTENER = 4  /* Windows named pipe server */
} handle_kind;

/* Independent facts about a handle: every combination of these bits is
 * legal, so they stay bits. What is not independent is an enum below. */
enum handle_flag {
  H_READING = 1u << 0,   /* JS wants data (not paused) */
  H_READABLE = 1u << 1,  /* the OS announced data, EOF or an error to read */
  H_WRITABLE = 1u << 2,  /* the OS can take more of the queue now */
  H_PENDING = 1u << 3,   /* on the loop's pending list */
  H_READ_END = 1u << 4,  /* pipe: this end reads (fixed at creation) */
  H_WRITE_END = 1u << 5  /* pipe: this end writes (fixed at creation) */
};

/* The state machines of a handle (docs/DESIGN.md, "Native state
 * machines"). Each is changed only by the handle_* transition functions of
 * handle.c, which assert the transition in debug builds. */

/* The life of any handle. */
typedef enum handle_life {
  LIFE_OPEN = 0,       /* I/O goes on */
  LIFE_CLOSING,        /* graceful close: flush, FIN, then CLOSED */
  LIFE_FAILED,         /* failed: no more I/O; ERROR sent or in h->error */
  LIFE_FAILED_CLOSING, /* failed and a graceful close waits: the next turn
                          reports CLOSED */
  LIFE_DEAD            /* id released; only OS operations still drain */
} handle_life;

/* An outgoing connect (streams only). */
typedef enum connect_state {
  CONNECT_NONE = 0,  /* none of ours: adopted or accepted */
  CONNECT_IN_FLIGHT, /* started; the outcome is not known */
  CONNECT_DONE,      /* the outcome is known but not reported (IOCP) */
  CONNECT_REPORTED   /* CONNECTED went out */
} connect_state;

/* The read side of a stream. */
typedef enum read_state {
  READ_OPEN = 0,   /* nothing final seen */
  READ_FINAL_SEEN, /* the OS announced EOF, hang-up or a failure: read on
                      until a read reports it */
  READ_ENDED       /* END went out: never read again */
} read_state;

/* The write side's half-close. */
typedef enum shut_state {
  SHUT_NONE = 0,  /* writes go on */
  SHUT_REQUESTED, /* FIN once the queue is empty; no new bytes */
  SHUT_DONE       /* FIN sent (by aio_shutdown or a graceful close) */
} shut_state;

/* The send queue: native copies of accepted bytes, in order, so the kernel
 * never holds a JS buffer (docs/DESIGN.md, rule "The kernel never holds JS
 * memory"). */
typedef struct sendq_chunk {
  struct sendq_chunk *next;
  uint32_t start; /* first unsent byte */
  uint32_t end;   /* one past the last queued byte */
  uint32_t cap;
  uint8_t data[];
} sendq_chunk;

/* Chunks a loop's queues gave back, kept for the next queue that grows
 * (sendq.c): their pages stay mapped, so a bulk writer's queue does not
 * fault its memory in again each time it fills. */
typedef struct sendq_pool {
  sendq_chunk *free;
  uint64_t bytes;
} sendq_pool;

typedef struct sendq {
  sendq_chunk *head;
  sendq_chunk *tail;
  uint64_t bytes;
  sendq_pool *pool; /* the loop's, or NULL: chunks go back to malloc */
} sendq;

/* TCP options a listener gives every socket it accepts (aio_tcp_nodelay
 * and aio_tcp_keepalive on a listener id); set: which of them were asked
 * for, so an accepted socket keeps the OS's defaults otherwise. */
typedef struct tcp_opts {
  uint8_t set_nodelay;
  uint8_t set_keepalive;
  uint8_t nodelay;
  uint8_t keepalive;
  int32_t idle_ms;
  int32_t interval_ms;
  int32_t count;
  int32_t send_buffer; /* SO_SNDBUF for each accepted socket; 0: the OS's */
} tcp_opts;

typedef struct aio_handle aio_handle;

struct aio_handle {
  aio_loop *loop;
  aio_handle *pending_next;
  aio_handle *pending_prev;
  aio_id id;        /* 0 once released to JS */
  uint32_t flags;   /* enum handle_flag */
  handle_kind kind;
  handle_life life;
  connect_state connect;
  read_state read;
  shut_state shut;
  int32_t read_budget;
  uint16_t connect_port; /* a TCP connect's destination port (net.h) */
  tcp_opts accept_opts; /* listeners only */
  sendq queue;
  uint64_t written; /* bytes taken by the OS and not yet reported */
  int32_t error;    /* a failure waiting for ERROR (negated code), or 0 */
  int32_t os_error;
};

typedef struct handle_table {
  aio_handle **slots;
  uint16_t *gens;
  uint32_t *free_ring; /* free slot indexes, oldest release first (FIFO) */
  uint32_t free_head;  /* where the oldest free index is in free_ring */
  uint32_t cap;
  uint32_t free_count;
  uint32_t used;
} handle_table;

typedef struct backend_loop backend_loop;

struct aio_loop {
  handle_table table;
  sendq_pool send_pool;
  aio_record *records;
  int32_t record_count;
  uint8_t *arena;
  uint32_t arena_used;
  aio_handle *pending_head;
  aio_handle *pending_tail;
  int32_t os_error;
  int32_t zombies; /* released handles whose OS operations still drain */
  backend_loop *backend;
};

/* table.c */
int32_t table_init(handle_table *t);
void table_free(handle_table *t);
int32_t table_insert(handle_table *t, aio_handle *h); /* id, or -error */
aio_handle *table_get(const handle_table *t, aio_id id);
void table_remove(handle_table *t, aio_handle *h);

/* records.c */
int records_room(const aio_loop *loop);
void records_push(aio_loop *loop, const aio_handle *h, int32_t kind,
                  int32_t status, int32_t os_error);
/* Room left in the arena for one read, or 0. */
uint32_t arena_room(const aio_loop *loop);
uint8_t *arena_tail(aio_loop *loop);
void records_push_data(aio_loop *loop, const aio_handle *h, uint32_t len);
void records_push_handle(aio_loop *loop, const aio_handle *h, uint64_t os);

/* sendq.c */
int32_t sendq_append(sendq *q, const uint8_t *data, uint32_t len);
void sendq_consume(sendq *q, uint64_t n);
void sendq_clear(sendq *q);
/* Frees what a pool keeps. */
void sendq_pool_free(sendq_pool *p);
/* Fills up to max (pointer, length) pairs from the head; returns the count. */
int sendq_peek(const sendq *q, const uint8_t **bufs, uint32_t *lens, int max);

/* loop.c (common) */
void loop_pend(aio_loop *loop, aio_handle *h);
void loop_unpend(aio_loop *loop, aio_handle *h);
/* Keeps os_error for aio_loop_os_error; returns -code. */
int32_t loop_fail(aio_loop *loop, enum aio_error code, int32_t os_error);
/* Where no loop exists: stores os_error in *out and returns its negated
 * library code (error_from_os). */
int32_t error_out(int32_t os_error, int32_t *out);

/* handle.c: a handle's life and the transitions of its state machines
 * (the enums above). */
aio_handle *handle_new(aio_loop *loop, size_t size, handle_kind kind);
/* any -> DEAD: gives the id back to the table; JS can no longer reach it. */
void handle_release(aio_handle *h);
/* Frees a handle (releasing it first) once nothing is in flight. */
void handle_destroy(aio_handle *h);
int handle_failed(const aio_handle *h);  /* FAILED or FAILED_CLOSING */
int handle_closing(const aio_handle *h); /* CLOSING or FAILED_CLOSING */
/* A graceful close of a stream: OPEN -> CLOSING, FAILED -> FAILED_CLOSING. */
void handle_close_begin(aio_handle *h);
/* The stream failed: OPEN -> FAILED, CLOSING -> FAILED_CLOSING; ERROR
 * (code: a positive aio_error) goes out in the next turn. First one wins. */
void handle_fail(aio_handle *h, enum aio_error code, int32_t os_error);
int handle_connecting(const aio_handle *h); /* IN_FLIGHT or DONE */
void handle_connect_begin(aio_handle *h);   /* NONE -> IN_FLIGHT */
void handle_connect_known(aio_handle *h);   /* IN_FLIGHT -> DONE */
/* -> REPORTED: pushes CONNECTED; a failure (status < 0) fails the handle. */
void handle_connect_report(aio_handle *h, int32_t status, int32_t os_error);
void handle_read_final_seen(aio_handle *h); /* OPEN -> FINAL_SEEN */
void handle_read_end(aio_handle *h);        /* -> ENDED; pushes END */
void handle_shut_request(aio_handle *h);    /* NONE -> REQUESTED */
void handle_shut_done(aio_handle *h);       /* -> DONE (FIN sent) */
/* Reports the bytes written since the last report, if any. */
void handle_report_written(aio_handle *h);

/* The backend interface: one implementation in unix/, one in win/.
 * Every verb runs on the loop's JS thread, except backend_loop_wait (and
 * backend_loop_wake, backend_resolve), which may run on another thread and
 * touch no handle. Errors follow the idiom above. */

/* 1. The loop (6): the OS wait object and the raw entries it yields. */
int32_t backend_loop_init(aio_loop *loop, int32_t *os_error);
/* Drains the operations of released handles (IOCP), then frees. */
void backend_loop_free(aio_loop *loop);
/* Blocks up to timeout_ms and stores raw entries only; their count. */
int32_t backend_loop_wait(aio_loop *loop, int32_t timeout_ms);
int32_t backend_loop_wake(aio_loop *loop);
/* A monotonic clock in microseconds, cheap enough to read in a spin. */
uint64_t backend_clock_us(void);
/* Blocks up to `us` microseconds in the OS's wait, as backend_loop_wait
 * does; -AIO_ENOTSUP where the OS cannot time a wait that short (aio_loop_spin
 * then polls instead). On the loop's JS thread only. */
int32_t backend_loop_nap(aio_loop *loop, int32_t us);
/* Turns the harvested raw entries into handle flags + pending entries. */
void backend_loop_harvest(aio_loop *loop);

/* 2. Any handle (6, with backend_socket in net.h), dispatched by kind
 * inside the backend. */
/* Does the pending work of one handle, writing records; returns nonzero
 * when the handle still has work (its read budget or the arena ran out). */
int backend_process(aio_loop *loop, aio_handle *h);
/* Closes at once: AIO_CLOSE_ABORT or AIO_CLOSE_NOW (a graceful close of a
 * stream is stream.c's; of a listener, api.c passes AIO_CLOSE_NOW). */
int32_t backend_close(aio_loop *loop, aio_handle *h, int32_t mode);
/* JS resumed reading (streams) or accepting (listeners). */
int32_t backend_read_start(aio_loop *loop, aio_handle *h);
int32_t backend_read_stop(aio_loop *loop, aio_handle *h);
/* Takes len bytes; returns how many the OS took at once. */
int32_t backend_send(aio_loop *loop, aio_handle *h, const uint8_t *data,
                     uint32_t len);
/* (backend_socket, the socket behind aio_address, is declared in net.h.) */

/* 3. The stream verbs (7) that stream_process drives. */
/* Whether the outcome of a connect in flight is known. */
int backend_stream_connect_done(aio_handle *h);
/* Reports the outcome: handle_connect_report (CONNECTED). */
void backend_stream_connected(aio_loop *loop, aio_handle *h);
/* Whether the queue may move now (the OS can take more / nothing in flight). */
int backend_stream_can_flush(aio_handle *h);
/* Moves what the OS takes of the queue; bytes taken go to h->written.
 * 0, or a negated code with the OS error in *os_error. */
int32_t backend_stream_flush(aio_handle *h, int32_t *os_error);
/* Sends FIN (sockets; pipes have no half-close). As above. */
int32_t backend_stream_shutdown(aio_handle *h, int32_t *os_error);
/* Drops unread input, so that closing does not turn into an RST. */
void backend_stream_discard_unread(aio_handle *h);
/* Reads what is waiting (or starts waiting for it); nonzero: more may wait. */
int backend_stream_read(aio_loop *loop, aio_handle *h);

/* 4. TCP (6) and 5. pipes (4): making handles (each returns an id) and
 * TCP options. */
int32_t backend_tcp_listen(aio_loop *loop, const aio_addr *addr,
                           int32_t backlog, int32_t flags, int32_t accepts);
/* local: bound before connecting, or NULL. */
int32_t backend_tcp_connect(aio_loop *loop, const aio_addr *addr,
                            const aio_addr *local, int32_t flags);
int32_t backend_tcp_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags);
int32_t backend_tcp_adopt_listener(aio_loop *loop, uint64_t os_handle,
                                   int32_t accepts);
/* Options of a stream's socket (a listener's: the same on its own socket,
 * which accepted sockets may inherit; api.c keeps them for accepts). */
int32_t backend_tcp_nodelay(aio_loop *loop, aio_handle *h, int32_t on);
int32_t backend_tcp_keepalive(aio_loop *loop, aio_handle *h, int32_t on,
                              int32_t idle_ms, int32_t interval_ms,
                              int32_t count);
int32_t backend_pipe_pair(uint64_t *out, int32_t *os_error);
int32_t backend_pipe_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags);
int32_t backend_pipe_listen(aio_loop *loop, const char *path,
                            int32_t backlog, int32_t flags);
int32_t backend_pipe_connect(aio_loop *loop, const char *path);

/* 6. No loop (3): OS handles nobody owns, names, and the error table. */
int32_t backend_os_close(uint64_t os_handle, int32_t kind);
int32_t backend_resolve(const char *host, int32_t family, aio_addr *out,
                        int32_t cap, int32_t *os_error);
/* errors.c of each backend: the egress point where OS errors become
 * library errors (the general table; errors.c has the few mappings that
 * depend on the call as well, such as EPERM from epoll_ctl). */
enum aio_error error_from_os(int32_t os_error);

/* stream.c (common): one dispatch turn of a stream handle. */
int stream_process(aio_loop *loop, aio_handle *h);
/* The end of a graceful close once the queue is flushed and reported: FIN
 * (unless sent already) and the unread input discarded; returns the FIN's
 * result (0 or a negated aio_error, the OS error in *os_error). The caller
 * then releases the id. */
int32_t stream_close_flushed(aio_handle *h, int32_t *os_error);

#endif /* AIO_INTERNAL_H */

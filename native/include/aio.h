/*
 * aio.h - the one public C ABI of @eve/aio.
 *
 * The TypeScript side (ffi/symbols.ts, ffi/records.ts) mirrors this file;
 * tests read the layout and the error table back from the library, so the
 * two cannot drift apart silently.
 *
 * Conventions:
 *  - Errors, one idiom (docs/DESIGN.md, "The error idiom"): every function
 *    returns int32_t (or a pointer, or nothing): >= 0 is a result, < 0 a
 *    negated aio_error, never an OS value. The OS error behind a failure
 *    goes beside it: for a call on a loop, in the loop until the next
 *    failed call (aio_loop_os_error); for a failure found in dispatch, in
 *    the record (status < 0, os_error); where no loop exists (aio_loop_new,
 *    aio_resolve, aio_pipe_pair), in err_out as [code, os_error] with the
 *    code positive. aio_loop_wait, aio_loop_spin, aio_loop_wake and
 *    aio_os_close may run where the loop must not be written: they return
 *    the code only. OS values become library errors in one place per
 *    backend (native/src/<backend>/errors.c).
 *  - JS sees handles only as aio_id values (slot index + generation); an id
 *    that is stale (closed) or forged yields AIO_EBADID, never a crash.
 *  - SIGPIPE: sends on sockets (TCP, Unix domain) never raise it (Linux:
 *    send() with MSG_NOSIGNAL); a peer that went away is an error code.
 *    Writes to a pipe end (aio_pipe_pair, aio_pipe_adopt of a pipe) cannot
 *    suppress it: a C host that writes to pipes must ignore SIGPIPE
 *    (signal(SIGPIPE, SIG_IGN)) or block it in the loop's thread; then
 *    the write fails with AIO_EPIPE. (Deno, Rust programs and Node ignore
 *    it already.) Windows has no SIGPIPE.
 *  - One loop is used by one JS thread. Only aio_loop_wait (and
 *    aio_loop_wake, aio_resolve) may run on another thread: the wait only
 *    harvests raw OS entries, every state change happens in aio_loop_dispatch
 *    and the other calls, on the loop's own thread.
 */
#ifndef AIO_H
#define AIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AIO_ABI_VERSION 6

/* Opaque to callers: a slot index and its generation (never 0), bit 31
 * clear, so an id is a positive int32. A stale id yields AIO_EBADID. What
 * remains of reuse: a loop hands out the same id again only after more
 * than 33 million other ids (slots are reused oldest-released first,
 * behind a queue of 4,096, and a slot has 8,191 generations); a caller
 * that keeps an id that long after closing it may reach a new handle. */
typedef uint32_t aio_id;

typedef struct aio_loop aio_loop;

/* Library error codes, returned negated. Keep in step with src/errors.ts
 * (tests/errors_test.ts compares both through aio_error_name). */
enum aio_error {
  AIO_OK = 0,
  AIO_EBADID = 1,        /* stale or forged handle id */
  AIO_EINVAL = 2,        /* bad argument, or wrong kind of handle */
  AIO_ENOMEM = 3,
  AIO_ECLOSED = 4,       /* handle is closing: the call is refused */
  AIO_EAGAIN = 5,
  AIO_EADDRINUSE = 6,
  AIO_EADDRNOTAVAIL = 7,
  AIO_ECONNREFUSED = 8,
  AIO_ECONNRESET = 9,
  AIO_ECONNABORTED = 10,
  AIO_ETIMEDOUT = 11,
  AIO_ENOENT = 12,
  AIO_EACCES = 13,
  AIO_EPIPE = 14,
  AIO_ECANCELED = 15,
  AIO_ENETUNREACH = 16,
  AIO_EHOSTUNREACH = 17,
  AIO_EBUSY = 18,        /* named pipe: every instance busy; retry */
  AIO_ENOTSUP = 19,
  AIO_EMFILE = 20,
  AIO_ENOTFOUND = 21,    /* name resolution found nothing */
  AIO_EEXIST = 22,
  AIO_ENOTCONN = 23,
  AIO_EBADF = 24,        /* an OS handle that is not valid for the call */
  AIO_EIO = 25,          /* an OS error with no better mapping */
  AIO_ENAMETOOLONG = 26,
  AIO_EAFNOSUPPORT = 27,
  AIO_ERROR_COUNT = 28
};

/* What an aio_record reports. */
enum aio_record_kind {
  AIO_REC_DATA = 1,      /* offset/length: bytes in the loop's arena */
  AIO_REC_END = 2,       /* the peer finished sending */
  AIO_REC_WRITTEN = 3,   /* length: queued bytes the OS has now taken */
  AIO_REC_CONNECTED = 4, /* status: 0, or the connect error */
  AIO_REC_ACCEPTED = 5,  /* handle_lo/hi: a new OS socket/handle, now the
                            caller's: adopt it or aio_os_close it */
  AIO_REC_CLOSED = 6,    /* a graceful close finished; the id is now dead */
  AIO_REC_ERROR = 7,     /* status: the stream failed; close it */
  AIO_REC_SHUTDOWN = 8,  /* status: the write side is shut (FIN sent) */
  AIO_REC_ACCEPT_ERROR = 9 /* status: accepting failed (EMFILE...); the
                              listener stays open but stops accepting until
                              aio_read_start, which tries again at once */
};

/* Fixed-size completion record, written by aio_loop_dispatch. */
typedef struct aio_record {
  aio_id id;
  int32_t kind;
  int32_t status;   /* >= 0 ok; < 0 negated aio_error */
  int32_t os_error; /* the OS error behind a failure, else 0 */
  uint32_t offset;
  uint32_t length;
  uint32_t handle_lo;
  uint32_t handle_hi;
} aio_record;

/* An IP endpoint as the ABI passes it (24 bytes, host byte order). */
typedef struct aio_addr {
  uint16_t family; /* 4 or 6 */
  uint16_t port;
  uint32_t scope_id;
  uint8_t bytes[16]; /* IPv4 uses the first 4 */
} aio_addr;

/* A graceful close asked for while a connect is in flight waits for its
 * outcome: exactly one AIO_REC_CONNECTED (status 0, or the connect error)
 * is reported, then AIO_REC_CLOSED. AIO_CLOSE_ABORT and AIO_CLOSE_NOW
 * report neither. */
enum aio_close_mode {
  AIO_CLOSE_GRACEFUL = 0, /* flush, FIN, release; AIO_REC_CLOSED follows */
  AIO_CLOSE_ABORT = 1,    /* drop the queue, RST; the id dies at once */
  AIO_CLOSE_NOW = 2,      /* release at once, no RST forced, no record */
  /* As AIO_CLOSE_GRACEFUL, but with nothing queued, in flight or unreported
   * the close (FIN, unread input discarded, id released) happens within
   * the call, which returns 1 and reports no AIO_REC_CLOSED; otherwise it
   * returns 0 and AIO_REC_CLOSED follows as for AIO_CLOSE_GRACEFUL. */
  AIO_CLOSE_EAGER = 3
};

enum aio_flags {
  AIO_F_V6ONLY = 1,    /* listen: IPV6_V6ONLY on an IPv6 socket */
  AIO_F_NODELAY = 2,   /* connect/adopt: TCP_NODELAY */
  AIO_F_READABLE = 4,  /* pipe adopt: this end reads */
  AIO_F_WRITABLE = 8,  /* pipe adopt: this end writes */
  AIO_F_REUSEPORT = 16, /* listen: SO_REUSEPORT (Linux: listeners of one
                           user share the port, the kernel balances
                           connections); AIO_ENOTSUP where the OS lacks it */
  AIO_F_EXCLUSIVE = 32, /* listen: SO_EXCLUSIVEADDRUSE (Windows); Linux
                           binds exclusively anyway unless REUSEPORT */
  AIO_F_ACCEPTED = 64   /* tcp/pipe adopt: the handle came in an ACCEPTED
                           record of this library, so it is a stream socket
                           (or pipe instance) in the modes the library
                           gives its own: registered as it is, without the
                           checks and mode changes of a foreign handle */
};

/* Socket buffer sizes for aio_tcp_buffer_size. */
enum aio_buffer { AIO_BUF_RECV = 0, AIO_BUF_SEND = 1 };

enum aio_backend { AIO_BACKEND_EPOLL = 1, AIO_BACKEND_IOCP = 2 };

/* Self-description, for the layout and error-table checks. */
int32_t aio_abi_version(void);
int32_t aio_backend(void);
/* out: sizeof(aio_record), offsets of its 8 fields, sizeof(aio_addr),
 * offsets of its 4 fields. Returns the count written. */
int32_t aio_layout(int32_t *out, int32_t cap);
/* Writes the POSIX-style name of a library error ("ECONNREFUSED"). */
int32_t aio_error_name(int32_t code, char *out, int32_t cap);

/* Loop. */
aio_loop *aio_loop_new(int32_t *err_out /* [code, os_error] */);
void aio_loop_free(aio_loop *loop);
/* Blocks up to timeout_ms (-1: no limit) and harvests raw entries only.
 * Returns > 0 when there is anything to dispatch. */
int32_t aio_loop_wait(aio_loop *loop, int32_t timeout_ms);
/* The bounded wait the pump tries on its own thread before it parks: polls
 * with a zero timeout for busy_us microseconds, then, where the OS can time
 * a wait that short (Linux), sleeps in the OS's wait for the rest of max_us
 * (elsewhere it polls to the end). Returns what aio_loop_wait returns (0:
 * nothing came in time). Parking costs a thread hop per wake-up; a peer
 * that answers within max_us is seen without one. */
int32_t aio_loop_spin(aio_loop *loop, int32_t busy_us, int32_t max_us);
/* Turns harvested entries into records; returns the record count. Call
 * again while aio_loop_pending() says work is left. */
int32_t aio_loop_dispatch(aio_loop *loop);
int32_t aio_loop_pending(aio_loop *loop);
int32_t aio_loop_wake(aio_loop *loop);
aio_record *aio_loop_records(aio_loop *loop);
int32_t aio_loop_record_capacity(aio_loop *loop);
uint8_t *aio_loop_arena(aio_loop *loop);
int32_t aio_loop_arena_size(aio_loop *loop);
int32_t aio_loop_handle_count(aio_loop *loop); /* open ids */
int32_t aio_loop_os_error(aio_loop *loop);     /* of the last failed call */

/* Any handle. */
int32_t aio_close(aio_loop *loop, aio_id id, int32_t mode);
int32_t aio_read_start(aio_loop *loop, aio_id id);
int32_t aio_read_stop(aio_loop *loop, aio_id id);
/* Sets the most bytes one dispatch reads for this handle. */
int32_t aio_read_budget(aio_loop *loop, aio_id id, int32_t bytes);
/* Takes len bytes: returns how many the OS took at once (the rest is
 * queued natively, reported later by AIO_REC_WRITTEN). */
int32_t aio_send(aio_loop *loop, aio_id id, const uint8_t *data, int32_t len);
/* Half-close once the queue is flushed; AIO_REC_SHUTDOWN follows. */
int32_t aio_shutdown(aio_loop *loop, aio_id id);
/* which: 0 local, 1 peer. */
int32_t aio_address(aio_loop *loop, aio_id id, int32_t which, aio_addr *out);

/* TCP. */
int32_t aio_tcp_listen(aio_loop *loop, const aio_addr *addr, int32_t backlog,
                       int32_t flags, int32_t accepts);
int32_t aio_tcp_connect(aio_loop *loop, const aio_addr *addr, int32_t flags);
/* Adopting an OS handle (aio_tcp_adopt, aio_pipe_adopt), the ownership
 * rule: on success the library owns the handle and closes it with the id;
 * on failure the handle is untouched and still the caller's, who closes it
 * (an accepted one too: aio_os_close). Untouched means: not closed, and on
 * Linux its O_NONBLOCK and FD_CLOEXEC flags are as they were. Windows: a
 * failure before the association with the loop's port leaves nothing
 * changed; if a later step fails, the association is undone where Windows
 * allows it (FileReplaceCompletionInformation, 8.1 and later), and a
 * socket's non-blocking mode, which Winsock cannot read back, is set only
 * after every other step succeeded. Adopting a handle the loop owns already
 * fails with AIO_EEXIST (Windows: also one associated with any other
 * completion port); a kind of handle the backend cannot poll (a regular
 * file, /dev/null, a synchronous pipe handle) with AIO_ENOTSUP. On success
 * the handle is non-blocking (Linux: O_NONBLOCK on the open file
 * description, which dup'ed fds and other processes share; and
 * FD_CLOEXEC). */
int32_t aio_tcp_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags);
/* TCP_NODELAY of a stream; on a listener, of every socket it accepts
 * from now on. */
int32_t aio_tcp_nodelay(aio_loop *loop, aio_id id, int32_t on);
/* Connects from local (bound first; NULL: the family's wildcard, any
 * port), otherwise as aio_tcp_connect. */
int32_t aio_tcp_connect_from(aio_loop *loop, const aio_addr *addr,
                             const aio_addr *local, int32_t flags);
/* SO_KEEPALIVE, and when on, the idle time before the first probe and the
 * time between probes (milliseconds; rounded up to seconds where the OS
 * counts seconds; 0 keeps the OS's value) and the probes before the peer
 * counts as dead (0: the OS's; Windows without TCP_KEEPCNT ignores it).
 * On a listener: for every socket it accepts from now on. */
int32_t aio_tcp_keepalive(aio_loop *loop, aio_id id, int32_t on,
                          int32_t idle_ms, int32_t interval_ms,
                          int32_t count);
/* SO_RCVBUF / SO_SNDBUF (which: enum aio_buffer) of a stream or listener:
 * sets it when size > 0, then returns the OS's value (Linux doubles what
 * it is given). */
int32_t aio_tcp_buffer_size(aio_loop *loop, aio_id id, int32_t which,
                            int32_t size);
/* Raw getsockopt / setsockopt on the socket of a stream or listener, with
 * the OS's own level and name numbers. get returns the length written to
 * out. set refuses (AIO_EINVAL) the options that make a socket behave as a
 * blocking one (SO_RCVTIMEO, SO_SNDTIMEO; Windows SO_OPENTYPE): the loop
 * needs non-blocking sockets, and no option changes O_NONBLOCK/FIONBIO. */
int32_t aio_sockopt_get(aio_loop *loop, aio_id id, int32_t level,
                        int32_t name, uint8_t *out, int32_t cap);
int32_t aio_sockopt_set(aio_loop *loop, aio_id id, int32_t level,
                        int32_t name, const uint8_t *value, int32_t len);
/* Adopts an inherited listening socket (systemd's LISTEN_FDS, a socket a
 * parent process duplicated); same ownership rule as aio_tcp_adopt. A
 * socket that is not listening is refused with AIO_EINVAL. accepts: as
 * aio_tcp_listen. */
int32_t aio_tcp_adopt_listener(aio_loop *loop, uint64_t os_handle,
                               int32_t accepts);
/* Closes an OS handle that no loop owns (an accepted socket that was
 * refused, an unadopted pipe end). kind: 0 socket, 1 pipe/file. */
int32_t aio_os_close(uint64_t os_handle, int32_t kind);

/* Name resolution; blocking, so bind it nonblocking. out holds cap
 * aio_addr entries; err_out gets [code, os_error]. Returns the count. */
int32_t aio_resolve(const char *host, int32_t family, aio_addr *out,
                    int32_t cap, int32_t *err_out);

/* Pipes. */
/* out: [read end, write end] as OS handles; err_out as above. */
int32_t aio_pipe_pair(uint64_t *out, int32_t *err_out);
/* Same ownership rule as aio_tcp_adopt. */
int32_t aio_pipe_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags);
/* path: UTF-8, NUL-terminated. backlog: pending connections the OS keeps
 * while the listener is paused (Linux listen(2); Windows keeps at most its
 * own small queue of connected instances and creates no new one). */
int32_t aio_pipe_listen(aio_loop *loop, const char *path, int32_t backlog,
                        int32_t flags);
/* Connects at once or fails; AIO_EBUSY means retry later. */
int32_t aio_pipe_connect(aio_loop *loop, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* AIO_H */

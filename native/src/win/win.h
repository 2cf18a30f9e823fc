/*
 * win.h - what the IOCP backend's files share.
 *
 * Every OS operation in flight is a win_op owned by its handle, with the
 * OVERLAPPED first: a completion packet hands back &op->ov, which is the op
 * (docs/DESIGN.md, rule "An operation's memory outlives its packet"). A
 * handle counts its ops in flight; a released
 * handle (LIFE_DEAD) is freed only when that count is back at zero, because
 * until then the kernel may still write into its OVERLAPPEDs and buffers.
 */
#ifndef AIO_WIN_H
#define AIO_WIN_H

/* Winsock first (with the Windows version the backend needs). */
#include "../net.h"

#include <windows.h>
#include <mswsock.h>

/* Wine completes cancelled socket operations with this instead of 995. */
#ifndef ERROR_HANDLES_CLOSED
#define ERROR_HANDLES_CLOSED 676L
#endif

#define WIN_PIPE_BUFFER (64 * 1024)
/* AcceptEx wants room for each address plus 16 bytes. */
#define WIN_ACCEPT_ADDR_LEN ((DWORD)sizeof(SOCKADDR_STORAGE) + 16)
/* Connected pipe instances a listener keeps before it stops listening. */
#define WIN_PIPE_ACCEPT_QUEUE 32

typedef enum win_op_type {
  OP_READ = 1,     /* zero-byte WSARecv, or ReadFile into the pipe buffer */
  OP_WRITE,        /* WSASend / WriteFile over the queue head */
  OP_CONNECT,      /* ConnectEx */
  OP_ACCEPT,       /* AcceptEx (a win_accept) */
  OP_PIPE_CONNECT  /* ConnectNamedPipe on a pipe listener's instance */
} win_op_type;

typedef struct win_handle win_handle;

typedef struct win_op {
  OVERLAPPED ov;     /* first: the packet's OVERLAPPED pointer is the op */
  win_op_type type;
  int posted;        /* a packet will come for it */
  win_handle *owner;
} win_op;

struct win_handle {
  aio_handle base;
  int32_t inflight; /* ops posted whose packet is not yet harvested */
};

/* KIND_STREAM (socket) and KIND_PIPE (pipe end). */
typedef struct win_stream {
  win_handle w;
  SOCKET sock;    /* sockets: the socket, else INVALID_SOCKET */
  HANDLE file;    /* pipes: the pipe handle, else INVALID_HANDLE_VALUE */
  win_op read_op;
  win_op write_op;
  win_op connect_op;
  /* With h->read == READ_FINAL_SEEN: the failure a read completion
   * reported, or 0 when it said EOF (pipes). */
  int32_t read_os_error;
  int32_t connect_os_error; /* with CONNECT_DONE: the result of ConnectEx */
  uint32_t buf_start;    /* pipes: unread bytes buf[buf_start, buf_end) */
  uint32_t buf_end;
  uint8_t buf[];         /* pipes: WIN_PIPE_BUFFER bytes, sockets: none */
} win_stream;

/* One AcceptEx in flight, with its pre-created socket. */
typedef struct win_accept {
  win_op op;
  SOCKET sock;
  char addrs[2 * WIN_ACCEPT_ADDR_LEN];
} win_accept;

/* KIND_LISTENER. */
typedef struct win_listener {
  win_handle w;
  SOCKET sock;
  int family;
  LPFN_ACCEPTEX acceptex;
  enum aio_error accept_error; /* waiting for ACCEPT_ERROR, or AIO_OK */
  int32_t accept_os_error;
  int32_t count;        /* ops[] entries */
  int32_t posted;       /* ops with an AcceptEx in flight */
  SOCKET *fifo;         /* accepted sockets not yet reported, in order */
  int32_t fifo_head;
  int32_t fifo_count;
  win_accept ops[];     /* followed in the same block by fifo[count] */
} win_listener;

/* The security descriptor of named pipe instances: an explicit DACL for
 * the current user and SYSTEM (never a NULL descriptor: docs/DESIGN.md,
 * rule "Named pipes admit only their owner"). Absolute
 * format with all its parts inside, so it must never move once built. */
typedef struct win_pipe_sd {
  SECURITY_ATTRIBUTES sa;
  SECURITY_DESCRIPTOR sd;
  DWORD acl[128];
  DWORD user_sid[SECURITY_MAX_SID_SIZE / sizeof(DWORD) + 1];
  DWORD system_sid[SECURITY_MAX_SID_SIZE / sizeof(DWORD) + 1];
} win_pipe_sd;

/* KIND_PIPE_LISTENER. */
typedef struct win_pipe_listener {
  win_handle w;
  win_op op;          /* ConnectNamedPipe on inst */
  HANDLE inst;        /* the listening instance, or INVALID_HANDLE_VALUE */
  enum aio_error accept_error; /* waiting for ACCEPT_ERROR, or AIO_OK */
  int32_t accept_os_error;
  HANDLE fifo[WIN_PIPE_ACCEPT_QUEUE]; /* connected instances, in order */
  int32_t fifo_head;
  int32_t fifo_count;
  /* The modes the first instance was created with, kept so that the C
   * test (native/test/unit_pipe_modes.c) can check them: no API reads them
   * back from a pipe handle. */
  DWORD open_mode;
  DWORD pipe_mode;
  win_pipe_sd sd;
  WCHAR name[];
} win_pipe_listener;

/* The operations of one kind of handle: the only place that tells the
 * kinds apart is dispatch.c, which looks them up here (libuv's win/core.c
 * plays that role with switches; one table keeps it in one place). */
typedef struct win_kind_ops {
  /* A packet for one of its ops came (never for a released handle). */
  void (*complete)(aio_loop *loop, win_op *op, DWORD bytes, DWORD err);
  /* Its dispatch turn; nonzero when it still has work. */
  int (*process)(aio_loop *loop, aio_handle *h);
  /* Closes it now (AIO_CLOSE_ABORT or AIO_CLOSE_NOW; listeners: either). */
  int32_t (*close)(aio_loop *loop, aio_handle *h, int32_t mode);
  /* JS resumed reading (streams) or accepting (listeners). */
  int32_t (*read_start)(aio_loop *loop, aio_handle *h);
  /* Its socket, for aio_address; 0 when it has none. */
  int (*socket)(const aio_handle *h, SOCKET *out);
} win_kind_ops;

/* Registry of pipe instances a loop's pipe listeners handed out (pipe.c);
 * the loop keeps it, pipe.c alone reads and writes it. */
typedef struct win_handed {
  HANDLE *items;
  uint32_t count;
  uint32_t cap;
} win_handed;

/* loop.c: the port, the wait, the harvest. */
int32_t win_startup(int32_t *os_error);
win_handed *win_loop_handed(aio_loop *loop);
/* Associates an OS handle with the loop's port, in skip-on-success mode;
 * returns 0 or the Win32 error. */
DWORD win_associate(aio_loop *loop, HANDLE os);
/* win_associate for a handle the caller owns (adopt): on failure the
 * handle is not associated and still the caller's. Returns 0 or a negated
 * aio_error: AIO_EEXIST when a port (this one or another) has it already. */
int32_t win_adopt_associate(aio_loop *loop, HANDLE os);
/* Undoes an association (Windows 8.1 and later); nonzero when done. */
int win_dissociate(HANDLE os);
/* Marks op as posted (one more packet to come for its owner). */
void win_op_post(win_op *op);
/* The start call did not pend: no packet will come. */
void win_op_unpost(win_op *op);
/* Frees a released handle once its last packet is in. */
void win_handle_free_if_drained(win_handle *w);

/* dispatch.c: the operations of h's kind. */
const win_kind_ops *win_ops(const aio_handle *h);

/* errors.c */
/* loop_fail for a Win32 / Winsock error. */
int32_t win_fail(aio_loop *loop, DWORD err);
/* The mappings that depend on the call (positive codes). */
enum aio_error win_error_read(DWORD err); /* reads: ECONNABORTED is a reset */
enum aio_error win_error_resolve(int err);      /* GetAddrInfoW */
enum aio_error win_error_name(DWORD err);       /* MultiByteToWideChar */
enum aio_error win_error_associate(DWORD err);  /* CreateIoCompletionPort */
enum aio_error win_error_pipe_listen(DWORD err); /* the first instance */
int win_is_cancel(DWORD err);
int win_is_pipe_eof(DWORD err);

/* stream.c: sockets and pipe ends once they exist. */
extern const win_kind_ops win_stream_ops;
win_stream *win_stream_new(aio_loop *loop, handle_kind kind, uint32_t flags);
int32_t win_stream_close(aio_loop *loop, win_stream *s, int32_t mode);

/* tcp.c: TCP listeners (AcceptEx), connect (ConnectEx), adopt. */
extern const win_kind_ops win_listener_ops;

/* pipe.c: pipe pairs, adopted ends, named endpoints (listeners). */
extern const win_kind_ops win_pipe_listener_ops;
/* Pipe instances this loop associated with its port and reported as
 * ACCEPTED: adopting one into this loop must not associate it again. */
int32_t win_handed_add(aio_loop *loop, HANDLE h);
int win_handed_take(aio_loop *loop, HANDLE h);
void win_handed_free(win_handed *r);

#endif /* AIO_WIN_H */

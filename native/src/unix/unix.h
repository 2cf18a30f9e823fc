/*
 * unix.h - what the epoll backend's files share.
 */
#ifndef AIO_UNIX_H
#define AIO_UNIX_H

#include "../internal.h"

/* The send buffer of the library's Unix domain sockets (docs/DESIGN.md,
 * "Unix socket buffers"). Linux doubles it: 1 MiB, the default high water
 * mark of a send queue. */
#define UNIX_SOCKET_SEND_BUFFER (512 * 1024)

typedef struct unix_handle {
  aio_handle base;
  int fd;
  int is_socket;
  char *path; /* a Unix socket listener's file, removed on close */
} unix_handle;

/* loop.c */
/* Adds the fd to the epoll set; 0, or a negated code with *os_error. */
int32_t unix_register(aio_loop *loop, unix_handle *u, uint32_t events,
                      int32_t *os_error);
void unix_unregister(aio_loop *loop, unix_handle *u);
/* tcp.c */
int unix_listener_process(aio_loop *loop, unix_handle *u);
/* pipe.c: sets fd's send buffer (SO_SNDBUF), best effort. */
void unix_socket_send_buffer(int fd, int32_t size);
/* stream.c */
int32_t unix_stream_close(aio_loop *loop, unix_handle *u, int32_t mode);
/* A new handle for an fd the caller owns, made O_NONBLOCK and FD_CLOEXEC;
 * on failure the fd is untouched (flags too) and still the caller's. */
int32_t unix_handle_adopt(aio_loop *loop, int fd, handle_kind kind,
                          uint32_t flags, unix_handle **out);
/* The same for an fd the library accepted itself (already non-blocking and
 * close-on-exec): registered as it is; on failure still the caller's. */
int32_t unix_handle_take(aio_loop *loop, int fd, handle_kind kind,
                         uint32_t flags, unix_handle **out);
/* The same for an fd the library created non-blocking and close-on-exec:
 * on failure it is closed. */
int32_t unix_handle_wrap(aio_loop *loop, int fd, handle_kind kind,
                         uint32_t flags, unix_handle **out);
/* errors.c */
/* loop_fail for an errno: maps it, keeps it for aio_loop_os_error. */
int32_t unix_fail(aio_loop *loop, int err);
/* The same after closing fd (a socket of the call that failed). */
int32_t unix_fail_fd(aio_loop *loop, int fd, int err);
/* The mappings that depend on the call (positive codes). */
enum aio_error unix_error_register(int err); /* epoll_ctl */
enum aio_error unix_error_pipe_connect(int err); /* connect(AF_UNIX) */
/* A getaddrinfo failure: negated code, *os_error set. */
int32_t unix_resolve_fail(int eai, int32_t *os_error);

#endif /* AIO_UNIX_H */

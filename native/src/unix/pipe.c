/*
 * pipe.c - pipes on Linux: pipe2 pairs, adopted fds, and named endpoints,
 * which are Unix domain sockets with owner-only permissions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix.h"

int32_t backend_pipe_pair(uint64_t *out, int32_t *os_error) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return error_out(errno, os_error);
  out[0] = (uint64_t)fds[0];
  out[1] = (uint64_t)fds[1];
  return 0;
}

int32_t backend_pipe_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags) {
  int fd = (int)os_handle;
  struct stat st;
  uint32_t hf = 0;
  unix_handle *u;
  int32_t r;
  if (os_handle > INT32_MAX) return loop_fail(loop, AIO_EBADF, EBADF);
  if (flags & AIO_F_ACCEPTED) {
    /* A Unix socket our own accept4 made: as for TCP (tcp.c). */
    r = unix_handle_take(loop, fd, KIND_PIPE,
                         H_READ_END | H_WRITE_END | H_WRITABLE, &u);
    if (r >= 0) u->is_socket = 1;
    return r;
  }
  if (fstat(fd, &st) < 0) return unix_fail(loop, errno);
  /* epoll cannot watch regular files or directories: a kind of fd this
   * library does not support (as epoll's EPERM below says for others). */
  if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode))
    return loop_fail(loop, AIO_ENOTSUP, 0);
  if (flags & AIO_F_READABLE) hf |= H_READ_END;
  if (flags & AIO_F_WRITABLE) hf |= H_WRITE_END | H_WRITABLE;
  /* Character devices epoll cannot poll fail here, with ENOTSUP. */
  r = unix_handle_adopt(loop, fd, KIND_PIPE, hf, &u);
  if (r >= 0) u->is_socket = S_ISSOCK(st.st_mode);
  return r;
}

void unix_socket_send_buffer(int fd, int32_t size) {
  int v = (int)size;
  /* Best effort: a refusal leaves the OS's default, which works, only with
   * more wake-ups; Linux caps the value at wmem_max silently. */
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, (socklen_t)sizeof v);
}

static int32_t pipe__sockaddr(const char *path, struct sockaddr_un *sa,
                          socklen_t *len) {
  size_t n = strlen(path);
  if (n >= sizeof sa->sun_path) return -AIO_ENAMETOOLONG;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

/* A socket file nobody listens on is left behind by a crashed server: it
 * may be replaced. Anything else at the path is never removed. */
static int pipe__is_stale_socket(const struct sockaddr_un *sa, socklen_t len) {
  struct stat st;
  int fd, stale;
  if (lstat(sa->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) return 0;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return 0;
  stale = connect(fd, (const struct sockaddr *)sa, len) < 0 &&
          errno == ECONNREFUSED;
  close(fd);
  return stale;
}

int32_t backend_pipe_listen(aio_loop *loop, const char *path,
                            int32_t backlog, int32_t flags) {
  struct sockaddr_un sa;
  socklen_t len;
  int fd, r;
  unix_handle *u;
  int32_t id;
  AIO_UNUSED(flags);
  r = pipe__sockaddr(path, &sa, &len);
  if (r < 0) return loop_fail(loop, (enum aio_error)-r, 0);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return unix_fail(loop, errno);
  /* Linux creates the socket file with the socket inode's mode: set it
   * before bind, so there is no moment where others may connect. */
  if (fchmod(fd, S_IRUSR | S_IWUSR) < 0) return unix_fail_fd(loop, fd, errno);
  r = bind(fd, (struct sockaddr *)&sa, len);
  if (r < 0 && errno == EADDRINUSE && pipe__is_stale_socket(&sa, len)) {
    unlink(sa.sun_path);
    r = bind(fd, (struct sockaddr *)&sa, len);
  }
  if (r < 0) return unix_fail_fd(loop, fd, errno);
  if (chmod(sa.sun_path, S_IRUSR | S_IWUSR) < 0 || listen(fd, backlog) < 0) {
    int e = errno;
    unlink(sa.sun_path);
    return unix_fail_fd(loop, fd, e);
  }
  id = unix_handle_wrap(loop, fd, KIND_LISTENER, H_READING, &u);
  if (id < 0) {
    unlink(sa.sun_path);
    return id;
  }
  u->is_socket = 1;
  /* An accepted Unix socket does not inherit the listener's buffers. */
  u->base.accept_opts.send_buffer = UNIX_SOCKET_SEND_BUFFER;
  u->path = strdup(sa.sun_path);
  return id;
}

int32_t backend_pipe_connect(aio_loop *loop, const char *path) {
  struct sockaddr_un sa;
  socklen_t len;
  int fd, r;
  unix_handle *u;
  int32_t id;
  r = pipe__sockaddr(path, &sa, &len);
  if (r < 0) return loop_fail(loop, (enum aio_error)-r, 0);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return unix_fail(loop, errno);
  unix_socket_send_buffer(fd, UNIX_SOCKET_SEND_BUFFER);
  if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
    int e = errno;
    close(fd);
    return loop_fail(loop, unix_error_pipe_connect(e), e);
  }
  id = unix_handle_wrap(loop, fd, KIND_PIPE,
                        H_READ_END | H_WRITE_END | H_WRITABLE, &u);
  if (id >= 0) u->is_socket = 1;
  return id;
}

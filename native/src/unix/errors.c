/*
 * errors.c - egress point: errno values (and getaddrinfo's EAI codes)
 * become library errors here and nowhere else (docs/DESIGN.md, "The error
 * idiom"): the general table, then the few mappings that depend on which
 * call failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <unistd.h>

#include "unix.h"

enum aio_error error_from_os(int32_t e) {
  switch (e) {
    case 0: return AIO_OK;
    case EINVAL: return AIO_EINVAL;
    case ENOMEM: case ENOBUFS: return AIO_ENOMEM;
    case EAGAIN: return AIO_EAGAIN;
    case EADDRINUSE: return AIO_EADDRINUSE;
    case EADDRNOTAVAIL: return AIO_EADDRNOTAVAIL;
    case ECONNREFUSED: return AIO_ECONNREFUSED;
    case ECONNRESET: return AIO_ECONNRESET;
    case ECONNABORTED: return AIO_ECONNABORTED;
    case ETIMEDOUT: return AIO_ETIMEDOUT;
    case ENOENT: return AIO_ENOENT;
    case EACCES: case EPERM: return AIO_EACCES;
    case EPIPE: return AIO_EPIPE;
    case ECANCELED: return AIO_ECANCELED;
    case ENETUNREACH: case ENETDOWN: return AIO_ENETUNREACH;
    case EHOSTUNREACH: case EHOSTDOWN: return AIO_EHOSTUNREACH;
    case EBUSY: return AIO_EBUSY;
    case EOPNOTSUPP: case EPROTONOSUPPORT: return AIO_ENOTSUP;
    case EMFILE: case ENFILE: return AIO_EMFILE;
    case EEXIST: return AIO_EEXIST;
    case ENOTCONN: return AIO_ENOTCONN;
    case EBADF: case ENOTSOCK: return AIO_EBADF;
    case ENAMETOOLONG: return AIO_ENAMETOOLONG;
    case EAFNOSUPPORT: return AIO_EAFNOSUPPORT;
    default: return AIO_EIO;
  }
}

int32_t unix_fail(aio_loop *loop, int err) {
  return loop_fail(loop, error_from_os(err), err);
}

int32_t unix_fail_fd(aio_loop *loop, int fd, int err) {
  if (fd >= 0) close(fd);
  return unix_fail(loop, err);
}

enum aio_error unix_error_register(int e) {
  /* epoll refuses files it cannot poll (regular files, /dev/null) with
   * EPERM: a kind of fd this library does not support, not a missing
   * permission. */
  return e == EPERM ? AIO_ENOTSUP : error_from_os(e);
}

enum aio_error unix_error_pipe_connect(int e) {
  /* A full backlog of a Unix socket: the server is busy, as
   * ERROR_PIPE_BUSY on Windows; JS retries. */
  return e == EAGAIN ? AIO_EBUSY : error_from_os(e);
}

int32_t unix_resolve_fail(int eai, int32_t *os_error) {
  enum aio_error code;
  if (eai == EAI_SYSTEM) return error_out(errno, os_error);
  switch (eai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      code = AIO_ENOTFOUND;
      break;
    case EAI_AGAIN: code = AIO_EAGAIN; break;
    case EAI_FAMILY: code = AIO_EAFNOSUPPORT; break;
    case EAI_MEMORY: code = AIO_ENOMEM; break;
    default: code = AIO_ENOTFOUND; break;
  }
  /* The EAI value is what the OS said: it goes out as the os_error. */
  *os_error = eai;
  return -(int32_t)code;
}

/*
 * errors.c - egress point: errno values become library errors here and
 * nowhere else.
 */
#include <errno.h>
#include <unistd.h>

#include "unix.h"

int32_t error_from_os(int32_t e) {
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

/*
 * errors.c - egress point: Win32 and Winsock error values become library
 * errors here and nowhere else. Completed operations carry an NTSTATUS,
 * which loop.c turns into a Win32 value first (RtlNtStatusToDosError), so
 * both spellings of one failure appear below (WSAECONNREFUSED from a start
 * call, ERROR_CONNECTION_REFUSED from a completion). After the general
 * table come the mappings that depend on which call failed
 * (docs/DESIGN.md, "The error idiom").
 */
#include "win.h"

enum aio_error error_from_os(int32_t e) {
  switch (e) {
    case 0: return AIO_OK;
    case ERROR_INVALID_PARAMETER: case WSAEINVAL: case WSAEFAULT:
    case ERROR_INVALID_FUNCTION:
      return AIO_EINVAL;
    case ERROR_NOT_ENOUGH_MEMORY: case ERROR_OUTOFMEMORY: case WSAENOBUFS:
    case ERROR_NO_SYSTEM_RESOURCES:
      return AIO_ENOMEM;
    case WSAEWOULDBLOCK: case WSATRY_AGAIN: return AIO_EAGAIN;
    case WSAEADDRINUSE: case ERROR_ADDRESS_ALREADY_ASSOCIATED:
      return AIO_EADDRINUSE;
    case WSAEADDRNOTAVAIL: case ERROR_INVALID_NETNAME:
      return AIO_EADDRNOTAVAIL;
    case WSAECONNREFUSED: case ERROR_CONNECTION_REFUSED:
      return AIO_ECONNREFUSED;
    case WSAECONNRESET: case ERROR_NETNAME_DELETED: return AIO_ECONNRESET;
    case WSAECONNABORTED: case ERROR_CONNECTION_ABORTED:
      return AIO_ECONNABORTED;
    case WSAETIMEDOUT: case ERROR_SEM_TIMEOUT: return AIO_ETIMEDOUT;
    case ERROR_FILE_NOT_FOUND: case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME: case ERROR_BAD_PATHNAME:
      return AIO_ENOENT;
    case ERROR_ACCESS_DENIED: case WSAEACCES: case ERROR_PRIVILEGE_NOT_HELD:
      return AIO_EACCES;
    case ERROR_BROKEN_PIPE: case ERROR_NO_DATA: case ERROR_PIPE_NOT_CONNECTED:
    case ERROR_BAD_PIPE: case ERROR_HANDLE_EOF: case WSAESHUTDOWN:
      return AIO_EPIPE;
    case ERROR_OPERATION_ABORTED: case ERROR_HANDLES_CLOSED: case WSAEINTR:
      return AIO_ECANCELED;
    case WSAENETUNREACH: case ERROR_NETWORK_UNREACHABLE: case WSAENETDOWN:
      return AIO_ENETUNREACH;
    case WSAEHOSTUNREACH: case ERROR_HOST_UNREACHABLE: case WSAEHOSTDOWN:
      return AIO_EHOSTUNREACH;
    case ERROR_PIPE_BUSY: case ERROR_SHARING_VIOLATION: return AIO_EBUSY;
    case WSAEOPNOTSUPP: case WSAEPROTONOSUPPORT: case WSAESOCKTNOSUPPORT:
    case ERROR_NOT_SUPPORTED:
      return AIO_ENOTSUP;
    case WSAEMFILE: case ERROR_TOO_MANY_OPEN_FILES: return AIO_EMFILE;
    case WSAHOST_NOT_FOUND: case WSANO_DATA: return AIO_ENOTFOUND;
    case ERROR_FILE_EXISTS: case ERROR_ALREADY_EXISTS: return AIO_EEXIST;
    case WSAENOTCONN: return AIO_ENOTCONN;
    case WSAENOTSOCK: case ERROR_INVALID_HANDLE: case WSAEBADF:
      return AIO_EBADF;
    case WSAENAMETOOLONG: case ERROR_FILENAME_EXCED_RANGE:
      return AIO_ENAMETOOLONG;
    case WSAEAFNOSUPPORT: case WSAEPFNOSUPPORT: return AIO_EAFNOSUPPORT;
    default: return AIO_EIO;
  }
}

int32_t win_fail(aio_loop *loop, DWORD err) {
  /* The loop keeps the raw OS value for aio_loop_os_error. */
  return loop_fail(loop, error_from_os((int32_t)err), (int32_t)err);
}

enum aio_error win_error_read(DWORD err) {
  /* An aborted connection is a reset one, for reads. */
  enum aio_error code = error_from_os((int32_t)err);
  return code == AIO_ECONNABORTED ? AIO_ECONNRESET : code;
}

enum aio_error win_error_resolve(int err) {
  switch (err) {
    case WSAHOST_NOT_FOUND:
    case WSANO_DATA:
    case WSANO_RECOVERY:
      return AIO_ENOTFOUND;
    case WSATRY_AGAIN: return AIO_EAGAIN;
    default: return error_from_os(err);
  }
}

enum aio_error win_error_name(DWORD err) {
  /* A name that did not convert to UTF-16: too long, or not UTF-8. */
  return err == ERROR_INSUFFICIENT_BUFFER ? AIO_ENAMETOOLONG : AIO_EINVAL;
}

enum aio_error win_error_associate(DWORD err) {
  /* A handle belongs to one port for life: this loop's (it was adopted
   * already) or another's. Either way it is someone else's. */
  if (err == ERROR_INVALID_PARAMETER) return AIO_EEXIST;
  return error_from_os((int32_t)err);
}

enum aio_error win_error_pipe_listen(DWORD err) {
  /* A refused first instance: someone serves the name already. */
  if (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY)
    return AIO_EADDRINUSE;
  return error_from_os((int32_t)err);
}

int win_is_cancel(DWORD err) {
  return err == ERROR_OPERATION_ABORTED || err == ERROR_HANDLES_CLOSED;
}

int win_is_pipe_eof(DWORD err) {
  return err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF ||
         err == ERROR_PIPE_NOT_CONNECTED;
}

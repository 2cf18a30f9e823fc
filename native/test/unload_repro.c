/*
 * unload_repro.c - issue 16 without @eve/aio: a tiny blocking echo server
 * or client (a named pipe on Windows, a Unix socket elsewhere) whose echo
 * loop runs as a Deno `nonblocking` FFI call, on one of Deno's pool threads.
 *
 * tools/repro_unload.sh builds it and runs native/test/unload_repro_test.ts:
 * a node:net client talks to it (or it dials a node:net server), the test
 * passes, and the node:net end stays open into deno's teardown. Deno then
 * frees this library while repro_echo is still blocked in ReadFile/read,
 * closes the node:net end, and the read returns into unmapped code:
 * deno.exe ends with c0000409, Linux deno with SIGSEGV. With repro_pin()
 * called first the library stays mapped and deno exits 0: the workaround
 * the real library uses.
 *
 * Not part of the library or the test suite; no aio header is included.
 */
#ifndef _WIN32
#define _GNU_SOURCE /* dladdr */
#endif
#include <stdint.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#define REPRO_EXPORT __declspec(dllexport)
#else
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#define REPRO_EXPORT __attribute__((visibility("default")))
#endif

static const char repro__anchor = 0;

/* Creates the endpoint; returns its OS handle, or -1. */
REPRO_EXPORT int64_t repro_listen(const char *path) {
#ifdef _WIN32
  /* Synchronous, byte mode, one instance: nothing like our own pipes. */
  HANDLE h = CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX,
                              PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
                              1, 4096, 4096, 0, NULL);
  return h == INVALID_HANDLE_VALUE ? -1 : (int64_t)(intptr_t)h;
#else
  struct sockaddr_un a;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0) {
    close(fd);
    return -1;
  }
  return fd;
#endif
}

/* Connects to the endpoint; returns the OS handle, or -1. */
REPRO_EXPORT int64_t repro_dial(const char *path) {
#ifdef _WIN32
  HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                         OPEN_EXISTING, 0, NULL);
  return h == INVALID_HANDLE_VALUE ? -1 : (int64_t)(intptr_t)h;
#else
  struct sockaddr_un a;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
#endif
}

/* Blocks: takes one client first when os is a listener, then echoes until
 * the peer goes; returns the bytes echoed. Called nonblocking, it runs on
 * a Deno pool thread. */
REPRO_EXPORT int32_t repro_echo(int64_t os, int32_t listener) {
  char buf[4096];
  int32_t total = 0;
#ifdef _WIN32
  HANDLE h = (HANDLE)(intptr_t)os;
  DWORD n, w;
  if (listener && !ConnectNamedPipe(h, NULL) &&
      GetLastError() != ERROR_PIPE_CONNECTED)
    return -1;
  while (ReadFile(h, buf, sizeof buf, &n, NULL) && n > 0) {
    if (!WriteFile(h, buf, n, &w, NULL)) break;
    total += (int32_t)n;
  }
#else
  ssize_t n;
  int c = listener ? accept((int)os, NULL, NULL) : (int)os;
  if (c < 0) return -1;
  while ((n = read(c, buf, sizeof buf)) > 0) {
    if (write(c, buf, (size_t)n) != n) break;
    total += (int32_t)n;
  }
#endif
  return total;
}

/* Keeps this library mapped until the process ends; 0 on success. */
REPRO_EXPORT int32_t repro_pin(void) {
#ifdef _WIN32
  HMODULE self;
  return GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_PIN,
                            (LPCWSTR)(const void *)&repro__anchor, &self)
             ? 0
             : -1;
#else
  /* RTLD_NODELETE on a library that is loaded already: dlclose keeps it. */
  Dl_info info;
  if (!dladdr(&repro__anchor, &info)) return -1;
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) ? 0
                                                                        : -1;
#endif
}

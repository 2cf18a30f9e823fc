/*
 * loop.c - the IOCP half of a loop: one completion port, the raw entries a
 * wait harvested, and the walk that turns them into handle state.
 *
 * Threads (docs/DESIGN.md, rule "The waiting thread only harvests"):
 * backend_loop_wait may run on a pool
 * thread; it only fills entries[] and count and touches no handle. The
 * harvest, every start call and every close run on the loop's JS thread,
 * so the handles need no lock.
 */
#include "win.h"

#include <string.h>
#include <winternl.h>

#define ENTRY_CAPACITY 1024
/* How long aio_loop_free waits for the operations of closed handles. */
#define DRAIN_LIMIT_MS 2000

struct backend_loop {
  HANDLE port;
  ULONG count; /* harvested entries not yet walked */
  win_handed handed; /* pipe.c's */
  OVERLAPPED_ENTRY entries[ENTRY_CAPACITY];
};

win_handed *win_loop_handed(aio_loop *loop) { return &loop->backend->handed; }

AIO_EXPORT int32_t aio_backend(void) { return AIO_BACKEND_IOCP; }

static INIT_ONCE loop__once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK loop__startup(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  WSADATA data;
  int r = WSAStartup(MAKEWORD(2, 2), &data);
  AIO_UNUSED(once);
  AIO_UNUSED(ctx);
  *(int *)param = r;
  /* FALSE leaves the once untouched, so a later call tries again. */
  return r == 0;
}

int32_t win_startup(int32_t *os_error) {
  int r = 0;
  if (InitOnceExecuteOnce(&loop__once, loop__startup, &r, NULL)) return 0;
  if (r == 0) r = (int)GetLastError();
  return error_out(r, os_error);
}

int32_t backend_loop_init(aio_loop *loop, int32_t *os_error) {
  backend_loop *b;
  int32_t r = win_startup(os_error);
  if (r < 0) return r;
  b = calloc(1, sizeof *b);
  if (!b) return -AIO_ENOMEM;
  /* One thread waits on the port at a time. */
  b->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  if (!b->port) {
    DWORD e = GetLastError();
    free(b);
    return error_out((int32_t)e, os_error);
  }
  loop->backend = b;
  return 0;
}

int32_t backend_loop_wait(aio_loop *loop, int32_t timeout_ms) {
  backend_loop *b = loop->backend;
  ULONG n = 0;
  /* Entries not yet harvested must not be overwritten. */
  if (b->count > 0) return (int32_t)b->count;
  if (!GetQueuedCompletionStatusEx(b->port, b->entries, ENTRY_CAPACITY, &n,
                                   timeout_ms < 0 ? INFINITE
                                                  : (DWORD)timeout_ms,
                                   FALSE)) {
    DWORD e = GetLastError();
    if (e == WAIT_TIMEOUT) return 0;
    /* On the wait's thread: the loop is not written (no os_error). */
    return -(int32_t)error_from_os((int32_t)e);
  }
  b->count = n;
  return (int32_t)n;
}

int32_t backend_loop_nap(aio_loop *loop, int32_t us) {
  /* A timed wait ends on the timer's tick, 15.6 ms by default on Windows:
   * far past the spin's bound. Under Wine (a 1 ms tick) a GQCS with a
   * timeout was tried in place of the polls and measured slower (ping-pong
   * 0.54x of deno.exe against 0.73-0.87x, session 5): the spin polls. */
  AIO_UNUSED(loop);
  AIO_UNUSED(us);
  return -AIO_ENOTSUP;
}

uint64_t backend_clock_us(void) {
  LARGE_INTEGER freq, now;
  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  return (uint64_t)(now.QuadPart / freq.QuadPart) * 1000000u +
         (uint64_t)(now.QuadPart % freq.QuadPart) * 1000000u /
             (uint64_t)freq.QuadPart;
}

int32_t backend_loop_wake(aio_loop *loop) {
  /* A NULL OVERLAPPED is never an operation: the harvest skips it. */
  if (!PostQueuedCompletionStatus(loop->backend->port, 0, 0, NULL)) {
    /* Any thread may wake: the loop is not written (no os_error). */
    return -(int32_t)error_from_os((int32_t)GetLastError());
  }
  return 0;
}

/* The result of a completed operation lives in the OVERLAPPED as an
 * NTSTATUS (docs/DESIGN.md, "The error idiom"); 0 .. 0x7fffffff are
 * success codes. */
static DWORD loop__status(const win_op *op) {
  DWORD st = (DWORD)op->ov.Internal;
  if (st < 0x80000000u) return 0;
  return RtlNtStatusToDosError((NTSTATUS)st);
}

void win_handle_free_if_drained(win_handle *w) {
  /* The kernel is done with every OVERLAPPED and buffer of the handle. */
  if (w->base.life == LIFE_DEAD && w->inflight == 0) handle_destroy(&w->base);
}

void backend_loop_harvest(aio_loop *loop) {
  backend_loop *b = loop->backend;
  ULONG i;
  for (i = 0; i < b->count; i++) {
    const OVERLAPPED_ENTRY *e = &b->entries[i];
    win_op *op;
    win_handle *w;
    DWORD err;
    /* A wake-up: its only job was to end the wait. */
    if (!e->lpOverlapped) continue;
    op = (win_op *)e->lpOverlapped;
    w = op->owner;
    err = loop__status(op);
    op->posted = 0;
    w->inflight--;
    if (w->base.life == LIFE_DEAD) {
      /* Closed while in flight: nobody waits for the result any more. */
      win_handle_free_if_drained(w);
      continue;
    }
    win_ops(&w->base)->complete(loop, op, e->dwNumberOfBytesTransferred, err);
  }
  b->count = 0;
}

void backend_loop_free(aio_loop *loop) {
  backend_loop *b = loop->backend;
  ULONGLONG deadline = GetTickCount64() + DRAIN_LIMIT_MS;
  /* Every handle is released by now; the zombies' operations were
   * cancelled, and their packets must be seen before their memory can go
   * (docs/DESIGN.md, rule "An operation's memory outlives its packet"). A
   * zombie still draining at the deadline is leaked rather than freed
   * under the kernel's feet. */
  backend_loop_harvest(loop);
  while (loop->zombies > 0) {
    ULONGLONG now = GetTickCount64();
    if (now >= deadline) break;
    if (backend_loop_wait(loop, (int32_t)(deadline - now)) < 0) break;
    backend_loop_harvest(loop);
  }
  CloseHandle(b->port);
  win_handed_free(&b->handed);
  free(b);
  loop->backend = NULL;
}

DWORD win_associate(aio_loop *loop, HANDLE os) {
  if (CreateIoCompletionPort(os, loop->backend->port, 0, 0) == NULL)
    return GetLastError();
  /* A start call that succeeds at once queues no packet, so every start
   * has three outcomes: done now, pending, error (docs/DESIGN.md, rule "A
   * start call has three outcomes"). */
  if (!SetFileCompletionNotificationModes(
          os, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                  FILE_SKIP_SET_EVENT_ON_HANDLE))
    return GetLastError();
  return 0;
}

/* FILE_INFORMATION_CLASS 61, FileReplaceCompletionInformation (Windows
 * 8.1 and later): with a NULL port it removes a handle's association. */
#define LOOP__REPLACE_COMPLETION_INFORMATION 61

typedef struct loop__completion_info {
  HANDLE port;
  void *key;
} loop__completion_info;

int win_dissociate(HANDLE os) {
  loop__completion_info info;
  IO_STATUS_BLOCK iosb;
  info.port = NULL;
  info.key = NULL;
  return NtSetInformationFile(
             os, &iosb, &info, sizeof info,
             (FILE_INFORMATION_CLASS)LOOP__REPLACE_COMPLETION_INFORMATION) >= 0;
}

int32_t win_adopt_associate(aio_loop *loop, HANDLE os) {
  DWORD e;
  if (CreateIoCompletionPort(os, loop->backend->port, 0, 0) == NULL) {
    e = GetLastError();
    return loop_fail(loop, win_error_associate(e), (int32_t)e);
  }
  if (!SetFileCompletionNotificationModes(
          os, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                  FILE_SKIP_SET_EVENT_ON_HANDLE)) {
    e = GetLastError();
    /* The caller keeps the handle: its completions must not come here. */
    win_dissociate(os);
    return win_fail(loop, e);
  }
  return 0;
}

void win_op_post(win_op *op) {
  memset(&op->ov, 0, sizeof op->ov);
  op->posted = 1;
  op->owner->inflight++;
}

void win_op_unpost(win_op *op) {
  op->posted = 0;
  op->owner->inflight--;
}

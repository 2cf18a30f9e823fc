/*
 * pipe.c - named pipes on IOCP: uniquely named pairs (anonymous pipes
 * cannot do overlapped I/O), adopted pipe handles, and named endpoints
 * (server instances + clients).
 *
 * A pipe end, once made, is a win_stream: stream.c reads and writes it
 * (ReadFile into its own buffer, one WriteFile at a time). This file only
 * makes ends and serves names; it calls into stream.c, never back.
 */
#include <string.h>

#include "win.h"

#include <winternl.h>

/* Reported pipe instances remembered for adoption. */
#define PIPE_HANDED_MAX 1024u

/* "\\.\pipe\" and at most 256 characters of name. */
#define PIPE_NAME_MAX (9 + 256 + 1)

static const WCHAR pipe__prefix[] = L"\\\\.\\pipe\\";

/* --- names and security ------------------------------------------------ */

typedef LONG(WINAPI *pipe__gen_random_fn)(void *alg, PUCHAR buf, ULONG len,
                                          ULONG flags);
static INIT_ONCE pipe__random_once = INIT_ONCE_STATIC_INIT;
static pipe__gen_random_fn pipe__gen_random;

static BOOL CALLBACK pipe__random_load(PINIT_ONCE once, PVOID param,
                                       PVOID *ctx) {
  HMODULE m = LoadLibraryExW(L"bcrypt.dll", NULL,
                             LOAD_LIBRARY_SEARCH_SYSTEM32);
  AIO_UNUSED(once);
  AIO_UNUSED(param);
  AIO_UNUSED(ctx);
  if (!m) return FALSE;
  pipe__gen_random = (pipe__gen_random_fn)(void (*)(void))GetProcAddress(
      m, "BCryptGenRandom");
  return pipe__gen_random != NULL;
}

/* CSPRNG bytes (BCryptGenRandom, loaded from System32 so that the DLL
 * links with ws2_32/mswsock/advapi32/ntdll only). */
static DWORD pipe__random(void *buf, ULONG len) {
  if (!InitOnceExecuteOnce(&pipe__random_once, pipe__random_load, NULL, NULL))
    return ERROR_PROC_NOT_FOUND;
  /* 2 = BCRYPT_USE_SYSTEM_PREFERRED_RNG: no algorithm handle needed. */
  if (pipe__gen_random(NULL, (PUCHAR)buf, len, 2) < 0) return ERROR_GEN_FAILURE;
  return 0;
}

static WCHAR *pipe__hex(WCHAR *p, const uint8_t *bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < n; i++) {
    *p++ = (WCHAR)digits[bytes[i] >> 4];
    *p++ = (WCHAR)digits[bytes[i] & 15];
  }
  return p;
}

/* \\.\pipe\aio-<pid>-<counter>-<128 random bits>: unguessable, so nobody
 * can create the name first or open the pair's server end (docs/DESIGN.md,
 * rule "Named pipes admit only their owner"). */
static DWORD pipe__unique_name(WCHAR *name) {
  static volatile LONG counter;
  uint8_t rnd[16];
  uint8_t be[4];
  DWORD pid = GetCurrentProcessId();
  DWORD seq = (DWORD)InterlockedIncrement(&counter);
  WCHAR *p = name;
  DWORD e = pipe__random(rnd, sizeof rnd);
  if (e) return e;
  memcpy(p, pipe__prefix, sizeof pipe__prefix - sizeof(WCHAR));
  p += sizeof pipe__prefix / sizeof(WCHAR) - 1;
  *p++ = L'a';
  *p++ = L'i';
  *p++ = L'o';
  *p++ = L'-';
  be[0] = (uint8_t)(pid >> 24), be[1] = (uint8_t)(pid >> 16);
  be[2] = (uint8_t)(pid >> 8), be[3] = (uint8_t)pid;
  p = pipe__hex(p, be, 4);
  *p++ = L'-';
  be[0] = (uint8_t)(seq >> 24), be[1] = (uint8_t)(seq >> 16);
  be[2] = (uint8_t)(seq >> 8), be[3] = (uint8_t)seq;
  p = pipe__hex(p, be, 4);
  *p++ = L'-';
  p = pipe__hex(p, rnd, sizeof rnd);
  *p = 0;
  return 0;
}

/* A DACL for the current user and SYSTEM, both GENERIC_ALL, nobody else:
 * never a NULL descriptor, and not the default one either (it grants
 * Everyone and anonymous read access). */
static DWORD pipe__sd_init(win_pipe_sd *p) {
  union {
    TOKEN_USER user;
    BYTE raw[sizeof(TOKEN_USER) + SECURITY_MAX_SID_SIZE];
  } tu;
  DWORD len = 0, e = 0;
  DWORD sid_len = sizeof p->system_sid;
  HANDLE token;
  PACL acl = (PACL)(void *)p->acl;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return GetLastError();
  if (!GetTokenInformation(token, TokenUser, &tu, sizeof tu, &len))
    e = GetLastError();
  CloseHandle(token);
  if (e) return e;
  if (!CopySid(sizeof p->user_sid, p->user_sid, tu.user.User.Sid) ||
      !CreateWellKnownSid(WinLocalSystemSid, NULL, p->system_sid, &sid_len) ||
      !InitializeAcl(acl, sizeof p->acl, ACL_REVISION) ||
      !AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, p->user_sid) ||
      !AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, p->system_sid) ||
      !InitializeSecurityDescriptor(&p->sd, SECURITY_DESCRIPTOR_REVISION) ||
      !SetSecurityDescriptorDacl(&p->sd, TRUE, acl, FALSE))
    return GetLastError();
  p->sa.nLength = sizeof p->sa;
  p->sa.lpSecurityDescriptor = &p->sd;
  p->sa.bInheritHandle = FALSE;
  return 0;
}

/* UTF-8 path to UTF-16; only names under \\.\pipe\ are accepted, so a
 * path can never open a file or device instead. */
static int32_t pipe__wide(const char *path, WCHAR *out, int cap) {
  int i, n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1,
                                 NULL, 0);
  if (n <= 0) return -AIO_EINVAL;
  if (n > cap) return -AIO_ENAMETOOLONG;
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, out, cap);
  for (i = 0; pipe__prefix[i]; i++) {
    WCHAR c = out[i];
    if (c >= L'A' && c <= L'Z') c = (WCHAR)(c - L'A' + L'a');
    if (c != pipe__prefix[i]) return -AIO_EINVAL;
  }
  if (!out[i]) return -AIO_EINVAL;
  /* The name after the prefix may hold anything but a backslash. */
  for (; out[i]; i++)
    if (out[i] == L'\\') return -AIO_EINVAL;
  return n;
}

/* --- handed-out instances ------------------------------------------------ */

int32_t win_handed_add(aio_loop *loop, HANDLE h) {
  win_handed *r = win_loop_handed(loop);
  if (r->count == PIPE_HANDED_MAX) {
    /* Handles JS closed without adopting stay here; forget the oldest. */
    memmove(r->items, r->items + 1, (PIPE_HANDED_MAX - 1) * sizeof *r->items);
    r->count--;
  }
  if (r->count == r->cap) {
    uint32_t cap = r->cap ? r->cap * 2 : 16;
    HANDLE *p = realloc(r->items, cap * sizeof *p);
    if (!p) return -AIO_ENOMEM;
    r->items = p;
    r->cap = cap;
  }
  r->items[r->count++] = h;
  return 0;
}

int win_handed_take(aio_loop *loop, HANDLE h) {
  win_handed *r = win_loop_handed(loop);
  uint32_t i;
  for (i = 0; i < r->count; i++) {
    if (r->items[i] == h) {
      r->items[i] = r->items[--r->count];
      return 1;
    }
  }
  return 0;
}

void win_handed_free(win_handed *r) {
  free(r->items);
  memset(r, 0, sizeof *r);
}

/* --- pairs and adopted ends ----------------------------------------------- */

int32_t backend_pipe_pair(uint64_t *out, int32_t *os_error) {
  WCHAR name[PIPE_NAME_MAX];
  win_pipe_sd sd;
  OVERLAPPED ov;
  HANDLE server, client;
  DWORD e = pipe__unique_name(name);
  if (!e) e = pipe__sd_init(&sd);
  if (e) return error_out((int32_t)e, os_error);
  /* One instance, first of its name: nobody else can serve it. */
  server = CreateNamedPipeW(
      name, PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED |
                FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
          PIPE_REJECT_REMOTE_CLIENTS,
      1, 0, WIN_PIPE_BUFFER, 0, &sd.sa);
  if (server == INVALID_HANDLE_VALUE)
    return error_out((int32_t)GetLastError(), os_error);
  client = CreateFileW(name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                       FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                           SECURITY_IDENTIFICATION,
                       NULL);
  if (client == INVALID_HANDLE_VALUE) {
    e = GetLastError();
    CloseHandle(server);
    return error_out((int32_t)e, os_error);
  }
  /* The client is in, so this says ERROR_PIPE_CONNECTED at once; anything
   * else means someone else got the instance. */
  memset(&ov, 0, sizeof ov);
  if (!ConnectNamedPipe(server, &ov)) {
    e = GetLastError();
    if (e == ERROR_PIPE_CONNECTED) {
      e = 0;
    } else if (e == ERROR_IO_PENDING) {
      DWORD n;
      CancelIoEx(server, &ov);
      GetOverlappedResult(server, &ov, &n, TRUE);
      e = ERROR_PIPE_NOT_CONNECTED;
    }
  }
  if (e) {
    CloseHandle(client);
    CloseHandle(server);
    return error_out((int32_t)e, os_error);
  }
  out[0] = (uint64_t)(uintptr_t)server; /* read end */
  out[1] = (uint64_t)(uintptr_t)client; /* write end */
  return 0;
}

/* 0 when a foreign handle is a pipe the loop can drive, else the failure. */
static int32_t pipe__check_foreign(aio_loop *loop, HANDLE hd) {
  FILE_MODE_INFORMATION mode;
  IO_STATUS_BLOCK iosb;
  NTSTATUS st;
  if (GetFileType(hd) != FILE_TYPE_PIPE) {
    DWORD e = GetLastError();
    return e ? win_fail(loop, e) : loop_fail(loop, AIO_ENOTSUP, 0);
  }
  /* A handle opened without FILE_FLAG_OVERLAPPED would make every
   * "overlapped" call block the loop's thread: refuse it. */
  memset(&mode, 0, sizeof mode);
  st = NtQueryInformationFile(hd, &iosb, &mode, sizeof mode,
                              FileModeInformation);
  if (st < 0) return win_fail(loop, RtlNtStatusToDosError(st));
  if (mode.Mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT))
    return loop_fail(loop, AIO_ENOTSUP, ERROR_INVALID_PARAMETER);
  return 0;
}

int32_t backend_pipe_adopt(aio_loop *loop, uint64_t os_handle, int32_t flags) {
  HANDLE hd = (HANDLE)(uintptr_t)os_handle;
  uint32_t hf = 0;
  win_stream *s;
  int32_t r;
  /* An instance this loop's listener handed out (AIO_F_ACCEPTED) is an
   * overlapped pipe, associated and in skip mode already: no checks. */
  int ours = (flags & AIO_F_ACCEPTED) != 0 && win_handed_take(loop, hd);
  if (!ours && (r = pipe__check_foreign(loop, hd)) < 0) return r;
  if (flags & AIO_F_READABLE) hf |= H_READ_END;
  if (flags & AIO_F_WRITABLE) hf |= H_WRITE_END | H_WRITABLE;
  /* Allocated before the association: a failed adopt leaves the handle
   * as it was, and the caller's (aio.h). */
  s = win_stream_new(loop, KIND_PIPE, hf);
  if (!s) return loop_fail(loop, AIO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY);
  r = ours ? 0 : win_adopt_associate(loop, hd);
  /* An instance from this loop's pipe listener is associated already (a
   * handle can be associated only once); it is in skip mode too. */
  if (!ours && win_handed_take(loop, hd) && r == -AIO_EEXIST) r = 0;
  if (r < 0) {
    handle_destroy(&s->w.base);
    return r;
  }
  s->file = hd;
  return (int32_t)s->w.base.id;
}

static int32_t pipe__listener_close(aio_loop *loop, win_pipe_listener *p);

/* --- named endpoints ------------------------------------------------------ */

static DWORD pipe__instance_new(aio_loop *loop, win_pipe_listener *p,
                                int first) {
  /* PIPE_REJECT_REMOTE_CLIENTS always; FILE_FLAG_FIRST_PIPE_INSTANCE on
   * the first, so that a squatter's instance makes the listen fail
   * (Windows; Wine does not enforce the flag). */
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                    (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                    PIPE_REJECT_REMOTE_CLIENTS;
  HANDLE inst = CreateNamedPipeW(p->name, open_mode, pipe_mode,
                                 PIPE_UNLIMITED_INSTANCES, WIN_PIPE_BUFFER,
                                 WIN_PIPE_BUFFER, 0, &p->sd.sa);
  DWORD e;
  /* Only the first instance's modes are kept: they carry the flag that
   * matters most (FILE_FLAG_FIRST_PIPE_INSTANCE). */
  if (first) {
    p->open_mode = open_mode;
    p->pipe_mode = pipe_mode;
  }
  if (inst == INVALID_HANDLE_VALUE) return GetLastError();
  e = win_associate(loop, inst);
  if (e) {
    CloseHandle(inst);
    return e;
  }
  p->inst = inst;
  return 0;
}

static void pipe__connected(win_pipe_listener *p) {
  /* The instance now belongs to the client's connection: queue it; the
   * next one is created by pipe__listen. */
  p->fifo[(p->fifo_head + p->fifo_count) % WIN_PIPE_ACCEPT_QUEUE] = p->inst;
  p->fifo_count++;
  p->inst = INVALID_HANDLE_VALUE;
}

/* Keeps one instance listening while the listener accepts and its FIFO
 * has room; returns 0 or the error. */
static DWORD pipe__listen_post(aio_loop *loop, win_pipe_listener *p) {
  while (!p->op.posted && p->fifo_count < WIN_PIPE_ACCEPT_QUEUE) {
    DWORD e;
    if (p->inst == INVALID_HANDLE_VALUE) {
      e = pipe__instance_new(loop, p, 0);
      if (e) return e;
    }
    win_op_post(&p->op);
    if (ConnectNamedPipe(p->inst, &p->op.ov)) {
      win_op_unpost(&p->op);
      pipe__connected(p);
      continue;
    }
    e = GetLastError();
    if (e == ERROR_IO_PENDING) return 0;
    win_op_unpost(&p->op);
    if (e == ERROR_PIPE_CONNECTED) {
      /* A client came between create and connect: success, no packet. */
      pipe__connected(p);
    } else if (e == ERROR_NO_DATA) {
      /* A client came and already left: listen again on this one. */
      DisconnectNamedPipe(p->inst);
    } else {
      return e;
    }
  }
  return 0;
}

static void pipe__listen(aio_loop *loop, win_pipe_listener *p) {
  if ((p->w.base.flags & H_READING) && !p->accept_error) {
    DWORD e = pipe__listen_post(loop, p);
    if (e) {
      p->accept_error = error_from_os((int32_t)e);
      p->accept_os_error = (int32_t)e;
    }
  }
  if (p->fifo_count > 0 || p->accept_error) loop_pend(loop, &p->w.base);
}

int32_t backend_pipe_listen(aio_loop *loop, const char *path,
                            int32_t backlog, int32_t flags) {
  WCHAR name[PIPE_NAME_MAX];
  int32_t n = pipe__wide(path, name, PIPE_NAME_MAX);
  win_pipe_listener *p;
  DWORD e;
  AIO_UNUSED(flags);
  /* The JS queue bounds what waits for accept(); natively a paused
   * listener holds at most WIN_PIPE_ACCEPT_QUEUE connected instances and
   * creates no new one, so further clients see ERROR_PIPE_BUSY. */
  AIO_UNUSED(backlog);
  if (n < 0) return loop_fail(loop, (enum aio_error)-n, 0);
  p = (win_pipe_listener *)handle_new(
      loop, sizeof *p + (size_t)n * sizeof(WCHAR), KIND_PIPE_LISTENER);
  if (!p) return loop_fail(loop, AIO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY);
  memcpy(p->name, name, (size_t)n * sizeof(WCHAR));
  p->inst = INVALID_HANDLE_VALUE;
  p->op.type = OP_PIPE_CONNECT;
  p->op.owner = &p->w;
  e = pipe__sd_init(&p->sd);
  if (!e) {
    /* Only "no such pipe" means the name is free. Wine does not enforce
     * FILE_FLAG_FIRST_PIPE_INSTANCE, so there this is the only guard. */
    if (WaitNamedPipeW(p->name, 1))
      e = ERROR_ACCESS_DENIED;
    else if (GetLastError() != ERROR_FILE_NOT_FOUND)
      e = ERROR_ACCESS_DENIED;
    if (!e) e = pipe__instance_new(loop, p, 1);
  }
  if (e) {
    pipe__listener_close(loop, p);
    return loop_fail(loop, win_error_pipe_listen(e), (int32_t)e);
  }
  p->w.base.flags |= H_READING;
  pipe__listen(loop, p);
  if (p->accept_error) {
    enum aio_error code = p->accept_error;
    int32_t os = p->accept_os_error;
    pipe__listener_close(loop, p);
    return loop_fail(loop, code, os);
  }
  return (int32_t)p->w.base.id;
}

static void pipe__listener_complete(aio_loop *loop, win_op *op, DWORD bytes,
                                    DWORD err) {
  win_pipe_listener *p = (win_pipe_listener *)op->owner;
  AIO_UNUSED(bytes);
  if (!err || err == ERROR_PIPE_CONNECTED) {
    pipe__connected(p);
  } else if (err == ERROR_NO_DATA) {
    DisconnectNamedPipe(p->inst); /* came and left: listen again */
  } else if (!win_is_cancel(err)) {
    p->accept_error = error_from_os((int32_t)err);
    p->accept_os_error = (int32_t)err;
  }
  /* A new instance at once, so clients keep finding one. */
  pipe__listen(loop, p);
  loop_pend(loop, &p->w.base);
}

static int pipe__listener_process(aio_loop *loop, aio_handle *h) {
  win_pipe_listener *p = (win_pipe_listener *)h;
  if (p->accept_error) {
    /* Report it and stop accepting until JS resumes, as on epoll. */
    h->flags &= ~(uint32_t)H_READING;
    records_push(loop, h, AIO_REC_ACCEPT_ERROR, -(int32_t)p->accept_error,
                 p->accept_os_error);
    p->accept_error = AIO_OK;
    p->accept_os_error = 0;
    return 0;
  }
  if (!(h->flags & H_READING)) return 0;
  while (p->fifo_count > 0) {
    HANDLE hd = p->fifo[p->fifo_head];
    if (records_room(loop) < RECORD_RESERVE) return 1;
    p->fifo_head = (p->fifo_head + 1) % WIN_PIPE_ACCEPT_QUEUE;
    p->fifo_count--;
    if (win_handed_add(loop, hd) < 0) {
      CloseHandle(hd); /* no memory to remember it: drop this client */
      continue;
    }
    records_push_handle(loop, h, (uint64_t)(uintptr_t)hd);
  }
  pipe__listen(loop, p);
  return 0;
}

static int32_t pipe__listener_read_start(aio_loop *loop, aio_handle *h) {
  win_pipe_listener *p = (win_pipe_listener *)h;
  h->flags |= H_READING;
  pipe__listen(loop, p);
  return 0;
}

static int32_t pipe__listener_close(aio_loop *loop, win_pipe_listener *p) {
  AIO_UNUSED(loop);
  if (p->inst != INVALID_HANDLE_VALUE) {
    /* The pending ConnectNamedPipe completes cancelled; its packet frees
     * the listener if it is the last. */
    if (p->op.posted) CancelIoEx(p->inst, &p->op.ov);
    CloseHandle(p->inst);
    p->inst = INVALID_HANDLE_VALUE;
  }
  while (p->fifo_count > 0) {
    CloseHandle(p->fifo[p->fifo_head]);
    p->fifo_head = (p->fifo_head + 1) % WIN_PIPE_ACCEPT_QUEUE;
    p->fifo_count--;
  }
  handle_release(&p->w.base);
  win_handle_free_if_drained(&p->w);
  return 0;
}

int32_t backend_pipe_connect(aio_loop *loop, const char *path) {
  WCHAR name[PIPE_NAME_MAX];
  int32_t n = pipe__wide(path, name, PIPE_NAME_MAX);
  win_stream *s;
  HANDLE hd;
  DWORD e;
  if (n < 0) return loop_fail(loop, (enum aio_error)-n, 0);
  /* Identification level: the server may learn who we are, never act as
   * us. ERROR_PIPE_BUSY (all instances taken) maps to AIO_EBUSY and JS
   * retries; ERROR_FILE_NOT_FOUND to AIO_ENOENT. */
  hd = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                   FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                       SECURITY_IDENTIFICATION,
                   NULL);
  if (hd == INVALID_HANDLE_VALUE) return win_fail(loop, GetLastError());
  /* ".." in the name could lead out of \\.\pipe\: only a pipe will do. */
  if (GetFileType(hd) != FILE_TYPE_PIPE) {
    CloseHandle(hd);
    return loop_fail(loop, AIO_EINVAL, 0);
  }
  e = win_associate(loop, hd);
  if (e) {
    CloseHandle(hd);
    return win_fail(loop, e);
  }
  s = win_stream_new(loop, KIND_PIPE, H_READ_END | H_WRITE_END | H_WRITABLE);
  if (!s) {
    CloseHandle(hd);
    return loop_fail(loop, AIO_ENOMEM, ERROR_NOT_ENOUGH_MEMORY);
  }
  s->file = hd;
  return (int32_t)s->w.base.id;
}

static int32_t pipe__listener_close_h(aio_loop *loop, aio_handle *h,
                                      int32_t mode) {
  AIO_UNUSED(mode); /* nothing to flush: every mode closes at once */
  return pipe__listener_close(loop, (win_pipe_listener *)h);
}

static int pipe__listener_socket(const aio_handle *h, SOCKET *out) {
  AIO_UNUSED(h);
  *out = INVALID_SOCKET;
  return 0;
}

const win_kind_ops win_pipe_listener_ops = {
    pipe__listener_complete, pipe__listener_process, pipe__listener_close_h,
    pipe__listener_read_start, pipe__listener_socket};

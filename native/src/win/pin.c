/*
 * pin.c - keeps aio.dll mapped for the life of the process.
 *
 * A nonblocking FFI call parks aio_loop_wait on one of Deno's pool threads.
 * When the process ends, Deno may unload the library while such a thread
 * is still returning through the DLL's code (after a wake, or in a wait
 * nobody woke), and that thread then executes unmapped memory: a page
 * fault at exit. No ordering on the JS side can rule that out (the thread
 * leaves the DLL after it has reported its result), so the DLL pins itself
 * when it is loaded; FreeLibrary then leaves it mapped until the process
 * is gone. The Linux build gets the same from -Wl,-z,nodelete.
 */
#include "win.h"

/* Any address inside the DLL names it to GetModuleHandleExW. */
static const char pin__anchor = 0;

BOOL WINAPI DllMain(HINSTANCE self, DWORD reason, LPVOID reserved);

BOOL WINAPI DllMain(HINSTANCE self, DWORD reason, LPVOID reserved) {
  HMODULE pinned;
  (void)self;
  (void)reserved;
  /* A failure to pin is no reason to refuse loading: the library works as
   * before, with the old risk at exit. */
  if (reason == DLL_PROCESS_ATTACH) {
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_PIN |
                           GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       (LPCWSTR)(const void *)&pin__anchor, &pinned);
  }
  return TRUE;
}

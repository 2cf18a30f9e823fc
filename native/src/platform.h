/*
 * platform.h - the only place that knows about compilers.
 *
 * Everything else in native/ is plain C11; an MSVC or clang-cl build only
 * has to change what is below.
 */
#ifndef AIO_PLATFORM_H
#define AIO_PLATFORM_H

#if defined(_WIN32)
#define AIO_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define AIO_EXPORT __attribute__((visibility("default")))
#else
#define AIO_EXPORT
#endif

#define AIO_UNUSED(x) ((void)(x))

/* State-machine checks (docs/DESIGN.md, "Native state machines"): on in
 * the C tests, off in the shipped library, which is built with -DNDEBUG
 * (tools/build.ts). A condition must have no side effect. */
#include <assert.h>
#if defined(NDEBUG)
#define AIO_ASSERT(cond) ((void)0)
#else
#define AIO_ASSERT(cond) assert(cond)
#endif

#endif /* AIO_PLATFORM_H */

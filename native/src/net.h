/*
 * net.h - the socket headers of the OS, and IP address conversions written
 * once for both backends (Winsock and POSIX share sockaddr_in/_in6).
 */
#ifndef AIO_NET_H
#define AIO_NET_H

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "internal.h"

/* Fills ss from a; returns the length to pass to bind/connect. */
int sockaddr_from_aio(const aio_addr *a, struct sockaddr_storage *ss);
/* Fills a from an IPv4/IPv6 sockaddr; -AIO_EAFNOSUPPORT for others. */
int32_t sockaddr_to_aio(const struct sockaddr *sa, aio_addr *a);
/* Appends sa's address (port 0) to out[0..n) unless it is there already
 * or not IP; returns the new count. For resolver results. */
int32_t addrlist_add(aio_addr *out, int32_t n, int32_t cap,
                     const struct sockaddr *sa);

#endif /* AIO_NET_H */

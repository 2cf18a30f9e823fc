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
typedef SOCKET net_socket;
#else
#include <netinet/in.h>
#include <sys/socket.h>
typedef int net_socket;
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

/* The local (which 0) or peer (1) address of a socket, for aio_address;
 * a failure goes to loop_fail. */
int32_t net_address(aio_loop *loop, net_socket s, int32_t which,
                    aio_addr *out);

/* The socket of a TCP stream or listener (Unix domain sockets too on
 * Linux); 0 when h has none (a pipe). One per backend. */
int backend_socket(const aio_handle *h, net_socket *out);

#endif /* AIO_NET_H */

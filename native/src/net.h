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

/* Whether a connected s is connected to itself (its local address and
 * port are its peer's); port is the destination port it connected to. A connect to a port nobody listens on ends that
 * way when the local port is the destination port (TCP simultaneous
 * open): the system chose it (Go checks the same), or the caller did. A
 * listener would have held the port, so the connect reports ECONNREFUSED.
 * Under Wine it is routine once a run used up the odd ephemeral ports:
 * bind(0) gives the lowest free port to a listener, then the same port
 * again to the next ConnectEx socket once the listener closed. */
int net_self_connected(net_socket s, uint16_t port);

/* Whether s is an IPv4 or IPv6 socket (a Unix domain one is not). */
int net_is_ip(net_socket s);
/* SO_RCVBUF (send 0) or SO_SNDBUF (send 1): set when size > 0, then the
 * OS's value. */
int32_t net_buffer_size(aio_loop *loop, net_socket s, int send, int32_t size);
/* Raw getsockopt (returns the length written) and setsockopt. */
int32_t net_sockopt_get(aio_loop *loop, net_socket s, int32_t level,
                        int32_t name, uint8_t *out, int32_t cap);
int32_t net_sockopt_set(aio_loop *loop, net_socket s, int32_t level,
                        int32_t name, const uint8_t *value, int32_t len);
/* Whether an option would make the socket behave as a blocking one. */
int net_sockopt_blocking(int32_t level, int32_t name);

/* The socket of a TCP stream or listener (Unix domain sockets too on
 * Linux); 0 when h has none (a pipe). One per backend. */
int backend_socket(const aio_handle *h, net_socket *out);

#endif /* AIO_NET_H */

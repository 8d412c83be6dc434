/* fdpass.h — one typed message with at most one file descriptor over a
 * SOCK_SEQPACKET Unix socket (SCM_RIGHTS), as the master talks to its
 * children. */
#ifndef XMPPD_LIB_FDPASS_H
#define XMPPD_LIB_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Sends msg (and fd, unless it is -1) as one record, without blocking.
 * XS_OK, XS_AGAIN (the peer's queue is full) or XS_ERROR (errno set). */
int fdpass_send(int sock, const void *msg, size_t len, int fd);

/* Receives one record into buf, without blocking.  *fd is the descriptor it
 * carried (close-on-exec) or -1; any further descriptors are closed, and a
 * truncated control message counts as an error (its descriptors closed).
 * Returns the record's length, 0 when the peer closed, -1 on error (errno:
 * EAGAIN when nothing is there, EPROTO for a truncated record). */
ssize_t fdpass_recv(int sock, void *buf, size_t cap, int *fd);

#endif

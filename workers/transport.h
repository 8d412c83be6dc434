/* transport.h — how a connection's bytes move: plain TCP (tcp.c), TLS
 * (tls.c); next, WebSocket frames or BOSH requests, which wrap one of these.
 *
 * A transport is a table of operations and the state they work on; the
 * connection holds both (struct transport in struct conn) and its fd.
 * Every operation is non-blocking:
 *
 *  - read/write are like read(2)/write(2): >0 bytes, 0 for end of stream
 *    (read), -1 with errno EAGAIN (retry when epoll says so), EINTR, or
 *    another errno for a broken connection.  A read that returns fewer bytes
 *    than asked has emptied the socket as far as it could see;
 *  - pending: bytes (or an end of stream) the transport holds that epoll
 *    cannot see (TLS keeps decrypted records).  After a read, the worker
 *    keeps reading while the read filled its buffer or pending is non-zero;
 *  - handshake: NULL when there is none; else XS_OK once done, XS_AGAIN
 *    (*want_write says for which direction), XS_ERROR.  No application data
 *    moves before it is done;
 *  - shutdown announces the end (a TLS close_notify) if the socket takes it
 *    now; the fd itself is the connection's to close;
 *  - free releases the state (not the fd);
 *  - channel_binding (NULL: none) gives RFC 5929 / RFC 9266 data for SCRAM
 *    -PLUS, malloc'd; describe, a short text for logs. */
#ifndef XMPPD_WORKERS_TRANSPORT_H
#define XMPPD_WORKERS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct transport_ops {
	const char *name;
	ssize_t (*read)(void *state, int fd, void *buf, size_t len);
	ssize_t (*write)(void *state, int fd, const void *buf, size_t len);
	size_t (*pending)(void *state);
	int (*handshake)(void *state, bool *want_write);
	void (*shutdown)(void *state, int fd);
	void (*free)(void *state);
	int (*channel_binding)(void *state, const char *type, uint8_t **out, size_t *len);
	const char *(*describe)(void *state, char *buf, size_t cap);
};

struct transport {
	const struct transport_ops *ops;
	void *state;             /* the implementation's; NULL for plain TCP */
};

/* Plain TCP: no state, no handshake (tcp.c). */
extern const struct transport_ops transport_tcp;

#endif

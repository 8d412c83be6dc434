/* stream.h — what every XML stream protocol writes the same way (RFC 6120
 * §4): its stream header, in the protocol's own namespace, and the stream
 * error that ends it.  The parsing side is xmlstream.h, shared too. */
#ifndef XMPPD_WORKERS_STREAM_H
#define XMPPD_WORKERS_STREAM_H

#include "workers/conn.h"

#include <stdbool.h>

/* Our side of one stream (restarted after STARTTLS and SASL: a new id). */
struct stream_head {
	bool sent;               /* our header went out */
	char id[17];             /* its id: 16 hex digits */
};

/* Writes our stream header with a fresh id: the protocol's namespace as
 * the default one, from='from'. */
void stream_header(struct conn *c, struct stream_head *h, const char *from);
/* Ends the stream with an error (text may be NULL): the header first when
 * none went out yet, then the error, </stream:stream>, and conn_close.
 * Does nothing on a closed connection. */
void stream_error(struct conn *c, struct stream_head *h, const char *from,
                  const char *condition, const char *text);

#endif

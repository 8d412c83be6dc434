/* buf.h — a growable byte buffer with a read offset (output queues, request
 * accumulation).  All sizes are bounded by the caller through `max`. */
#ifndef XMPPD_LIB_BUF_H
#define XMPPD_LIB_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t off;   /* first unread byte */
	size_t len;   /* bytes in use, off <= len */
	size_t cap;
};

/* Ensures room for `extra` more bytes; XS_OK or XS_ERROR (allocation). */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_appendz(struct buf *b, const char *s);
/* Drops n read bytes from the front; frees the storage when empty and big. */
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_pending(const struct buf *b) { return b->len - b->off; }
/* A mark of what is queued now, to drop later what is appended after it
 * (output refused half-way).  It counts unread bytes, not a position: it
 * stays valid when buf_reserve moves them to the front, but not across a
 * buf_consume or buf_free. */
static inline size_t buf_mark(const struct buf *b) { return buf_pending(b); }
/* Drops what was appended since buf_mark returned `mark`. */
void buf_rollback(struct buf *b, size_t mark);
void buf_free(struct buf *b);

#endif

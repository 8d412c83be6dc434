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
void buf_free(struct buf *b);

#endif
